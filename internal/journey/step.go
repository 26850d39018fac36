package journey

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"gorm.io/gorm"

	"github.com/relance/relance/internal/contact"
	"github.com/relance/relance/internal/flow"
)

// TypeRunStep is the asynq task that runs one due step of one enrollment.
const TypeRunStep = "journey:run_step"

// RunStepPayload names the step and the due time the pump saw; a task whose
// step or due time no longer matches the row is stale and does nothing.
type RunStepPayload struct {
	ShopID       int64 `json:"shop_id"`
	EnrollmentID int64 `json:"enrollment_id"`
	Step         int   `json:"step"`
	RunAt        int64 `json:"run_at"` // next_run_at, Unix microseconds
}

// NewRunStepTask builds the task for one step.
func NewRunStepTask(p RunStepPayload) (*asynq.Task, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("journey: encode step task: %w", err)
	}
	return asynq.NewTask(TypeRunStep, b), nil
}

// taskID is deterministic per (enrollment, step, due time): the pump may
// offer the same step many times, asynq keeps one; a deferred step gets a
// new due time and so a new task.
func (p RunStepPayload) taskID() string {
	return fmt.Sprintf("journey:%d:%d:%d", p.EnrollmentID, p.Step, p.RunAt)
}

// HandleRunStep is the asynq handler of TypeRunStep.
func (e *Engine) HandleRunStep(ctx context.Context, t *asynq.Task) error {
	var p RunStepPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil || p.EnrollmentID == 0 || p.ShopID == 0 {
		return fmt.Errorf("journey: decode step task %q: %v: %w", t.Payload(), err, asynq.SkipRetry)
	}
	return e.RunStep(ctx, p)
}

// RunStep locks the enrollment and its contact, re-checks everything in the
// database, records the decision and, when the email may go, sends it at
// most once: the message row (unique per enrollment and step) is committed
// before the Sender is called, and a retry re-sends that same message id.
func (e *Engine) RunStep(ctx context.Context, p RunStepPayload) error {
	var contactIDs []int64
	if err := e.db.WithContext(ctx).Raw(`SELECT contact_id FROM enrollments WHERE shop_id = ? AND id = ?`, p.ShopID, p.EnrollmentID).
		Scan(&contactIDs).Error; err != nil {
		return fmt.Errorf("journey: run step of %d: %w", p.EnrollmentID, err)
	}
	if len(contactIDs) == 0 {
		return nil // deleted with its contact or shop
	}
	err := e.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// Same lock order as Trigger: contact, then enrollment.
		c, err := e.contacts.WithTx(tx).Lock(ctx, p.ShopID, contactIDs[0])
		if errors.Is(err, contact.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		en, err := lockEnrollment(tx, p.ShopID, p.EnrollmentID)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if en.Status != StatusActive || en.Step != p.Step || en.NextRunAt == nil || en.NextRunAt.UnixMicro() != p.RunAt {
			return nil // stale: already run, rescheduled or ended
		}
		return e.decide(ctx, tx, c, en)
	})
	if err != nil {
		return fmt.Errorf("journey: run step %d of enrollment %d: %w", p.Step, p.EnrollmentID, err)
	}
	return nil
}

func (e *Engine) decide(ctx context.Context, tx *gorm.DB, c *contact.Contact, en *Enrollment) error {
	now := e.clock.Now()
	f, err := e.flows.Version(ctx, en.ShopID, en.FlowKey, en.FlowVersion)
	if err != nil {
		return err
	}
	branch := f.BranchByKey(en.Branch)
	if branch == nil || en.Step >= len(branch.Steps) {
		return e.exit(tx, en, ReasonFlowChanged)
	}
	step := branch.Steps[en.Step]

	enabled, err := e.flows.IsEnabled(ctx, en.ShopID, en.FlowKey)
	if err != nil {
		return err
	}
	if !enabled {
		return e.exit(tx, en, ReasonDisabled)
	}
	if en.GoalPurchase {
		bought, err := e.contacts.WithTx(tx).OrderedSince(ctx, en.ShopID, c.ID, en.TriggerAt, en.orderID())
		if err != nil {
			return err
		}
		if bought {
			return e.exit(tx, en, ReasonPurchased)
		}
	}
	if engaged, err := e.sunsetEngaged(tx, en, branch, c.LastOpenAt, c.LastClickAt); engaged || err != nil {
		return err
	}
	switch {
	case c.SuppressedAt != nil:
		return e.exit(tx, en, ReasonSuppressed)
	case c.Consent == contact.Unsubscribed:
		return e.exit(tx, en, ReasonUnsubscribed)
	case c.Email == nil:
		return e.exit(tx, en, ReasonNoEmail)
	}

	settings, err := e.settings(tx, en.ShopID)
	if err != nil {
		return err
	}
	loc, err := e.shopZone(tx, en.ShopID)
	if err != nil {
		return err
	}
	existing, err := e.message(tx, en)
	if err != nil {
		return err
	}
	if existing == nil {
		// A plain reminder may go without marketing consent when the shop
		// allows it; anything else needs consent.
		reminder := step.Class == flow.Transactional && !step.Offer && settings.RemindersWithoutConsent
		if c.Consent != contact.Subscribed && !reminder {
			if err := e.recordDecision(tx, en, en.Step, DecisionSkipped, ReasonNoConsent, nil, nil); err != nil {
				return err
			}
			return e.advance(ctx, tx, c, en, f, branch, loc)
		}
		if step.Class != flow.Transactional && settings.FrequencyCapHours > 0 {
			last, err := e.lastSend(tx, c.ID)
			if err != nil {
				return err
			}
			capEnd := last.Add(e.scale(time.Duration(settings.FrequencyCapHours) * time.Hour))
			if last != (time.Time{}) && now.Before(capEnd) {
				return e.deferTo(tx, en, capEnd, ReasonFrequencyCap)
			}
		}
		if until, quiet := e.quietUntil(now, loc, settings); quiet {
			return e.deferTo(tx, en, until, ReasonQuietHours)
		}
	}
	return e.send(ctx, tx, c, en, f, branch, step, existing, loc)
}

// quietUntil reports whether now falls in the shop's quiet hours and when
// they end. Under TIME_SCALE clock times are meaningless: no quiet hours.
func (e *Engine) quietUntil(now time.Time, loc *time.Location, s Settings) (time.Time, bool) {
	if e.scaled() || s.QuietStart == s.QuietEnd {
		return time.Time{}, false
	}
	start, okS := minutes(s.QuietStart)
	end, okE := minutes(s.QuietEnd)
	if !okS || !okE {
		return time.Time{}, false
	}
	local := now.In(loc)
	cur := local.Hour()*60 + local.Minute()
	var in bool
	if start < end {
		in = cur >= start && cur < end
	} else { // spans midnight, e.g. 21:00–08:00
		in = cur >= start || cur < end
	}
	if !in {
		return time.Time{}, false
	}
	until := time.Date(local.Year(), local.Month(), local.Day(), end/60, end%60, 0, 0, loc)
	if !until.After(now) {
		until = time.Date(local.Year(), local.Month(), local.Day()+1, end/60, end%60, 0, 0, loc)
	}
	return until, true
}

func minutes(hhmm string) (int, bool) {
	var h, m int
	if _, err := fmt.Sscanf(hhmm, "%d:%d", &h, &m); err != nil || h < 0 || h > 23 || m < 0 || m > 59 {
		return 0, false
	}
	return h*60 + m, true
}

// lastSend is when the contact was last emailed by any flow (zero if never).
func (e *Engine) lastSend(tx *gorm.DB, contactID int64) (time.Time, error) {
	var last []struct{ Last *time.Time }
	if err := tx.Raw(`SELECT max(created_at) AS last FROM journey_messages WHERE contact_id = ? AND status IN ('sending', 'sent')`,
		contactID).Scan(&last).Error; err != nil {
		return time.Time{}, fmt.Errorf("journey: last send to %d: %w", contactID, err)
	}
	if len(last) == 0 || last[0].Last == nil {
		return time.Time{}, nil
	}
	return *last[0].Last, nil
}

func (e *Engine) deferTo(tx *gorm.DB, en *Enrollment, until time.Time, reason string) error {
	until = until.UTC().Truncate(time.Microsecond)
	if err := tx.Model(&Enrollment{}).Where("id = ?", en.ID).
		Updates(map[string]any{"next_run_at": until, "enqueued_for": nil, "updated_at": gorm.Expr("now()")}).Error; err != nil {
		return fmt.Errorf("journey: defer enrollment %d: %w", en.ID, err)
	}
	return e.recordDecision(tx, en, en.Step, DecisionDeferred, reason, &until, nil)
}

func (e *Engine) exit(tx *gorm.DB, en *Enrollment, reason string) error {
	// A message left "sending" by a crashed run will not be retried now.
	if err := tx.Exec(`UPDATE journey_messages SET status = 'cancelled' WHERE enrollment_id = ? AND step = ? AND status = 'sending'`,
		en.ID, en.Step).Error; err != nil {
		return fmt.Errorf("journey: cancel message of enrollment %d: %w", en.ID, err)
	}
	_, err := e.exitWhere(tx, en.ShopID, reason, "id = ?", en.ID)
	return err
}

type messageRow struct {
	ID     int64
	Status string
}

func (e *Engine) message(tx *gorm.DB, en *Enrollment) (*messageRow, error) {
	var rows []messageRow
	if err := tx.Raw(`SELECT id, status FROM journey_messages WHERE enrollment_id = ? AND step = ?`, en.ID, en.Step).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("journey: read message of enrollment %d: %w", en.ID, err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	return &rows[0], nil
}

func (e *Engine) send(ctx context.Context, tx *gorm.DB, c *contact.Contact, en *Enrollment, f *flow.Flow, branch *flow.Branch,
	step flow.Step, msg *messageRow, loc *time.Location) error {
	now := e.clock.Now()
	if msg != nil && msg.Status != "sending" {
		// Sent (or failed) by a run that crashed before moving on.
		return e.advance(ctx, tx, c, en, f, branch, loc)
	}
	if msg == nil {
		// Committed on its own connection before the Sender is called, so a
		// crash after the send cannot lose the row that says it happened.
		var ids []int64
		err := e.db.WithContext(ctx).Raw(`INSERT INTO journey_messages (shop_id, contact_id, enrollment_id, step, step_key, flow_key, flow_version,
				template, class, offer, to_email, status, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'sending', ?)
			ON CONFLICT (enrollment_id, step) DO NOTHING RETURNING id`,
			en.ShopID, c.ID, en.ID, en.Step, step.Key, en.FlowKey, en.FlowVersion, step.Template, step.Class, step.Offer,
			c.EmailAddress(), now).Scan(&ids).Error
		if err != nil {
			return fmt.Errorf("journey: insert message for enrollment %d: %w", en.ID, err)
		}
		if len(ids) == 0 { // cannot happen while we hold the enrollment lock
			return fmt.Errorf("journey: message for enrollment %d step %d already exists", en.ID, en.Step)
		}
		msg = &messageRow{ID: ids[0], Status: "sending"}
	}
	m := Message{
		ID: msg.ID, ShopID: en.ShopID, ContactID: c.ID, EnrollmentID: en.ID, To: c.EmailAddress(), FirstName: c.FirstName,
		Locale: c.Locale, Flow: en.FlowKey, FlowVersion: en.FlowVersion, Step: step.Key, Template: step.Template,
		Class: step.Class, Offer: step.Offer, Context: en.contextMap(),
	}
	if err := e.sender.Send(ctx, m); err != nil {
		if !errors.Is(err, ErrUndeliverable) {
			return fmt.Errorf("journey: send message %d: %w", msg.ID, err) // retried with the same message id
		}
		if err := tx.Exec(`UPDATE journey_messages SET status = 'failed', error = ? WHERE id = ?`, err.Error(), msg.ID).Error; err != nil {
			return fmt.Errorf("journey: mark message %d failed: %w", msg.ID, err)
		}
		if err := e.recordDecision(tx, en, en.Step, DecisionFailed, err.Error(), nil, &msg.ID); err != nil {
			return err
		}
		return e.advance(ctx, tx, c, en, f, branch, loc)
	}
	if err := tx.Exec(`UPDATE journey_messages SET status = 'sent', sent_at = ? WHERE id = ?`, now, msg.ID).Error; err != nil {
		return fmt.Errorf("journey: mark message %d sent: %w", msg.ID, err)
	}
	if err := e.recordDecision(tx, en, en.Step, DecisionSent, "", nil, &msg.ID); err != nil {
		return err
	}
	return e.advance(ctx, tx, c, en, f, branch, loc)
}

// advance moves to the next step, or completes the enrollment and runs what
// follows it (nurturing after welcome, sunset suppression).
func (e *Engine) advance(ctx context.Context, tx *gorm.DB, c *contact.Contact, en *Enrollment, f *flow.Flow, branch *flow.Branch, loc *time.Location) error {
	now := e.clock.Now()
	next := en.Step + 1
	if next < len(branch.Steps) {
		var fulfilled *time.Time
		if v, ok := en.contextMap()["fulfilled_at"]; ok {
			if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
				fulfilled = &t
			}
		}
		e.schedule(en, branch.Steps[next], now, loc, 0, fulfilled)
		err := tx.Model(&Enrollment{}).Where("id = ?", en.ID).Updates(map[string]any{
			"step": next, "next_run_at": en.NextRunAt, "waiting_for": en.WaitingFor, "enqueued_for": nil, "updated_at": gorm.Expr("now()"),
		}).Error
		if err != nil {
			return fmt.Errorf("journey: advance enrollment %d: %w", en.ID, err)
		}
		return nil
	}
	err := tx.Model(&Enrollment{}).Where("id = ?", en.ID).Updates(map[string]any{
		"step": next, "status": StatusCompleted, "next_run_at": nil, "ended_at": now, "updated_at": gorm.Expr("now()"),
	}).Error
	if err != nil {
		return fmt.Errorf("journey: complete enrollment %d: %w", en.ID, err)
	}
	if f.Goal != flow.GoalPurchase {
		return nil
	}
	bought, err := e.contacts.WithTx(tx).OrderedSince(ctx, en.ShopID, c.ID, en.TriggerAt, en.orderID())
	if err != nil || bought {
		return err
	}
	if branch.Sunset && !engagedSince(c.LastOpenAt, c.LastClickAt, en.TriggerAt) {
		if err := e.contacts.WithTx(tx).Suppress(ctx, en.ShopID, c.ID, "sunset", now); err != nil {
			return err
		}
	}
	if f.Then != "" {
		enabled, err := e.flows.IsEnabled(ctx, en.ShopID, f.Then)
		if err != nil || !enabled {
			return err
		}
		next, _, err := e.flows.Current(ctx, en.ShopID, f.Then)
		if err != nil {
			return err
		}
		if c, err = e.contacts.WithTx(tx).Get(ctx, en.ShopID, c.ID); err != nil {
			return err
		}
		return e.enroll(ctx, tx, c, next, Event{ShopID: en.ShopID, ContactID: c.ID, Trigger: flow.WelcomeEnded, At: now})
	}
	return nil
}
