package journey

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
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

// HandleRunStep is the asynq handler of TypeRunStep. Step tasks handled at
// the same moment by the worker's goroutines are run together (see
// stepBatcher): one transaction and one message insert for the lot.
func (e *Engine) HandleRunStep(ctx context.Context, t *asynq.Task) error {
	var p RunStepPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil || p.EnrollmentID == 0 || p.ShopID == 0 {
		return fmt.Errorf("journey: decode step task %q: %v: %w", t.Payload(), err, asynq.SkipRetry)
	}
	if e.batcher == nil {
		return e.RunStep(ctx, p)
	}
	return e.batcher.run(ctx, p)
}

// RunStep runs one due step: RunSteps with a single step.
func (e *Engine) RunStep(ctx context.Context, p RunStepPayload) error {
	return e.RunSteps(ctx, []RunStepPayload{p})[0]
}

// RunSteps runs due steps together and returns each one's result (a step
// whose Sender call failed and must be retried has an error; the others
// are unaffected). One transaction locks the steps' contacts, then their
// enrollments, in id order (the order Trigger and TriggerBatch use),
// re-checks everything in the database and records each decision; the
// message rows of the steps that may send (unique per enrollment and step)
// are inserted with one statement and committed before the Sender is
// called, so a crash after a send cannot send twice: a retry re-sends the
// same message id. If the batch fails as a whole, its steps run again one
// by one, so one bad step fails alone.
func (e *Engine) RunSteps(ctx context.Context, ps []RunStepPayload) []error {
	errs, err := e.runSteps(ctx, ps)
	if err != nil && len(ps) > 1 {
		errs = make([]error, len(ps))
		for i, p := range ps {
			errs[i] = e.RunStep(ctx, p)
		}
		return errs
	}
	for i, p := range ps {
		if err != nil {
			errs[i] = err
		}
		if errs[i] != nil {
			errs[i] = fmt.Errorf("journey: run step %d of enrollment %d: %w", p.Step, p.EnrollmentID, errs[i])
		}
	}
	return errs
}

// runSteps runs ps in one transaction, in rounds: a round holds at most one
// step per contact, so that a contact's second step in the batch (or a
// duplicate task) is decided after the first was sent and recorded, exactly
// as if they had run one after the other (frequency cap, stale task).
func (e *Engine) runSteps(ctx context.Context, ps []RunStepPayload) ([]error, error) {
	errs := make([]error, len(ps))
	err := e.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// The array parameters would otherwise make PostgreSQL plan the
		// batch's statements at every execution (see genericPlans).
		if err := genericPlans(tx); err != nil {
			return err
		}
		pending := make([]int, len(ps))
		for i := range ps {
			pending[i] = i
		}
		for len(pending) > 0 {
			contacts, err := lockStepContacts(tx, ps, pending)
			if err != nil {
				return err
			}
			runs, err := e.lockSteps(tx, ps, pending)
			if err != nil {
				return err
			}
			var plans []*sendPlan
			var later []int
			seen := map[int64]bool{}
			for _, i := range pending {
				p := ps[i]
				run, c := runs[p.EnrollmentID], (*contact.Contact)(nil)
				if run != nil && run.ShopID == p.ShopID {
					c = contacts[run.ContactID]
				}
				if run == nil || c == nil {
					continue // deleted with its contact or shop
				}
				if seen[c.ID] {
					later = append(later, i)
					continue
				}
				seen[c.ID] = true
				en := &run.Enrollment
				if en.Status != StatusActive || en.Step != p.Step || en.NextRunAt == nil || en.NextRunAt.UnixMicro() != p.RunAt {
					continue // stale: already run, rescheduled or ended
				}
				plan, err := e.decide(ctx, tx, c, run)
				if err != nil {
					return err
				}
				if plan != nil {
					plan.i = i
					plans = append(plans, plan)
				}
			}
			if err := e.sendAll(ctx, tx, plans); err != nil {
				return err
			}
			for _, p := range plans {
				errs[p.i] = p.retry
			}
			pending = later
		}
		return nil
	})
	return errs, err
}

// lockStepContacts locks the contacts of the steps ps[idx], by shop then id.
func lockStepContacts(tx *gorm.DB, ps []RunStepPayload, idx []int) (map[int64]*contact.Contact, error) {
	shops, ids := stepKeys(ps, idx)
	var cs []contact.Contact
	if err := tx.Raw(`SELECT c.* FROM contacts c
		WHERE (c.shop_id, c.id) IN (SELECT en.shop_id, en.contact_id FROM unnest(?::bigint[], ?::bigint[]) AS k(shop_id, id)
			JOIN enrollments en ON en.shop_id = k.shop_id AND en.id = k.id)
		ORDER BY c.shop_id, c.id
		FOR NO KEY UPDATE OF c`, shops, ids).Scan(&cs).Error; err != nil {
		return nil, fmt.Errorf("journey: lock contacts of %d steps: %w", len(idx), err)
	}
	out := make(map[int64]*contact.Contact, len(cs))
	for i := range cs {
		out[cs[i].ID] = &cs[i]
	}
	return out, nil
}

// stepKeys are the (shop, enrollment) pairs of ps[idx] as two array literals.
func stepKeys(ps []RunStepPayload, idx []int) (shops, ids string) {
	s, n := make([]int64, len(idx)), make([]int64, len(idx))
	for j, i := range idx {
		s[j], n[j] = ps[i].ShopID, ps[i].EnrollmentID
	}
	return int64Array(s), int64Array(n)
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

// lockSteps locks the enrollments of the steps ps[idx], in id order, with
// everything a step decision reads, by one statement after the contact
// locks.
func (e *Engine) lockSteps(tx *gorm.DB, ps []RunStepPayload, idx []int) (map[int64]*stepRun, error) {
	shops, ids := stepKeys(ps, idx)
	var rows []stepRun
	// FOR NO KEY UPDATE: the message rows referencing the enrollments are
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
		WHERE (en.shop_id, en.id) IN (SELECT * FROM unnest(?::bigint[], ?::bigint[]))
		ORDER BY en.id
		FOR NO KEY UPDATE OF en`, shops, ids).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("journey: lock %d enrollments: %w", len(idx), err)
	}
	out := make(map[int64]*stepRun, len(rows))
	for i := range rows {
		r := &rows[i]
		r.settings = DefaultSettings()
		if r.HasSettings {
			r.settings = Settings{FrequencyCapHours: deref(r.SetCap), QuietStart: deref(r.SetQuietStart), QuietEnd: deref(r.SetQuietEnd),
				RemindersWithoutConsent: deref(r.SetReminders), UsableLifeDays: deref(r.SetUsableLife)}
		}
		r.loc = e.location(r.Zone)
		out[r.ID] = r
	}
	return out, nil
}

// decide takes a locked step's decision. Exits, skips and deferrals are
// recorded in tx at once; a step whose email may go is returned as a
// sendPlan for sendAll.
func (e *Engine) decide(ctx context.Context, tx *gorm.DB, c *contact.Contact, run *stepRun) (*sendPlan, error) {
	now := e.clock.Now()
	en := &run.Enrollment
	f, err := e.flows.Version(ctx, en.ShopID, en.FlowKey, en.FlowVersion)
	if err != nil {
		return nil, err
	}
	branch := f.BranchByKey(en.Branch)
	if branch == nil || en.Step >= len(branch.Steps) {
		return nil, e.exit(tx, en, ReasonFlowChanged)
	}
	step := branch.Steps[en.Step]

	if !run.FlowEnabled {
		return nil, e.exit(tx, en, ReasonDisabled)
	}
	if run.Bought {
		return nil, e.exit(tx, en, ReasonPurchased)
	}
	if engaged, err := e.sunsetEngaged(tx, en, branch, c.LastOpenAt, c.LastClickAt); engaged || err != nil {
		return nil, err
	}
	switch {
	case c.SuppressedAt != nil:
		return nil, e.exit(tx, en, ReasonSuppressed)
	case c.Consent == contact.Unsubscribed:
		return nil, e.exit(tx, en, ReasonUnsubscribed)
	case c.Email == nil:
		return nil, e.exit(tx, en, ReasonNoEmail)
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
			return nil, e.advance(ctx, tx, c, en, f, branch, loc, outcome{decision: DecisionSkipped, reason: ReasonNoConsent})
		}
		if step.Class != flow.Transactional && settings.FrequencyCapHours > 0 && run.LastSendAt != nil {
			capEnd := run.LastSendAt.Add(e.scale(time.Duration(settings.FrequencyCapHours) * time.Hour))
			if now.Before(capEnd) {
				return nil, e.deferTo(tx, en, capEnd, ReasonFrequencyCap)
			}
		}
		if until, quiet := e.quietUntil(now, loc, settings); quiet {
			return nil, e.deferTo(tx, en, until, ReasonQuietHours)
		}
	}
	if existing != nil && existing.Status != "sending" {
		// Sent (or failed) by a run that crashed before moving on.
		return nil, e.advance(ctx, tx, c, en, f, branch, loc, outcome{})
	}
	return &sendPlan{c: c, run: run, f: f, branch: branch, step: step, msg: existing}, nil
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

// sendPlan is a step whose email may go: its locked enrollment and contact,
// its message row (nil until inserted) and, after the Sender, the error to
// retry the step with (nil once recorded).
type sendPlan struct {
	i      int // index of the step in the batch
	c      *contact.Contact
	run    *stepRun
	f      *flow.Flow
	branch *flow.Branch
	step   flow.Step
	msg    *messageRow
	sent   error // the Sender's answer
	retry  error
}

func (p *sendPlan) message() Message {
	en, c := &p.run.Enrollment, p.c
	return Message{
		ID: p.msg.ID, ShopID: en.ShopID, ContactID: c.ID, EnrollmentID: en.ID, To: c.EmailAddress(), FirstName: c.FirstName,
		Locale: c.Locale, Flow: en.FlowKey, FlowVersion: en.FlowVersion, Step: p.step.Key, Template: p.step.Template,
		Class: p.step.Class, Offer: p.step.Offer, Context: en.contextMap(),
	}
}

// sendAll sends the planned emails and records each outcome in tx: the
// missing message rows are inserted with one statement on their own
// connection (committed before any Sender call), the Sender is called for
// all of them at once, then the steps move on with one statement. A step whose Sender call
// failed (not for good) keeps its message row and its enrollment as they
// are, and its plan's retry is set: its task is retried with the same
// message id, the others are not affected.
func (e *Engine) sendAll(ctx context.Context, tx *gorm.DB, plans []*sendPlan) error {
	if len(plans) == 0 {
		return nil
	}
	if err := e.insertMessages(ctx, plans); err != nil {
		return err
	}
	var wg sync.WaitGroup
	for _, p := range plans {
		wg.Go(func() { p.sent = e.sender.Send(ctx, p.message()) })
	}
	wg.Wait()
	var rows []advanceRow
	for _, p := range plans {
		o := outcome{decision: DecisionSent, msgID: &p.msg.ID, msgStatus: "sent"}
		if p.sent != nil {
			if !errors.Is(p.sent, ErrUndeliverable) {
				p.retry = fmt.Errorf("journey: send message %d: %w", p.msg.ID, p.sent) // retried with the same message id
				continue
			}
			o = outcome{decision: DecisionFailed, reason: p.sent.Error(), msgID: &p.msg.ID, msgStatus: "failed"}
		}
		rows = append(rows, advanceRow{c: p.c, en: &p.run.Enrollment, f: p.f, branch: p.branch, loc: p.run.loc, o: o})
	}
	return e.advanceAll(ctx, tx, rows)
}

// messageInsert is one row of insertMessages.
type messageInsert struct {
	ShopID       int64      `json:"shop_id"`
	ContactID    int64      `json:"contact_id"`
	EnrollmentID int64      `json:"enrollment_id"`
	Step         int        `json:"step"`
	StepKey      string     `json:"step_key"`
	FlowKey      flow.Key   `json:"flow_key"`
	FlowVersion  int        `json:"flow_version"`
	Template     string     `json:"template"`
	Class        flow.Class `json:"class"`
	Offer        bool       `json:"offer"`
	ToEmail      string     `json:"to_email"`
}

// insertMessages inserts the message rows the plans lack, with one
// statement committed on its own connection.
func (e *Engine) insertMessages(ctx context.Context, plans []*sendPlan) error {
	var rows []messageInsert
	for _, p := range plans {
		if p.msg == nil {
			en := &p.run.Enrollment
			rows = append(rows, messageInsert{ShopID: en.ShopID, ContactID: p.c.ID, EnrollmentID: en.ID, Step: en.Step, StepKey: p.step.Key,
				FlowKey: en.FlowKey, FlowVersion: en.FlowVersion, Template: p.step.Template, Class: p.step.Class, Offer: p.step.Offer,
				ToEmail: p.c.EmailAddress()})
		}
	}
	if len(rows) == 0 {
		return nil
	}
	b, err := json.Marshal(rows)
	if err != nil {
		return fmt.Errorf("journey: encode %d messages: %w", len(rows), err)
	}
	var ids []struct{ ID, EnrollmentID int64 }
	err = e.db.WithContext(ctx).Raw(`INSERT INTO journey_messages (shop_id, contact_id, enrollment_id, step, step_key, flow_key, flow_version,
			template, class, offer, to_email, status, created_at)
		SELECT shop_id, contact_id, enrollment_id, step, step_key, flow_key, flow_version, template, class, offer, to_email, 'sending', ?
		FROM jsonb_to_recordset(?::jsonb) AS v(shop_id bigint, contact_id bigint, enrollment_id bigint, step integer, step_key text,
			flow_key text, flow_version integer, template text, class text, offer boolean, to_email text)
		ON CONFLICT (enrollment_id, step) DO NOTHING RETURNING id, enrollment_id`, e.clock.Now(), string(b)).Scan(&ids).Error
	if err != nil {
		return fmt.Errorf("journey: insert %d messages: %w", len(rows), err)
	}
	byEnrollment := make(map[int64]int64, len(ids))
	for _, r := range ids {
		byEnrollment[r.EnrollmentID] = r.ID
	}
	for _, p := range plans {
		if p.msg != nil {
			continue
		}
		id, ok := byEnrollment[p.run.ID]
		if !ok { // cannot happen while we hold the enrollment lock
			return fmt.Errorf("journey: message for enrollment %d step %d already exists", p.run.ID, p.run.Step)
		}
		p.msg = &messageRow{ID: id, Status: "sending"}
	}
	return nil
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
// welcome, sunset suppression).
func (e *Engine) advance(ctx context.Context, tx *gorm.DB, c *contact.Contact, en *Enrollment, f *flow.Flow, branch *flow.Branch,
	loc *time.Location, o outcome) error {
	return e.advanceAll(ctx, tx, []advanceRow{{c: c, en: en, f: f, branch: branch, loc: loc, o: o}})
}

// advanceRow is one step to move on: what advance takes.
type advanceRow struct {
	c      *contact.Contact
	en     *Enrollment
	f      *flow.Flow
	branch *flow.Branch
	loc    *time.Location
	o      outcome
}

// advanceAll records the outcomes of steps of distinct contacts and moves
// each enrollment on: the outcomes, the message statuses and the moves are
// one statement for all of them. Then each completed enrollment runs what
// follows it.
func (e *Engine) advanceAll(ctx context.Context, tx *gorm.DB, rows []advanceRow) error {
	if len(rows) == 0 {
		return nil
	}
	now := e.clock.Now()
	type move struct {
		ID         int64      `json:"id"`
		ShopID     int64      `json:"shop_id"`
		ContactID  int64      `json:"contact_id"`
		Step       int        `json:"step"`
		Next       int        `json:"next"`
		Status     string     `json:"status"`
		NextRunAt  *time.Time `json:"next_run_at"`
		WaitingFor string     `json:"waiting_for"`
		EndedAt    *time.Time `json:"ended_at"`
		Decision   string     `json:"decision"`
		Reason     string     `json:"reason"`
		MsgID      *int64     `json:"msg_id"`
		MsgStatus  string     `json:"msg_status"` // "sent", "failed" or "" (unchanged)
	}
	moves := make([]move, len(rows))
	ids, msgIDs := make([]int64, len(rows)), []int64{}
	for i, r := range rows {
		en := r.en
		next := en.Step + 1
		status, endedAt := StatusActive, (*time.Time)(nil)
		if next < len(r.branch.Steps) {
			e.schedule(en, r.branch.Steps[next], now, r.loc, 0, en.fulfilledAt())
		} else {
			status, endedAt, en.NextRunAt = StatusCompleted, &now, nil
		}
		en.Status, en.EndedAt = status, endedAt
		moves[i] = move{ID: en.ID, ShopID: en.ShopID, ContactID: en.ContactID, Step: en.Step, Next: next, Status: status,
			NextRunAt: en.NextRunAt, WaitingFor: en.WaitingFor, EndedAt: endedAt, Decision: r.o.decision, Reason: r.o.reason,
			MsgID: r.o.msgID, MsgStatus: r.o.msgStatus}
		ids[i] = en.ID
		if r.o.msgID != nil && r.o.msgStatus != "" {
			msgIDs = append(msgIDs, *r.o.msgID)
		}
	}
	b, err := json.Marshal(moves)
	if err != nil {
		return fmt.Errorf("journey: encode %d advances: %w", len(moves), err)
	}
	// The id = ANY(…) conditions keep every join an index lookup.
	err = tx.Exec(`WITH v AS (
			SELECT * FROM jsonb_to_recordset(?::jsonb) AS v(id bigint, shop_id bigint, contact_id bigint, step integer, next integer,
				status text, next_run_at timestamptz, waiting_for text, ended_at timestamptz, decision text, reason text,
				msg_id bigint, msg_status text)),
		msg AS (
			UPDATE journey_messages m SET status = v.msg_status,
				sent_at = CASE WHEN v.msg_status = 'sent' THEN ?::timestamptz ELSE m.sent_at END,
				error = CASE WHEN v.msg_status = 'failed' THEN v.reason ELSE m.error END
			FROM v WHERE m.id = ANY(?::bigint[]) AND m.id = v.msg_id AND v.msg_status <> ''),
		dec AS (
			INSERT INTO journey_decisions (shop_id, enrollment_id, contact_id, step, decision, reason, message_id, at)
			SELECT v.shop_id, v.id, v.contact_id, v.step, v.decision, v.reason, v.msg_id, ?::timestamptz FROM v WHERE v.decision <> '' ORDER BY v.id)
		UPDATE enrollments en SET step = v.next, status = v.status, next_run_at = v.next_run_at, waiting_for = v.waiting_for,
			enqueued_for = NULL, ended_at = v.ended_at, updated_at = now()
		FROM v WHERE en.id = ANY(?::bigint[]) AND en.id = v.id`,
		string(b), now, int64Array(msgIDs), now, int64Array(ids)).Error
	if err != nil {
		return fmt.Errorf("journey: advance %d enrollments: %w", len(rows), err)
	}
	for _, r := range rows {
		if err := e.completed(ctx, tx, r); err != nil {
			return err
		}
	}
	return nil
}

// completed runs what follows a purchase-goal enrollment that ended
// without a purchase: sunset suppression, the flow that comes next.
func (e *Engine) completed(ctx context.Context, tx *gorm.DB, r advanceRow) error {
	en, c, f, branch := r.en, r.c, r.f, r.branch
	if en.Status == StatusActive || f.Goal != flow.GoalPurchase {
		return nil
	}
	now := e.clock.Now()
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
