package analytics_test

import (
	"context"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/relance/relance/internal/analytics"
	"github.com/relance/relance/internal/contact"
	"github.com/relance/relance/internal/flow"
	"github.com/relance/relance/internal/platform"
	"github.com/relance/relance/internal/platform/testenv"
	"github.com/relance/relance/internal/shop"
	"github.com/relance/relance/migrations"
)

// The figures the roll-up gives must be those the source rows give. raw
// recomputes them from journey_messages, journey_decisions,
// analytics_attributions and contact_orders, independently of the
// triggers, with the same hour rule: a row counts when the UTC hour it
// falls in starts in [from, to).

type rawFigures struct {
	Sent, Skipped, Reached, Orders, RecoveredOrders, ShopOrders int64
	Revenue, RecoveredRevenue, ShopRevenue                      float64
}

const inHours = `date_trunc('hour', %s, 'UTC') >= @from AND date_trunc('hour', %s, 'UTC') < @to`

func hours(col string) string { return fmt.Sprintf(inHours, col, col) }

func raw(t *testing.T, db *gorm.DB, shopID int64, from, to time.Time) rawFigures {
	t.Helper()
	var f rawFigures
	require.NoError(t, db.Raw(`SELECT
	(SELECT count(*) FROM journey_messages WHERE shop_id = @shop AND status = 'sent' AND sent_at IS NOT NULL AND `+hours("sent_at")+`) AS sent,
	(SELECT count(*) FROM journey_decisions WHERE shop_id = @shop AND decision = 'skipped' AND `+hours("at")+`) AS skipped,
	(SELECT count(*) FROM (SELECT DISTINCT ON (enrollment_id) sent_at FROM journey_messages
		WHERE shop_id = @shop AND status = 'sent' AND sent_at IS NOT NULL
		  AND flow_key IN ('checkout_abandonment', 'cart_abandonment', 'browse_abandonment')
		ORDER BY enrollment_id, sent_at, id) first WHERE `+hours("sent_at")+`) AS reached,
	(SELECT count(*) FROM analytics_attributions WHERE shop_id = @shop AND cancelled_at IS NULL AND `+hours("ordered_at")+`) AS orders,
	(SELECT COALESCE(sum(revenue), 0)::float8 FROM analytics_attributions WHERE shop_id = @shop AND cancelled_at IS NULL AND `+hours("ordered_at")+`) AS revenue,
	(SELECT count(*) FROM analytics_attributions WHERE shop_id = @shop AND cancelled_at IS NULL AND recovered AND `+hours("ordered_at")+`) AS recovered_orders,
	(SELECT COALESCE(sum(revenue), 0)::float8 FROM analytics_attributions WHERE shop_id = @shop AND cancelled_at IS NULL AND recovered AND `+hours("ordered_at")+`) AS recovered_revenue,
	(SELECT count(*) FROM contact_orders WHERE shop_id = @shop AND cancelled_at IS NULL AND `+hours("ordered_at")+`) AS shop_orders,
	(SELECT COALESCE(sum(total_price), 0)::float8 FROM contact_orders WHERE shop_id = @shop AND cancelled_at IS NULL AND `+hours("ordered_at")+`) AS shop_revenue`,
		map[string]any{"shop": shopID, "from": from, "to": to}).Scan(&f).Error)
	return f
}

type rawStep struct {
	FlowKey, StepKey string
	Sent, Orders     int64
	Revenue          float64
}

func rawSteps(t *testing.T, db *gorm.DB, shopID int64, from, to time.Time) []analytics.StepStats {
	t.Helper()
	var rows []rawStep
	require.NoError(t, db.Raw(`
WITH sent AS (SELECT flow_key, step_key, count(*) AS sent FROM journey_messages
	WHERE shop_id = @shop AND status = 'sent' AND sent_at IS NOT NULL AND `+hours("sent_at")+` GROUP BY 1, 2),
won AS (SELECT flow_key, step_key, count(*) AS orders, sum(revenue)::float8 AS revenue FROM analytics_attributions
	WHERE shop_id = @shop AND cancelled_at IS NULL AND `+hours("ordered_at")+` GROUP BY 1, 2)
SELECT COALESCE(sent.flow_key, won.flow_key) AS flow_key, COALESCE(sent.step_key, won.step_key) AS step_key,
	COALESCE(sent.sent, 0) AS sent, COALESCE(won.orders, 0) AS orders, COALESCE(won.revenue, 0) AS revenue
FROM sent FULL JOIN won ON won.flow_key = sent.flow_key AND won.step_key = sent.step_key ORDER BY 1, 2`,
		map[string]any{"shop": shopID, "from": from, "to": to}).Scan(&rows).Error)
	var out []analytics.StepStats
	for _, r := range rows {
		c := 0.0
		if r.Sent > 0 {
			c = math.Round(float64(r.Orders)/float64(r.Sent)*10000) / 10000
		}
		out = append(out, analytics.StepStats{FlowKey: r.FlowKey, StepKey: r.StepKey, Sent: r.Sent, Orders: r.Orders,
			Revenue: math.Round(r.Revenue*100) / 100, Conversion: c})
	}
	return out
}

func rawFlows(t *testing.T, db *gorm.DB, shopID int64, from, to time.Time) map[flow.Key]analytics.FlowActivity {
	t.Helper()
	var rows []struct {
		FlowKey       string
		Sent, Skipped int64
	}
	require.NoError(t, db.Raw(`
WITH sent AS (SELECT flow_key, count(*) AS n FROM journey_messages
	WHERE shop_id = @shop AND status = 'sent' AND sent_at IS NOT NULL AND `+hours("sent_at")+` GROUP BY 1),
skipped AS (SELECT e.flow_key, count(*) AS n FROM journey_decisions d JOIN enrollments e ON e.id = d.enrollment_id
	WHERE d.shop_id = @shop AND d.decision = 'skipped' AND `+hours("d.at")+` GROUP BY 1)
SELECT COALESCE(sent.flow_key, skipped.flow_key) AS flow_key, COALESCE(sent.n, 0) AS sent, COALESCE(skipped.n, 0) AS skipped
FROM sent FULL JOIN skipped ON skipped.flow_key = sent.flow_key`, map[string]any{"shop": shopID, "from": from, "to": to}).Scan(&rows).Error)
	out := map[flow.Key]analytics.FlowActivity{}
	for _, r := range rows {
		out[flow.Key(r.FlowKey)] = analytics.FlowActivity{Sent: r.Sent, Skipped: r.Skipped}
	}
	return out
}

// rawDays is the Home series from the source rows: a row's day is the local
// day (zone) its UTC hour starts in.
func rawDays(t *testing.T, db *gorm.DB, shopID int64, zone string, from, to time.Time) map[string]analytics.Day {
	t.Helper()
	var rows []struct {
		Day     string
		Sent    int64
		Revenue float64
	}
	day := func(col string) string {
		return fmt.Sprintf(`to_char(date_trunc('hour', %s, 'UTC') AT TIME ZONE @zone, 'YYYY-MM-DD')`, col)
	}
	require.NoError(t, db.Raw(`SELECT day, sum(sent)::int8 AS sent, sum(revenue)::float8 AS revenue FROM (
	SELECT `+day("sent_at")+` AS day, 1 AS sent, 0 AS revenue FROM journey_messages
		WHERE shop_id = @shop AND status = 'sent' AND sent_at IS NOT NULL AND `+hours("sent_at")+`
	UNION ALL
	SELECT `+day("ordered_at")+`, 0, revenue FROM analytics_attributions
		WHERE shop_id = @shop AND cancelled_at IS NULL AND `+hours("ordered_at")+`) x GROUP BY day`,
		map[string]any{"shop": shopID, "zone": zone, "from": from, "to": to}).Scan(&rows).Error)
	out := map[string]analytics.Day{}
	for _, r := range rows {
		out[r.Day] = analytics.Day{Day: r.Day, Sent: r.Sent, Revenue: math.Round(r.Revenue*100) / 100}
	}
	return out
}

func approx(t *testing.T, want, got float64, msg string) {
	t.Helper()
	require.InDelta(t, want, got, 0.006, msg)
}

// requireMatches compares every read of the service with the source rows
// over several periods, then the Home page in the shop's zone.
func requireMatches(t *testing.T, db *gorm.DB, svc *analytics.Service, shopID int64, zone string, now time.Time, label string) {
	t.Helper()
	ctx := context.Background()
	base := now.UTC().Truncate(time.Hour)
	periods := [][2]time.Time{
		{base.Add(-60 * 24 * time.Hour), base.Add(48 * time.Hour)},
		{base.Add(-7 * 24 * time.Hour), base.Add(time.Hour)},
		{base.Add(-30*24*time.Hour + 5*time.Hour), base.Add(-3 * 24 * time.Hour)},
		{base.Add(-2 * time.Hour), base.Add(-time.Hour)},
	}
	for i, p := range periods {
		msg := fmt.Sprintf("%s, period %d", label, i)
		want := raw(t, db, shopID, p[0], p[1])
		got, err := svc.Summary(ctx, shopID, p[0], p[1])
		require.NoError(t, err)
		require.Equal(t, want.Sent, got.Sent, msg+": sent")
		require.Equal(t, want.Reached, got.AbandonmentsReached, msg+": reached")
		require.Equal(t, want.Orders, got.Orders, msg+": orders")
		require.Equal(t, want.RecoveredOrders, got.RecoveredOrders, msg+": recovered orders")
		approx(t, want.Revenue, got.Revenue, msg+": revenue")
		approx(t, want.RecoveredRevenue, got.RecoveredRevenue, msg+": recovered revenue")
		if want.ShopOrders > 0 {
			approx(t, want.ShopRevenue/float64(want.ShopOrders), got.AOVOverall, msg+": overall AOV")
		} else {
			require.Zero(t, got.AOVOverall, msg)
		}
		steps, err := svc.Steps(ctx, shopID, p[0], p[1])
		require.NoError(t, err)
		require.Equal(t, rawSteps(t, db, shopID, p[0], p[1]), steps, msg+": steps")
		flows, err := svc.FlowActivity(ctx, shopID, p[0], p[1])
		require.NoError(t, err)
		require.Equal(t, rawFlows(t, db, shopID, p[0], p[1]), flows, msg+": flows")
	}
	for _, days := range []int{7, 30, 90} {
		msg := fmt.Sprintf("%s, home %d days", label, days)
		h, err := svc.Home(ctx, shopID, days, now)
		require.NoError(t, err)
		require.Len(t, h.Series, days, msg)
		loc, err := time.LoadLocation(zone)
		require.NoError(t, err)
		last := now.In(loc)
		require.Equal(t, last.Format(time.DateOnly), h.Series[days-1].Day, msg)
		first := time.Date(last.Year(), last.Month(), last.Day()-(days-1), 0, 0, 0, 0, loc)
		end := time.Date(last.Year(), last.Month(), last.Day()+1, 0, 0, 0, 0, loc)
		want := raw(t, db, shopID, first, end)
		require.Equal(t, want.Sent, h.Sent, msg)
		approx(t, want.Revenue, h.Revenue, msg)
		require.Equal(t, want.RecoveredOrders, h.RecoveredOrders, msg)
		require.Equal(t, want.Reached, h.AbandonmentsReached, msg)
		wantDays := rawDays(t, db, shopID, zone, first, end)
		var sent int64
		for _, d := range h.Series {
			w := wantDays[d.Day]
			require.Equal(t, w.Sent, d.Sent, msg+" "+d.Day)
			approx(t, w.Revenue, d.Revenue, msg+" "+d.Day)
			sent += d.Sent
		}
		require.Equal(t, h.Sent, sent, msg+": the series adds up to the total")
	}
}

// fixture is a shop with contacts, enrollments of every flow, and the
// means to write the source tables as the application does.
type fixture struct {
	t        *testing.T
	ctx      context.Context
	db       *gorm.DB
	svc      *analytics.Service
	contacts *contact.Store
	shopID   int64
	domain   string
	zone     string
	people   []int64
	now      time.Time
	rng      *rand.Rand
	nextID   int64
}

func newFixture(t *testing.T, db *gorm.DB, zone string, seed uint64) *fixture {
	t.Helper()
	f := &fixture{t: t, ctx: context.Background(), db: db, svc: analytics.New(db, nil), contacts: contact.NewStore(db), zone: zone,
		now: time.Now().UTC(), rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b9)), nextID: 1000}
	f.domain = fmt.Sprintf("rollup-%d-%d.myshopify.com", seed, seq.Add(1))
	require.NoError(t, db.Raw(`INSERT INTO shops (domain, name, timezone) VALUES (?, 'Shop', ?) RETURNING id`, f.domain, zone).Scan(&f.shopID).Error)
	for i := range 6 {
		c, err := f.contacts.Upsert(f.ctx, f.shopID, contact.Profile{Email: fmt.Sprintf("p%d@example.org", i), CustomerID: int64(100 + i)})
		require.NoError(t, err)
		f.people = append(f.people, c.ID)
	}
	return f
}

var flowKeys = []string{"checkout_abandonment", "cart_abandonment", "browse_abandonment", "welcome", "post_purchase"}

// at is a random instant within 45 days around now (minutes and seconds
// too, so rows fall inside hours).
func (f *fixture) at() time.Time {
	return f.now.Add(time.Duration(f.rng.Int64N(int64(50*24*time.Hour))) - 45*24*time.Hour).Truncate(time.Microsecond)
}

func (f *fixture) enrollment(contactID int64, flowKey string) int64 {
	var id int64
	require.NoError(f.t, f.db.Raw(`INSERT INTO enrollments (shop_id, contact_id, flow_key, flow_version, branch, goal_purchase, trigger_at, started_at,
		status) VALUES (?, ?, ?, 1, 'default', true, now(), now(), 'completed') RETURNING id`, f.shopID, contactID, flowKey).Scan(&id).Error)
	return id
}

// journey writes one enrollment's emails and decisions the ways the engine
// and tests do: a message inserted 'sending' then marked sent or failed or
// cancelled; several sent messages in one statement; a skipped step.
func (f *fixture) journey() {
	r := f.rng
	c := f.people[r.IntN(len(f.people))]
	fk := flowKeys[r.IntN(len(flowKeys))]
	en := f.enrollment(c, fk)
	steps := 1 + r.IntN(3)
	if r.IntN(4) == 0 {
		// Several steps sent in one statement, in any order of time.
		var vals []string
		var args []any
		for s := range steps {
			vals = append(vals, "(?, ?, ?, ?, ?, ?, 1, 't', 'promotional', 'x@example.org', 'sent', ?, ?)")
			at := f.at()
			args = append(args, f.shopID, c, en, s, fmt.Sprintf("reminder-%d", s+1), fk, at, at)
		}
		require.NoError(f.t, f.db.Exec(`INSERT INTO journey_messages (shop_id, contact_id, enrollment_id, step, step_key, flow_key, flow_version,
			template, class, to_email, status, created_at, sent_at) VALUES `+strings.Join(vals, ", "), args...).Error)
		return
	}
	for s := range steps {
		at := f.at()
		if r.IntN(5) == 0 {
			require.NoError(f.t, f.db.Exec(`INSERT INTO journey_decisions (shop_id, enrollment_id, contact_id, step, decision, reason, at)
				VALUES (?, ?, ?, ?, 'skipped', 'no_consent', ?)`, f.shopID, en, c, s, at).Error)
			continue
		}
		var id int64
		require.NoError(f.t, f.db.Raw(`INSERT INTO journey_messages (shop_id, contact_id, enrollment_id, step, step_key, flow_key, flow_version,
			template, class, to_email, status, created_at) VALUES (?, ?, ?, ?, ?, ?, 1, 't', 'promotional', 'x@example.org', 'sending', ?)
			RETURNING id`, f.shopID, c, en, s, fmt.Sprintf("reminder-%d", s+1), fk, at).Scan(&id).Error)
		err := f.db.Transaction(func(tx *gorm.DB) error {
			switch r.IntN(6) {
			case 0:
				return tx.Exec(`UPDATE journey_messages SET status = 'failed', error = 'bounced' WHERE id = ?`, id).Error
			case 1:
				return tx.Exec(`UPDATE journey_messages SET status = 'cancelled' WHERE id = ? AND status = 'sending'`, id).Error
			default:
				if err := tx.Exec(`UPDATE journey_messages SET status = 'sent', sent_at = ? WHERE id = ?`, at, id).Error; err != nil {
					return err
				}
				return tx.Exec(`INSERT INTO journey_decisions (shop_id, enrollment_id, contact_id, step, decision, message_id, at)
					VALUES (?, ?, ?, ?, 'sent', ?, ?)`, f.shopID, en, c, s, id, at).Error
			}
		})
		require.NoError(f.t, err)
	}
}

// order records an order as the orders webhooks do (contact_orders, through
// contact.Store), attributes some to an email, and cancels some (through
// both the order's update and analytics.OrderCancelled).
func (f *fixture) order() {
	r := f.rng
	f.nextID++
	id := f.nextID
	c := f.people[r.IntN(len(f.people))]
	at := f.at()
	total := fmt.Sprintf("%d.%02d", 5+r.IntN(300), r.IntN(100))
	o := contact.Order{ID: id, ContactID: c, TotalPrice: total, Currency: "EUR", OrderedAt: at, UpdatedAt: at}
	_, err := f.contacts.RecordOrder(f.ctx, f.shopID, o)
	require.NoError(f.t, err)
	if r.IntN(3) > 0 {
		var msgs []struct {
			ID                        int64
			EnrollmentID              int64
			FlowKey, StepKey, Created string
		}
		require.NoError(f.t, f.db.Raw(`SELECT id, enrollment_id, flow_key, step_key FROM journey_messages WHERE shop_id = ? ORDER BY random() LIMIT 1`,
			f.shopID).Scan(&msgs).Error)
		if len(msgs) == 1 {
			m := msgs[0]
			recovered := m.FlowKey == "checkout_abandonment" || m.FlowKey == "cart_abandonment" || m.FlowKey == "browse_abandonment"
			require.NoError(f.t, f.db.Exec(`INSERT INTO analytics_attributions (shop_id, order_id, contact_id, message_id, enrollment_id, flow_key,
				step_key, model, revenue, currency, recovered, ordered_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'click', ?::numeric, 'EUR', ?, ?)
				ON CONFLICT (shop_id, order_id) DO NOTHING`, f.shopID, id, c, m.ID, m.EnrollmentID, m.FlowKey, m.StepKey, total, recovered, at).Error)
		}
	}
	switch r.IntN(5) {
	case 0: // cancelled: the order's update, then attribution's cancellation
		cancelled := at.Add(time.Hour)
		o.CancelledAt, o.UpdatedAt = &cancelled, at.Add(time.Hour)
		_, err := f.contacts.RecordOrder(f.ctx, f.shopID, o)
		require.NoError(f.t, err)
		require.NoError(f.t, f.svc.OrderCancelled(f.ctx, f.shopID, id, cancelled))
	case 1: // edited: a newer total
		o.TotalPrice, o.UpdatedAt = "12.34", at.Add(time.Minute)
		_, err := f.contacts.RecordOrder(f.ctx, f.shopID, o)
		require.NoError(f.t, err)
	}
}

// reshuffle changes several sent emails of the same enrollments in single
// statements: new send times (the first email of an enrollment changes),
// and some marked failed.
func (f *fixture) reshuffle() {
	require.NoError(f.t, f.db.Exec(`UPDATE journey_messages SET sent_at = sent_at - random() * interval '10 days'
		WHERE shop_id = ? AND status = 'sent' AND enrollment_id IN (
			SELECT enrollment_id FROM journey_messages WHERE shop_id = ? GROUP BY enrollment_id HAVING count(*) > 1 ORDER BY random() LIMIT 8)`,
		f.shopID, f.shopID).Error)
	require.NoError(f.t, f.db.Exec(`UPDATE journey_messages SET status = 'failed' WHERE id IN (
		SELECT id FROM journey_messages WHERE shop_id = ? AND status = 'sent' ORDER BY random() LIMIT 6)`, f.shopID).Error)
}

func (f *fixture) rollUp() {
	_, err := f.svc.RollUp(f.ctx)
	require.NoError(f.t, err)
}

func (f *fixture) pending() int64 {
	var n int64
	require.NoError(f.t, f.db.Raw(`SELECT count(*) FROM metrics_deltas WHERE shop_id = ?`, f.shopID).Scan(&n).Error)
	return n
}

func TestRollUpMatchesSourceRows(t *testing.T) {
	t.Parallel()
	db := testenv.DB(t)
	// Zones east and west of UTC, with and without DST, and a half-hour one.
	for i, zone := range []string{"Europe/Paris", "America/Los_Angeles", "Asia/Kolkata", "Pacific/Auckland"} {
		f := newFixture(t, db, zone, uint64(i+1))
		for round := range 4 {
			for range 25 {
				f.journey()
			}
			for range 15 {
				f.order()
			}
			f.reshuffle()
			switch round {
			case 0: // nothing rolled up: deltas only
				require.NotZero(t, f.pending())
			case 1, 2: // rolled up, then more deltas on top
				f.rollUp()
				require.Zero(t, f.pending())
				for range 5 {
					f.journey()
					f.order()
				}
			case 3:
				f.rollUp()
			}
			requireMatches(t, db, f.svc, f.shopID, zone, f.now, fmt.Sprintf("%s round %d", zone, round))
		}
		var sent int64
		require.NoError(t, db.Raw(`SELECT count(*) FROM journey_messages WHERE shop_id = ? AND status = 'sent'`, f.shopID).Scan(&sent).Error)
		require.Greater(t, sent, int64(50), "the data exercises the figures")
	}
}

// A shopper's redaction deletes their contact (and by cascade enrollments,
// messages, decisions) and orders: the figures follow, rolled up or not;
// erasing the shop leaves nothing, and pending deltas of the gone shop do
// not stop the roll-up.
func TestRedactionKeepsFiguresExact(t *testing.T) {
	t.Parallel()
	db := testenv.DB(t)
	f := newFixture(t, db, "Europe/Paris", 42)
	for range 60 {
		f.journey()
		f.order()
	}
	f.rollUp()
	for range 20 {
		f.journey()
		f.order()
	}
	before := raw(t, db, f.shopID, f.now.Add(-60*24*time.Hour), f.now.Add(48*time.Hour))
	err := db.Transaction(func(tx *gorm.DB) error {
		return contact.PrivacyHolder{}.RedactCustomer(f.ctx, tx, f.domain, shop.CustomerRef{Email: "p1@example.org", ShopifyID: 101})
	})
	require.NoError(t, err)
	f.people = append(f.people[:1], f.people[2:]...)
	after := raw(t, db, f.shopID, f.now.Add(-60*24*time.Hour), f.now.Add(48*time.Hour))
	require.Less(t, after.Sent, before.Sent, "the redaction removed emails")
	require.Less(t, after.ShopOrders, before.ShopOrders, "and orders")
	requireMatches(t, db, f.svc, f.shopID, f.zone, f.now, "after redaction, pending")
	f.rollUp()
	requireMatches(t, db, f.svc, f.shopID, f.zone, f.now, "after redaction, rolled up")

	// Erase the shop with deltas pending: its rows go, the roll-up drops
	// its deltas, another shop's figures are untouched.
	other := newFixture(t, db, "UTC", 43)
	for range 10 {
		other.journey()
		other.order()
		f.journey()
	}
	require.NoError(t, db.Exec(`DELETE FROM shops WHERE id = ?`, f.shopID).Error)
	f.rollUp()
	var left int64
	require.NoError(t, db.Raw(`SELECT (SELECT count(*) FROM metrics_hourly WHERE shop_id = @s) + (SELECT count(*) FROM metrics_deltas WHERE shop_id = @s)`,
		map[string]any{"s": f.shopID}).Scan(&left).Error)
	require.Zero(t, left)
	requireMatches(t, db, other.svc, other.shopID, other.zone, other.now, "the other shop")
}

// Roll-ups running at once, while writers add deltas, count each delta once.
func TestConcurrentRollUpsDoNotDoubleCount(t *testing.T) {
	t.Parallel()
	db := testenv.DB(t)
	f := newFixture(t, db, "Europe/Paris", 7)
	// 20,000 sent emails in bulk statements (one delta per hour and step per
	// statement), then 300 enrollments one statement at a time.
	en := f.enrollment(f.people[0], "welcome")
	for b := range 20 {
		require.NoError(t, db.Exec(`INSERT INTO journey_messages (shop_id, contact_id, enrollment_id, step, step_key, flow_key, flow_version,
			template, class, to_email, status, created_at, sent_at)
			SELECT ?, ?, ?, g, 'hello', 'welcome', 1, 't', 'promotional', 'x@example.org', 'sent', now(), now() - g * interval '7 minutes'
			FROM generate_series(?::int, ?::int) g`, f.shopID, f.people[0], en, b*1000, b*1000+999).Error)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	stop := make(chan struct{})
	for range 2 {
		wg.Go(func() {
			w := *f
			w.rng = rand.New(rand.NewPCG(uint64(seq.Add(1)), 1))
			for range 150 {
				w.journey()
			}
		})
	}
	var folders sync.WaitGroup
	for range 8 {
		folders.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := f.svc.RollUp(f.ctx); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	folders.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	f.rollUp()
	require.Zero(t, f.pending())
	requireMatches(t, db, f.svc, f.shopID, f.zone, f.now, "after concurrent roll-ups")
	var hourly, rawSent int64
	require.NoError(t, db.Raw(`SELECT COALESCE(sum(sent), 0) FROM metrics_hourly WHERE shop_id = ?`, f.shopID).Scan(&hourly).Error)
	require.NoError(t, db.Raw(`SELECT count(*) FROM journey_messages WHERE shop_id = ? AND status = 'sent'`, f.shopID).Scan(&rawSent).Error)
	require.Equal(t, rawSent, hourly, "every email counted once in the hourly rows")
}

// Many writers, in transactions shaped like the engine's (message marked
// sent, decision recorded, attribution and order written, all in the same
// shop and hour), with roll-ups running: no deadlock, no lock wait error,
// and exact figures.
func TestConcurrentWritersDoNotDeadlock(t *testing.T) {
	t.Parallel()
	db := testenv.DB(t)
	f := newFixture(t, db, "Europe/Paris", 9)
	const writers, each = 32, 25
	var ens [writers][each]int64
	var ids [writers][each]int64
	for w := range writers {
		for i := range each {
			ens[w][i] = f.enrollment(f.people[(w+i)%len(f.people)], flowKeys[(w+i)%len(flowKeys)])
			require.NoError(t, db.Raw(`INSERT INTO journey_messages (shop_id, contact_id, enrollment_id, step, step_key, flow_key, flow_version,
				template, class, to_email, status, created_at) VALUES (?, ?, ?, 0, 'reminder-1', ?, 1, 't', 'promotional', 'x@example.org', 'sending', now())
				RETURNING id`, f.shopID, f.people[(w+i)%len(f.people)], ens[w][i], flowKeys[(w+i)%len(flowKeys)]).Scan(&ids[w][i]).Error)
		}
	}
	now := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, writers+1)
	stop := make(chan struct{})
	var folder sync.WaitGroup
	folder.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			if _, err := f.svc.RollUp(f.ctx); err != nil {
				errs <- err
				return
			}
		}
	})
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				c := f.people[(w+i)%len(f.people)]
				order := int64(1_000_000 + w*each + i)
				err := db.Transaction(func(tx *gorm.DB) error {
					if err := tx.Exec(`SELECT id FROM enrollments WHERE id = ? FOR UPDATE`, ens[w][i]).Error; err != nil {
						return err
					}
					if err := tx.Exec(`UPDATE journey_messages SET status = 'sent', sent_at = ? WHERE id = ?`, now, ids[w][i]).Error; err != nil {
						return err
					}
					if err := tx.Exec(`INSERT INTO journey_decisions (shop_id, enrollment_id, contact_id, step, decision, message_id, at)
						VALUES (?, ?, ?, 0, 'sent', ?, ?)`, f.shopID, ens[w][i], c, ids[w][i], now).Error; err != nil {
						return err
					}
					if err := tx.Exec(`INSERT INTO contact_orders (shop_id, order_id, contact_id, total_price, currency, ordered_at, updated_at)
						VALUES (?, ?, ?, 10, 'EUR', ?, ?)`, f.shopID, order, c, now, now).Error; err != nil {
						return err
					}
					return tx.Exec(`INSERT INTO analytics_attributions (shop_id, order_id, contact_id, message_id, enrollment_id, flow_key, step_key,
						model, revenue, recovered, ordered_at) VALUES (?, ?, ?, ?, ?, ?, 'reminder-1', 'click', 10, ?, ?)`,
						f.shopID, order, c, ids[w][i], ens[w][i], flowKeys[(w+i)%len(flowKeys)], (w+i)%len(flowKeys) < 3, now).Error
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	folder.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	s, err := f.svc.Summary(f.ctx, f.shopID, now.Add(-time.Hour), now.Add(time.Hour))
	require.NoError(t, err)
	require.Equal(t, int64(writers*each), s.Sent)
	require.Equal(t, int64(writers*each), s.Orders)
	require.Equal(t, 10.0, s.AOVOverall)
	requireMatches(t, db, f.svc, f.shopID, f.zone, f.now, "after concurrent writers")
}

// withoutMigration is the embedded migrations less one file.
type withoutMigration struct {
	fs.FS
	name string
}

func (w withoutMigration) ReadDir(name string) ([]fs.DirEntry, error) {
	entries, err := fs.ReadDir(w.FS, name)
	if err != nil {
		return nil, err
	}
	out := entries[:0]
	for _, e := range entries {
		if e.Name() != w.name {
			out = append(out, e)
		}
	}
	return out, nil
}

// A database holding messages, decisions, attributions and orders before
// the roll-up existed: the migration backfills it, out of order (after the
// later migrations), and the figures are those of the rows.
func TestMigrationBackfillsExistingRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := platform.OpenDB(ctx, testenv.EmptyDatabaseURL(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = platform.CloseDB(db) })
	sqlDB, err := db.DB()
	require.NoError(t, err)
	_, err = platform.MigrateFS(ctx, sqlDB, withoutMigration{migrations.FS, "0051_metrics_rollup.sql"})
	require.NoError(t, err)
	var tables int64
	require.NoError(t, db.Raw(`SELECT count(*) FROM pg_tables WHERE tablename = 'metrics_hourly'`).Scan(&tables).Error)
	require.Zero(t, tables)

	f := newFixture(t, db, "America/New_York", 11)
	for range 80 {
		f.journey()
		f.order()
	}
	_, err = platform.MigrateFS(ctx, sqlDB, migrations.FS)
	require.NoError(t, err)
	require.Zero(t, f.pending(), "the backfill writes hourly rows, not deltas")
	requireMatches(t, db, f.svc, f.shopID, f.zone, f.now, "backfilled")
	for range 20 {
		f.journey()
		f.order()
	}
	requireMatches(t, db, f.svc, f.shopID, f.zone, f.now, "backfilled, then deltas")
}
