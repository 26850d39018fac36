package journey

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"

	"github.com/relance/relance/internal/contact"
	"github.com/relance/relance/internal/flow"
)

// Applying trigger events is set-based so that a batch costs a handful of
// statements whatever its size: per shop, one statement locks the batch's
// contacts and reads with them the shop's enabled flows, settings and time
// zone (in the transaction: no cache, never stale) and the orders that rule
// out a purchase-goal flow; then, per round (a round holds at most one event
// per contact, so later events of a contact see what earlier ones wrote),
// one statement reads and locks the active enrollments with the history
// re-entry needs, the rules run in memory, and the round's exits, follows
// and new enrollments are written with one statement each.

// shopConfig is what applying events needs to know about a shop.
type shopConfig struct {
	settings Settings
	loc      *time.Location
	flows    []*flow.Flow    // enabled flows, current versions, by key
	done     map[string]bool // checkout tokens of the batch that became orders
}

// lockedContact is a contact row locked by lockContacts, with its newest
// order (cancelled ones included) and its shop's configuration.
type lockedContact struct {
	contact.Contact
	AnyOrderAt  *time.Time
	CfgZone     string
	CfgFlows    string // [[key, version], …] of the enabled flows
	CfgDone     string // checkout tokens of the events that already became orders
	CfgSettings *string
}

// contactState is one contact of a round: its locked row, its active
// enrollments, and the newest ended enrollment per flow that re-entry looks at.
type contactState struct {
	c       *lockedContact
	active  []Enrollment
	history map[flow.Key]Enrollment
}

// roundWrites are a round's writes, applied in this order: exits first (a
// restart frees the flow's single active slot), then follows, then inserts.
type roundWrites struct {
	exits   map[exitKey][]int64
	follows []followRow
	inserts []Enrollment
}

type exitKey struct {
	shopID int64
	reason string
}

type followRow struct {
	ID         int64           `json:"id"`
	ShopID     int64           `json:"shop_id"`
	Subject    string          `json:"subject"`
	Context    json.RawMessage `json:"context"`
	Reset      bool            `json:"reset"`
	TriggerAt  *time.Time      `json:"trigger_at"`
	NextRunAt  *time.Time      `json:"next_run_at"`
	WaitingFor string          `json:"waiting_for"`
}

type shopContact struct{ shop, contact int64 }

// apply applies evs in order inside tx; when only is set, the events enter
// that flow alone (if enabled), whatever it starts on. Events whose contact does not exist are returned.
func (e *Engine) apply(ctx context.Context, tx *gorm.DB, evs []Event, only flow.Key) (missing []Event, err error) {
	for i := range evs {
		if evs[i].At.IsZero() {
			evs[i].At = e.clock.Now()
		}
	}
	contacts, configs, err := e.lockContacts(ctx, tx, evs)
	if err != nil {
		return nil, err
	}
	var pending []Event
	for _, ev := range evs {
		if contacts[shopContact{ev.ShopID, ev.ContactID}] == nil {
			missing = append(missing, ev)
			continue
		}
		pending = append(pending, ev)
	}
	for len(pending) > 0 {
		var round, later []Event
		seen := map[shopContact]bool{}
		for _, ev := range pending {
			k := shopContact{ev.ShopID, ev.ContactID}
			if seen[k] {
				later = append(later, ev)
				continue
			}
			seen[k] = true
			round = append(round, ev)
		}
		if err := e.applyRound(ctx, tx, round, contacts, configs, only); err != nil {
			return nil, err
		}
		pending = later
	}
	return missing, nil
}

// lockContacts locks the contacts of evs, shop by shop and in id order (so
// concurrent batches cannot deadlock on them), and reads each shop's
// configuration with them, in the transaction: never stale.
func (e *Engine) lockContacts(ctx context.Context, tx *gorm.DB, evs []Event) (map[shopContact]*lockedContact, map[int64]*shopConfig, error) {
	var shops []int64
	ids := map[int64][]int64{}
	tokens := map[int64][]string{} // for CheckoutCompleted
	for _, ev := range evs {
		if _, ok := ids[ev.ShopID]; !ok {
			shops = append(shops, ev.ShopID)
		}
		ids[ev.ShopID] = append(ids[ev.ShopID], ev.ContactID)
		if ev.Trigger == flow.CheckoutStarted && ev.Subject != "" {
			tokens[ev.ShopID] = append(tokens[ev.ShopID], ev.Subject)
		}
	}
	slices.Sort(shops)
	contacts := map[shopContact]*lockedContact{}
	configs := map[int64]*shopConfig{}
	for _, shop := range shops {
		var rows []lockedContact
		// The configuration subqueries do not depend on the row: PostgreSQL
		// runs them once per statement. A scalar shop id and an array of
		// contact ids keep the plan an index lookup on the primary key.
		err := tx.Raw(`SELECT c.*,
				(SELECT max(o.ordered_at) FROM contact_orders o WHERE o.shop_id = c.shop_id AND o.contact_id = c.id) AS any_order_at,
				coalesce((SELECT `+ShopZoneSQL+` FROM shops s LEFT JOIN shop_settings ss ON ss.shop_id = s.id WHERE s.id = ?), 'UTC') AS cfg_zone,
				(SELECT coalesce(json_agg(json_build_array(f.key, f.version) ORDER BY f.key), '[]') FROM flows f
				 WHERE f.shop_id = ? AND f.enabled)::text AS cfg_flows,
				(SELECT coalesce(json_agg(DISTINCT o.checkout_token), '[]') FROM contact_orders o
				 WHERE o.shop_id = ? AND o.checkout_token <> '' AND o.checkout_token = ANY(?::text[]))::text AS cfg_done,
				(SELECT row_to_json(js)::text FROM journey_settings js WHERE js.shop_id = ?) AS cfg_settings
			FROM contacts c
			WHERE c.shop_id = ? AND c.id = ANY(?::bigint[])
			ORDER BY c.id
			FOR NO KEY UPDATE OF c`,
			shop, shop, shop, textArray(tokens[shop]), shop, shop, int64Array(ids[shop])).Scan(&rows).Error
		if err != nil {
			return nil, nil, fmt.Errorf("journey: lock %d contacts in shop %d: %w", len(ids[shop]), shop, err)
		}
		for i := range rows {
			r := &rows[i]
			contacts[shopContact{shop, r.ID}] = r
		}
		if len(rows) > 0 {
			cfg, err := e.shopConfig(ctx, &rows[0])
			if err != nil {
				return nil, nil, err
			}
			configs[shop] = cfg
		}
	}
	return contacts, configs, nil
}

// genericPlans makes PostgreSQL plan the transaction's statements once per
// connection. Their array parameters otherwise make it plan them again at
// every execution (a custom plan looks cheaper for a one-element array),
// which costs more than running them: measured 1.7 → 0.8 ms of server CPU
// per event. The statements are written so that the generic plan is an
// index lookup whatever the arrays hold.
func genericPlans(tx *gorm.DB) error {
	if err := tx.Exec(`SET LOCAL plan_cache_mode = force_generic_plan`).Error; err != nil {
		return fmt.Errorf("journey: plan cache mode: %w", err)
	}
	return nil
}

// int64Array and textArray write PostgreSQL array literals, so a list is one
// parameter and the statement text (and its cached plan) does not vary
// with the list's length.
func int64Array(v []int64) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, n := range v {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(n, 10))
	}
	b.WriteByte('}')
	return b.String()
}

func textArray[S ~string](v []S) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, s := range v {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		for _, r := range string(s) {
			if r == '"' || r == '\\' {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		}
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

func (e *Engine) shopConfig(ctx context.Context, r *lockedContact) (*shopConfig, error) {
	cfg := &shopConfig{settings: DefaultSettings(), loc: e.location(r.CfgZone), done: map[string]bool{}}
	if r.CfgSettings != nil {
		var js struct {
			FrequencyCapHours       int    `json:"frequency_cap_hours"`
			QuietStart              string `json:"quiet_start"`
			QuietEnd                string `json:"quiet_end"`
			RemindersWithoutConsent bool   `json:"reminders_without_consent"`
			UsableLifeDays          int    `json:"usable_life_days"`
		}
		if err := json.Unmarshal([]byte(*r.CfgSettings), &js); err != nil {
			return nil, fmt.Errorf("journey: decode settings of shop %d: %w", r.ShopID, err)
		}
		cfg.settings = Settings(js)
	}
	var flows [][2]json.RawMessage
	var done []string
	if err := json.Unmarshal([]byte(r.CfgFlows), &flows); err != nil {
		return nil, fmt.Errorf("journey: decode enabled flows of shop %d: %w", r.ShopID, err)
	}
	if err := json.Unmarshal([]byte(r.CfgDone), &done); err != nil {
		return nil, fmt.Errorf("journey: decode completed checkouts of shop %d: %w", r.ShopID, err)
	}
	for _, t := range done {
		cfg.done[t] = true
	}
	for _, kv := range flows {
		var key flow.Key
		var version int
		if err := json.Unmarshal(kv[0], &key); err != nil {
			return nil, fmt.Errorf("journey: decode enabled flows of shop %d: %w", r.ShopID, err)
		}
		if err := json.Unmarshal(kv[1], &version); err != nil {
			return nil, fmt.Errorf("journey: decode enabled flows of shop %d: %w", r.ShopID, err)
		}
		f, err := e.flows.Version(ctx, r.ShopID, key, version)
		if err != nil {
			return nil, err
		}
		cfg.flows = append(cfg.flows, f)
	}
	return cfg, nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func (e *Engine) applyRound(ctx context.Context, tx *gorm.DB, round []Event, contacts map[shopContact]*lockedContact,
	configs map[int64]*shopConfig, only flow.Key) error {
	// An order first exits every purchase-goal enrollment that began
	// before it; enrollments that began after it (a later checkout) are not
	// reached, even if the order arrives late, nor those this very order
	// started (replenishment), when orders/paid follows orders/create.
	for _, ev := range round {
		if ev.Trigger == flow.OrderPlaced {
			if _, err := e.exitWhere(tx, ev.ShopID, ReasonPurchased, "contact_id = ? AND goal_purchase AND trigger_at <= ? AND (order_id IS NULL OR order_id <> ?)",
				ev.ContactID, ev.At, ev.OrderID); err != nil {
				return err
			}
		}
	}
	type job struct {
		ev    Event
		flows []*flow.Flow
	}
	var jobs []job
	var once, cooldown []flow.Key
	var maxCooldown int
	for _, ev := range round {
		var fs []*flow.Flow
		for _, f := range configs[ev.ShopID].flows {
			if only == "" && f.StartsOn(ev.Trigger) || f.Key == only {
				fs = append(fs, f)
				switch {
				case f.Reentry.Once:
					once = append(once, f.Key)
				case f.Reentry.CooldownDays > 0:
					cooldown = append(cooldown, f.Key)
					maxCooldown = max(maxCooldown, f.Reentry.CooldownDays)
				}
			}
		}
		if len(fs) > 0 {
			jobs = append(jobs, job{ev, fs})
		}
	}
	if len(jobs) == 0 {
		return nil
	}
	var pairs []shopContact
	for _, j := range jobs {
		pairs = append(pairs, shopContact{j.ev.ShopID, j.ev.ContactID})
	}
	states, err := e.readEnrollments(tx, pairs, once, cooldown, maxCooldown, contacts)
	if err != nil {
		return err
	}
	w := &roundWrites{exits: map[exitKey][]int64{}}
	for _, j := range jobs {
		st := states[shopContact{j.ev.ShopID, j.ev.ContactID}]
		for _, f := range j.flows {
			if err := e.enroll(ctx, tx, st, configs[j.ev.ShopID], f, j.ev, w); err != nil {
				return err
			}
		}
	}
	return e.write(tx, w)
}

// readEnrollments locks the active enrollments of the round's contacts and
// reads, for the flows with re-entry rules, the newest ended enrollment per
// flow: any for flows entered once, else one started within the longest
// cooldown, one that counts for re-entry (not a ladder move) first.
func (e *Engine) readEnrollments(tx *gorm.DB, pairs []shopContact, once, cooldown []flow.Key, maxCooldown int,
	contacts map[shopContact]*lockedContact) (map[shopContact]*contactState, error) {
	states := make(map[shopContact]*contactState, len(pairs))
	var shops []int64
	ids := map[int64][]int64{}
	for _, p := range pairs {
		states[p] = &contactState{c: contacts[p], history: map[flow.Key]Enrollment{}}
		if _, ok := ids[p.shop]; !ok {
			shops = append(shops, p.shop)
		}
		ids[p.shop] = append(ids[p.shop], p.contact)
	}
	since := e.clock.Now().Add(-e.scale(time.Duration(maxCooldown) * 24 * time.Hour))
	for _, shop := range shops {
		var rows []Enrollment
		// Driven by the contact ids, one equality lookup each on (shop_id,
		// contact_id). The status is a parameter so that the partial index on
		// (shop_id, flow_key) of active enrollments is never chosen: with
		// lagging statistics it makes each lookup scan the shop's enrollments.
		err := tx.Raw(`SELECT en.* FROM unnest(?::bigint[]) AS k(contact_id), LATERAL (
				SELECT * FROM enrollments WHERE shop_id = ? AND contact_id = k.contact_id AND status = ?
				FOR NO KEY UPDATE) en
			UNION ALL
			SELECT h.* FROM unnest(?::bigint[]) AS k(contact_id), LATERAL (
				SELECT DISTINCT ON (flow_key) * FROM enrollments
				WHERE shop_id = ? AND contact_id = k.contact_id AND flow_key = ANY(?::text[]) AND status <> ?
				  AND (flow_key = ANY(?::text[]) OR started_at > ?)
				ORDER BY flow_key, (exit_reason <> ?) DESC, started_at DESC) h`,
			int64Array(ids[shop]), shop, StatusActive, int64Array(ids[shop]), shop, textArray(append(slices.Clone(once), cooldown...)),
			StatusActive, textArray(once), since, ReasonMovedUp).Scan(&rows).Error
		if err != nil {
			return nil, fmt.Errorf("journey: read enrollments of %d contacts in shop %d: %w", len(ids[shop]), shop, err)
		}
		for _, en := range rows {
			st := states[shopContact{en.ShopID, en.ContactID}]
			if st == nil {
				continue // not a contact of the round
			}
			if en.Status == StatusActive {
				st.active = append(st.active, en)
			} else {
				st.history[en.FlowKey] = en
			}
		}
	}
	return states, nil
}

// enroll decides whether st's contact enters f for ev, updating st as the
// writes it queues in w will (so the next flow of the same event sees them).
func (e *Engine) enroll(ctx context.Context, tx *gorm.DB, st *contactState, cfg *shopConfig, f *flow.Flow, ev Event, w *roundWrites) error {
	c := &st.c.Contact
	now := e.clock.Now()
	if c.Suppressed() {
		return e.skipEnroll(c, f, ev, ReasonSuppressed)
	}
	if c.Email == nil {
		return e.skipEnroll(c, f, ev, ReasonNoEmail)
	}
	if f.Goal == flow.GoalPurchase && ev.Trigger != flow.OrderPlaced {
		// An order that arrived before its (late) checkout or cart event.
		bought := st.c.AnyOrderAt != nil && !st.c.AnyOrderAt.Before(ev.At)
		if !bought && ev.Trigger == flow.CheckoutStarted && ev.Subject != "" {
			bought = cfg.done[ev.Subject]
		}
		if bought {
			return e.skipEnroll(c, f, ev, ReasonPurchased)
		}
	}

	var same *Enrollment
	for i := range st.active {
		if st.active[i].FlowKey == f.Key {
			same = &st.active[i]
		}
		if f.Ladder > 0 && st.active[i].Ladder > f.Ladder {
			return e.skipEnroll(c, f, ev, "higher_rung_active")
		}
	}

	if ev.OrderID != 0 {
		// orders/create and orders/paid both announce an order: one enrollment per order.
		var n int64
		if err := tx.Model(&Enrollment{}).Where("shop_id = ? AND contact_id = ? AND flow_key = ? AND order_id = ?",
			c.ShopID, c.ID, f.Key, ev.OrderID).Count(&n).Error; err != nil {
			return fmt.Errorf("journey: enrollments of order: %w", err)
		}
		if n > 0 {
			return e.skipEnroll(c, f, ev, "same_order")
		}
	}
	if same != nil {
		switch {
		case f.Ladder > 0:
			return e.follow(same, f, ev, cfg.loc, w)
		case f.Restart:
			w.exit(st, c.ShopID, ReasonRestarted, same.ID, now)
		default:
			return e.skipEnroll(c, f, ev, "already_enrolled")
		}
	}

	if h, ok := st.history[f.Key]; ok {
		since := now.Add(-e.scale(time.Duration(f.Reentry.CooldownDays) * 24 * time.Hour))
		// Ladder moves do not count: the shopper never got through that flow.
		if f.Reentry.Once || f.Reentry.CooldownDays > 0 && h.StartedAt.After(since) && h.ExitReason != ReasonMovedUp {
			return e.skipEnroll(c, f, ev, "reentry")
		}
	}

	facts := flow.Facts{Trigger: ev.Trigger, OrdersCount: c.OrdersCount, Segment: ev.Segment}
	subject := ev.Subject
	ctxMap := maps.Clone(ev.Context)
	if ctxMap == nil {
		ctxMap = map[string]string{}
	}
	lifeDays := cfg.settings.UsableLifeDays
	if len(ev.ProductIDs) > 0 {
		product, days, err := e.usableLife(tx, c.ShopID, ev.ProductIDs, cfg.settings.UsableLifeDays)
		if err != nil {
			return err
		}
		lifeDays = days
		if product != 0 {
			subject = itoa(product)
			ctxMap["product_id"] = subject
			n, err := e.contacts.WithTx(tx).ProductPurchases(ctx, c.ShopID, c.ID, product)
			if err != nil {
				return err
			}
			facts.RepeatProduct = n >= 3
		}
	}
	if ev.OrderID != 0 {
		ctxMap["order_id"] = itoa(ev.OrderID)
	}
	if ev.Segment != "" {
		ctxMap["segment"] = ev.Segment
	}
	if lifeDays > 0 {
		ctxMap["usable_life_days"] = strconv.Itoa(lifeDays)
	}
	branch := f.Branch(facts)
	if branch == nil || len(branch.Steps) == 0 {
		return e.skipEnroll(c, f, ev, "no_branch")
	}

	if f.Ladder > 0 {
		// Moving down the funnel: the more advanced flow replaces lower rungs.
		for _, a := range slices.Clone(st.active) {
			if a.Ladder > 0 && a.Ladder < f.Ladder {
				w.exit(st, c.ShopID, ReasonMovedUp, a.ID, now)
			}
		}
	}
	en := Enrollment{
		ShopID: c.ShopID, ContactID: c.ID, FlowKey: f.Key, FlowVersion: f.Version, Branch: branch.Key,
		GoalPurchase: f.Goal == flow.GoalPurchase, Ladder: f.Ladder, Status: StatusActive, Subject: subject,
		Context: encodeContext(ctxMap), TriggerAt: ev.At.Truncate(time.Microsecond), StartedAt: now, UpdatedAt: now,
	}
	if ev.OrderID != 0 {
		en.OrderID = &ev.OrderID
	}
	e.schedule(&en, branch.Steps[0], ev.At, cfg.loc, lifeDays, nil)
	w.inserts = append(w.inserts, en)
	st.active = append(st.active, en)
	return nil
}

// exit queues the end of an active enrollment and moves it to st's history.
func (w *roundWrites) exit(st *contactState, shopID int64, reason string, id int64, now time.Time) {
	k := exitKey{shopID, reason}
	w.exits[k] = append(w.exits[k], id)
	for i, a := range st.active {
		if a.ID == id {
			a.Status, a.ExitReason, a.EndedAt = StatusExited, reason, &now
			st.history[a.FlowKey] = a
			st.active = slices.Delete(st.active, i, i+1)
			return
		}
	}
}

// follow keeps an abandonment enrollment on the shopper's newest cart or
// checkout; while no reminder went out, the wait restarts from the newest
// activity (the shopper is still there).
func (e *Engine) follow(en *Enrollment, f *flow.Flow, ev Event, loc *time.Location, w *roundWrites) error {
	if !ev.At.After(en.TriggerAt) {
		return nil // an older or repeated event
	}
	m := en.contextMap()
	maps.Copy(m, ev.Context)
	row := followRow{ID: en.ID, ShopID: en.ShopID, Subject: ev.Subject, Context: json.RawMessage(encodeContext(m))}
	if en.Step == 0 {
		branch := f.BranchByKey(en.Branch)
		if branch != nil && len(branch.Steps) > 0 {
			e.schedule(en, branch.Steps[0], ev.At, loc, 0, nil)
			at := ev.At.UTC().Truncate(time.Microsecond)
			en.TriggerAt = at
			row.Reset, row.TriggerAt, row.NextRunAt, row.WaitingFor = true, &at, en.NextRunAt, en.WaitingFor
		}
	}
	en.Subject, en.Context = ev.Subject, string(row.Context)
	w.follows = append(w.follows, row)
	return nil
}

// write applies a round's writes: one statement per kind.
func (e *Engine) write(tx *gorm.DB, w *roundWrites) error {
	keys := slices.SortedFunc(maps.Keys(w.exits), func(a, b exitKey) int {
		return cmp.Or(cmp.Compare(a.shopID, b.shopID), cmp.Compare(a.reason, b.reason))
	})
	for _, k := range keys {
		if _, err := e.exitWhere(tx, k.shopID, k.reason, "id IN ?", w.exits[k]); err != nil {
			return err
		}
	}
	if len(w.follows) > 0 {
		b, err := json.Marshal(w.follows)
		if err != nil {
			return fmt.Errorf("journey: encode %d follows: %w", len(w.follows), err)
		}
		ids := make([]int64, len(w.follows))
		for i, f := range w.follows {
			ids[i] = f.ID
		}
		err = tx.Exec(`UPDATE enrollments en SET subject = v.subject, context = v.context, updated_at = now(),
				trigger_at   = CASE WHEN v.reset THEN v.trigger_at ELSE en.trigger_at END,
				next_run_at  = CASE WHEN v.reset THEN v.next_run_at ELSE en.next_run_at END,
				waiting_for  = CASE WHEN v.reset THEN v.waiting_for ELSE en.waiting_for END,
				enqueued_for = CASE WHEN v.reset THEN NULL ELSE en.enqueued_for END
			FROM jsonb_to_recordset(?::jsonb) AS v(id bigint, shop_id bigint, subject text, context jsonb, reset boolean,
				trigger_at timestamptz, next_run_at timestamptz, waiting_for text)
			WHERE en.id = ANY(?::bigint[]) AND en.id = v.id AND en.shop_id = v.shop_id`, string(b), int64Array(ids)).Error
		if err != nil {
			return fmt.Errorf("journey: follow %d enrollments: %w", len(w.follows), err)
		}
	}
	if len(w.inserts) > 0 {
		if err := tx.Create(&w.inserts).Error; err != nil {
			return fmt.Errorf("journey: insert %d enrollments: %w", len(w.inserts), err)
		}
		for _, en := range w.inserts {
			e.log.Info("journey: enrolled", "shop_id", en.ShopID, "contact_id", en.ContactID, "flow", en.FlowKey, "version", en.FlowVersion,
				"branch", en.Branch, "enrollment_id", en.ID)
		}
	}
	return nil
}

// Deferred collects the events Trigger receives under a context from
// Engine.Defer, so that a caller handling many deliveries (the webhook
// dispatcher) applies them with one TriggerBatch instead of one transaction
// each. Every other engine call that changes enrollments under such a
// context applies the collected events first, so the order of operations
// is kept. Safe for concurrent use.
type Deferred struct {
	e   *Engine
	mu  sync.Mutex
	evs []Event
	// applied counts the events collected and applied so far, so that a
	// Mark stays meaningful across intermediate applies.
	applied int
}

type deferredKey struct{}

// Defer returns a context under which Trigger only collects its events in
// the returned Deferred; Flush applies them.
func (e *Engine) Defer(ctx context.Context) (context.Context, *Deferred) {
	d := &Deferred{e: e}
	return context.WithValue(ctx, deferredKey{}, d), d
}

// Len is how many events wait to be applied.
func (d *Deferred) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.evs)
}

// Flush applies the collected events in one transaction. On error they stay
// collected (nothing was applied) and a later Flush tries them again.
func (d *Deferred) Flush(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.evs) == 0 {
		return nil
	}
	if err := d.e.TriggerBatch(context.WithValue(ctx, deferredKey{}, nil), d.evs); err != nil {
		return err
	}
	d.applied += len(d.evs)
	d.evs = nil
	return nil
}

// Mark is the point reached in the collected events.
func (d *Deferred) Mark() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.applied + len(d.evs)
}

// Discard drops the events collected after mark that are not applied yet:
// the triggers of a delivery whose handler then failed, so that its retry
// does not apply them a second time. Discard(0) drops every pending event.
func (d *Deferred) Discard(mark int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if keep := mark - d.applied; keep < len(d.evs) {
		d.evs = d.evs[:max(keep, 0)]
	}
}

func (d *Deferred) add(ev Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.evs = append(d.evs, ev)
}

// deferred returns the collector of ctx, if any.
func deferred(ctx context.Context) *Deferred {
	d, _ := ctx.Value(deferredKey{}).(*Deferred)
	return d
}

// flushDeferred applies the events collected under ctx before another
// change to enrollments.
func (e *Engine) flushDeferred(ctx context.Context) error {
	if d := deferred(ctx); d != nil {
		return d.Flush(ctx)
	}
	return nil
}
