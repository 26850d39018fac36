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
	err := e.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// Same lock order as Trigger: contact, then enrollment.
		var cs []contact.Contact
		if err := tx.Raw(`SELECT c.* FROM contacts c
			WHERE c.shop_id = ? AND c.id = (SELECT contact_id FROM enrollments WHERE shop_id = ? AND id = ?)
			FOR NO KEY UPDATE`, p.ShopID, p.ShopID, p.EnrollmentID).Scan(&cs).Error; err != nil {
			return fmt.Errorf("journey: lock contact: %w", err)
		}
		if len(cs) == 0 {
			return nil // deleted with its contact or shop
		}
		run, err := e.lockStep(tx, p.ShopID, p.EnrollmentID)
		if err != nil || run == nil {
			return err
		}
		en := &run.Enrollment
		if en.Status != StatusActive || en.Step != p.Step || en.NextRunAt == nil || en.NextRunAt.UnixMicro() != p.RunAt {
			return nil // stale: already run, rescheduled or ended
		}
		return e.decide(ctx, tx, &cs[0], run)
	})
	if err != nil {
		return fmt.Errorf("journey: run step %d of enrollment %d: %w", p.Step, p.EnrollmentID, err)
	}
	return nil
}

// stepRun is a locked enrollment with everything a step decision reads,
// fetched by one statement after the contact lock: whether its flow is
// still on, whether an order reached its goal, its message for this step,
// the contact's last send, the shop's settings and time zone.
type stepRun struct {
	Enrollment
	FlowEnabled   bool
	Bought        bool
	MsgID         *int64
	MsgStatus     *string
	LastSendAt    *time.Time
	Zone          string
	HasSettings   bool
	SetCap        *int
	SetQuietStart *string
	SetQuietEnd   *string
	SetReminders  *bool
	SetUsableLife *int
	settings      Settings
	loc           *time.Location
}

func (e *Engine) lockStep(tx *gorm.DB, shopID, id int64) (*stepRun, error) {
	var rows []stepRun
	// FOR NO KEY UPDATE: the message row referencing the enrollment is
	// inserted from another connection while this lock is held.
	err := tx.Raw(`SELECT en.*,
			coalesce((SELECT f.enabled FROM flows f WHERE f.shop_id = en.shop_id AND f.key = en.flow_key), false) AS flow_enabled,
			en.goal_purchase AND EXISTS (SELECT 1 FROM contact_orders o WHERE o.shop_id = en.shop_id AND o.contact_id = en.contact_id
				AND o.ordered_at >= en.trigger_at AND o.order_id <> coalesce(en.order_id, 0)) AS bought,
			m.id AS msg_id, m.status AS msg_status,
			(SELECT max(jm.created_at) FROM journey_messages jm WHERE jm.contact_id = en.contact_id AND jm.status IN ('sending', 'sent')) AS last_send_at,
			coalesce(`+ShopZoneSQL+`, 'UTC') AS zone,
			js.shop_id IS NOT NULL AS has_settings, js.frequency_cap_hours AS set_cap, js.quiet_start AS set_quiet_start,
			js.quiet_end AS set_quiet_end, js.reminders_without_consent AS set_reminders, js.usable_life_days AS set_usable_life
		FROM enrollments en
		LEFT JOIN journey_messages m ON m.enrollment_id = en.id AND m.step = en.step
		LEFT JOIN journey_settings js ON js.shop_id = en.shop_id
		LEFT JOIN shops s ON s.id = en.shop_id
		LEFT JOIN shop_settings ss ON ss.shop_id = en.shop_id
		WHERE en.shop_id = ? AND en.id = ?
		FOR NO KEY UPDATE OF en`, shopID, id).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("journey: lock enrollment %d: %w", id, err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	r := &rows[0]
	r.settings = DefaultSettings()
	if r.HasSettings {
		r.settings = Settings{FrequencyCapHours: deref(r.SetCap), QuietStart: deref(r.SetQuietStart), QuietEnd: deref(r.SetQuietEnd),
			RemindersWithoutConsent: deref(r.SetReminders), UsableLifeDays: deref(r.SetUsableLife)}
	}
	r.loc = e.location(r.Zone)
	return r, nil
}

func (e *Engine) decide(ctx context.Context, tx *gorm.DB, c *contact.Contact, run *stepRun) error {
	now := e.clock.Now()
	en := &run.Enrollment
	f, err := e.flows.Version(ctx, en.ShopID, en.FlowKey, en.FlowVersion)
	if err != nil {
		return err
	}
	branch := f.BranchByKey(en.Branch)
	if branch == nil || en.Step >= len(branch.Steps) {
		return e.exit(tx, en, ReasonFlowChanged)
	}
	step := branch.Steps[en.Step]

	if !run.FlowEnabled {
		return e.exit(tx, en, ReasonDisabled)
	}
	if run.Bought {
		return e.exit(tx, en, ReasonPurchased)
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

	settings, loc := run.settings, run.loc
	var existing *messageRow
	if run.MsgID != nil {
		existing = &messageRow{ID: *run.MsgID, Status: deref(run.MsgStatus)}
	}
	if existing == nil {
		// A plain reminder may go without marketing consent when the shop
		// allows it; anything else needs consent.
		reminder := step.Class == flow.Transactional && !step.Offer && settings.RemindersWithoutConsent
		if c.Consent != contact.Subscribed && !reminder {
			return e.advance(ctx, tx, c, en, f, branch, loc, outcome{decision: DecisionSkipped, reason: ReasonNoConsent})
		}
		if step.Class != flow.Transactional && settings.FrequencyCapHours > 0 && run.LastSendAt != nil {
			capEnd := run.LastSendAt.Add(e.scale(time.Duration(settings.FrequencyCapHours) * time.Hour))
			if now.Before(capEnd) {
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

func (e *Engine) deferTo(tx *gorm.DB, en *Enrollment, until time.Time, reason string) error {
	until = until.UTC().Truncate(time.Microsecond)
	err := tx.Exec(`WITH dec AS (
			INSERT INTO journey_decisions (shop_id, enrollment_id, contact_id, step, decision, reason, until, at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?))
		UPDATE enrollments SET next_run_at = ?, enqueued_for = NULL, updated_at = now() WHERE id = ?`,
		en.ShopID, en.ID, en.ContactID, en.Step, DecisionDeferred, reason, until, e.clock.Now(), until, en.ID).Error
	if err != nil {
		return fmt.Errorf("journey: defer enrollment %d: %w", en.ID, err)
	}
	return nil
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

func (e *Engine) send(ctx context.Context, tx *gorm.DB, c *contact.Contact, en *Enrollment, f *flow.Flow, branch *flow.Branch,
	step flow.Step, msg *messageRow, loc *time.Location) error {
	now := e.clock.Now()
	if msg != nil && msg.Status != "sending" {
		// Sent (or failed) by a run that crashed before moving on.
		return e.advance(ctx, tx, c, en, f, branch, loc, outcome{})
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
		return e.advance(ctx, tx, c, en, f, branch, loc,
			outcome{decision: DecisionFailed, reason: err.Error(), msgID: &msg.ID, msgStatus: "failed"})
	}
	return e.advance(ctx, tx, c, en, f, branch, loc, outcome{decision: DecisionSent, msgID: &msg.ID, msgStatus: "sent"})
}

// outcome is what a step run records as it moves the enrollment on: its
// decision (none when a crashed run already recorded it) and the final
// status of its message, if any.
type outcome struct {
	decision, reason string
	msgID            *int64
	msgStatus        string // "sent" or "failed"
}

// advance records the step's outcome and moves to the next step, or
// completes the enrollment and runs what follows it (nurturing after
// welcome, sunset suppression). The outcome, the message status and the
// move are one statement.
func (e *Engine) advance(ctx context.Context, tx *gorm.DB, c *contact.Contact, en *Enrollment, f *flow.Flow, branch *flow.Branch,
	loc *time.Location, o outcome) error {
	now := e.clock.Now()
	next := en.Step + 1
	status, endedAt := StatusActive, (*time.Time)(nil)
	if next < len(branch.Steps) {
		e.schedule(en, branch.Steps[next], now, loc, 0, en.fulfilledAt())
	} else {
		status, endedAt, en.NextRunAt = StatusCompleted, &now, nil
	}
	err := tx.Exec(`WITH msg AS (
			UPDATE journey_messages SET status = ?, sent_at = CASE WHEN ? = 'sent' THEN ?::timestamptz ELSE sent_at END,
				error = CASE WHEN ? = 'failed' THEN ? ELSE error END
			WHERE id = ? AND ? <> ''),
		dec AS (
			INSERT INTO journey_decisions (shop_id, enrollment_id, contact_id, step, decision, reason, message_id, at)
			SELECT ?::bigint, ?::bigint, ?::bigint, ?::integer, ?::text, ?::text, ?::bigint, ?::timestamptz WHERE ? <> '')
		UPDATE enrollments SET step = ?, status = ?, next_run_at = ?, waiting_for = ?, enqueued_for = NULL, ended_at = ?, updated_at = now()
		WHERE id = ?`,
		o.msgStatus, o.msgStatus, now, o.msgStatus, o.reason, o.msgID, o.msgStatus,
		en.ShopID, en.ID, en.ContactID, en.Step, o.decision, o.reason, o.msgID, now, o.decision,
		next, status, en.NextRunAt, en.WaitingFor, endedAt, en.ID).Error
	if err != nil {
		return fmt.Errorf("journey: advance enrollment %d: %w", en.ID, err)
	}
	if status == StatusActive || f.Goal != flow.GoalPurchase {
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
		// Entered only while switched on; apply re-reads the contact.
		_, err := e.apply(ctx, tx, []Event{{ShopID: en.ShopID, ContactID: c.ID, Trigger: flow.WelcomeEnded, At: now}}, f.Then)
		return err
	}
	return nil
}
