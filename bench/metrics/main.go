// Command metrics benchmarks the admin Home page's API (GET /api/metrics,
// issue 5: p95 < 100 ms for a shop with 1,000,000 messages) on the
// pre-aggregated figures of migrations/0051_metrics_rollup.sql, and what
// their triggers cost the engine's writes.
//
// It creates (and drops first) its own database, relance_metrics_bench, on
// the server of -database-url (loopback only), installs one shop
// (Europe/Paris) and seeds it through the normal tables, so the triggers
// write the deltas: -messages emails over 90 days (95 % sent) in
// enrollments of the default flows, skipped steps, orders of the shop and
// attributions of some of them to an email (3 % of orders cancelled).
// Then, in -rounds interleaved rounds:
//
//	rolled    the deltas rolled up, -requests sequential GET /api/metrics?days=90
//	pending   after -pending un-rolled deltas (single-row writes, as the
//	          engine makes them), the same requests
//	raw       the same period's figures computed from raw rows (sends,
//	          attributions, orders: the queries the Home page used before
//	          the pre-aggregates), -raw-runs times in process
//
// The requests go over HTTP (loopback listener) through the real
// RequireSession middleware with signed session tokens and web.AdminRoutes.
// Last, the write side: -writers goroutines mark messages sent as the engine
// does (message inserted 'sending', then in one transaction: enrollment
// locked, message marked sent, decision recorded), for -write-d with the
// metrics triggers enabled, then disabled, interleaved -write-rounds times.
//
//	go run ./app stack up -dir .data/metricsbench -pg-port 15436 -redis-port 16383
//	go run ./bench/metrics -database-url 'postgres://postgres@127.0.0.1:15436/postgres?sslmode=disable'
package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"

	"github.com/relance/relance/bench/internal/benchdb"
	"github.com/relance/relance/bench/internal/loadgen"
	"github.com/relance/relance/internal/analytics"
	"github.com/relance/relance/internal/discount"
	"github.com/relance/relance/internal/flow"
	"github.com/relance/relance/internal/platform"
	"github.com/relance/relance/internal/shop"
	"github.com/relance/relance/internal/shopify"
	"github.com/relance/relance/internal/web"
)

const (
	benchDB   = "relance_metrics_bench"
	domain    = "bench-metrics.myshopify.com"
	apiKey    = "bench-key"
	apiSecret = "bench-secret"
)

type config struct {
	dbURL    string
	messages int
	contacts int
	orders   int
	requests int
	pending  int
	rounds   int
	rawRuns  int
	writers  int
	writeD   time.Duration
	writeR   int
	days     int
}

func main() {
	var c config
	flag.StringVar(&c.dbURL, "database-url", os.Getenv("DATABASE_URL"), "PostgreSQL server (its database is not touched; the bench creates its own)")
	flag.IntVar(&c.messages, "messages", 1_000_000, "emails of the shop")
	flag.IntVar(&c.contacts, "contacts", 50_000, "contacts of the shop")
	flag.IntVar(&c.orders, "orders", 150_000, "orders of the shop (a quarter attributed to an email)")
	flag.IntVar(&c.requests, "requests", 200, "GET /api/metrics per phase (after 20 warm-up)")
	flag.IntVar(&c.pending, "pending", 10_000, "un-rolled deltas in the pending phase")
	flag.IntVar(&c.rounds, "rounds", 3, "interleaved rounds")
	flag.IntVar(&c.rawRuns, "raw-runs", 5, "runs of the raw-rows computation per round (0: none)")
	flag.IntVar(&c.writers, "writers", 4, "write side: concurrent writers")
	flag.DurationVar(&c.writeD, "write-d", 5*time.Second, "write side: duration of each phase")
	flag.IntVar(&c.writeR, "write-rounds", 6, "write side: interleaved rounds (triggers on, then off)")
	flag.IntVar(&c.days, "days", 90, "the Home page's period (7, 30 or 90)")
	flag.Parse()
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, "metrics bench:", err)
		os.Exit(1)
	}
}

type bench struct {
	c      config
	db     *gorm.DB
	shop   *shop.Shop
	svc    *analytics.Service
	url    string
	client *http.Client
	// nextEnrollment hands out the enrollments prepared for single-row
	// writes (pending deltas and the write side), one message each.
	nextEnrollment atomic.Int64
	lastEnrollment int64
	firstContact   int64
}

func run(ctx context.Context, c config) error {
	if c.dbURL == "" {
		return fmt.Errorf("need -database-url")
	}
	if err := loadgen.RequireLoopback(c.dbURL); err != nil {
		return err
	}
	fmt.Printf("machine: %d CPUs (GOMAXPROCS %d), load average at start: %s\n", runtime.NumCPU(), runtime.GOMAXPROCS(0), loadgen.LoadAvg())
	b, err := setup(ctx, c)
	if err != nil {
		return err
	}
	defer platform.CloseDB(b.db)
	if err := b.seed(ctx); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	srv := b.server()
	defer srv.Close()

	for r := 1; r <= c.rounds; r++ {
		start := time.Now()
		n, err := b.svc.RollUp(ctx)
		if err != nil {
			return err
		}
		fmt.Printf("\nround %d: roll-up folded %d deltas in %s (load %s)\n", r, n, time.Since(start).Round(time.Millisecond), loadgen.LoadAvg())
		if err := b.measure(ctx, "rolled"); err != nil {
			return err
		}
		start = time.Now()
		if err := b.writePending(ctx, c.pending); err != nil {
			return err
		}
		var pending int64
		if err := b.db.Raw(`SELECT count(*) FROM metrics_deltas`).Scan(&pending).Error; err != nil {
			return err
		}
		fmt.Printf("wrote %d single-row sends in %s: %d deltas pending\n", c.pending, time.Since(start).Round(time.Millisecond), pending)
		if err := b.measure(ctx, "pending"); err != nil {
			return err
		}
		if c.rawRuns > 0 {
			var lat []time.Duration
			for range c.rawRuns {
				now := time.Now()
				t0 := time.Now()
				if err := b.rawFigures(ctx, now.Add(-time.Duration(c.days)*24*time.Hour), now); err != nil {
					return err
				}
				lat = append(lat, time.Since(t0))
			}
			report(fmt.Sprintf("raw rows (in process, %d runs)", c.rawRuns), lat)
		}
	}
	if err := b.measurePreview(ctx); err != nil {
		return err
	}
	if err := b.checkExact(ctx); err != nil {
		return err
	}
	if err := b.writeSide(ctx); err != nil {
		return err
	}
	fmt.Printf("\nload average at end: %s\n", loadgen.LoadAvg())
	return nil
}

func setup(ctx context.Context, c config) (*bench, error) {
	db, err := benchdb.Fresh(ctx, c.dbURL, benchDB)
	if err != nil {
		return nil, err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	store, err := shop.NewStore(db, key)
	if err != nil {
		return nil, err
	}
	s, err := store.SaveInstall(ctx, domain, &shopify.Token{AccessToken: "tok", Scopes: []string{"read_orders"}},
		shop.Info{Name: "Bench", Timezone: "Europe/Paris", Currency: "EUR"})
	if err != nil {
		return nil, fmt.Errorf("install shop: %w", err)
	}
	b := &bench{c: c, db: db, shop: s, svc: analytics.New(db, nil)}
	b.client = loadgen.NewClient(1, 30*time.Second)
	return b, nil
}

// flows of the seeded enrollments, weighted: most emails are abandonment
// reminders.
const flowsSQL = `(ARRAY['checkout_abandonment','checkout_abandonment','checkout_abandonment','checkout_abandonment','checkout_abandonment',
	'checkout_abandonment','cart_abandonment','cart_abandonment','cart_abandonment','cart_abandonment','browse_abandonment',
	'browse_abandonment','browse_abandonment','welcome','welcome','welcome','post_purchase','post_purchase','replenishment','nurturing'])`

func (b *bench) exec(ctx context.Context, what, sql string, args ...any) error {
	if err := b.db.WithContext(ctx).Exec(sql, args...).Error; err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// seed writes the shop's history through the normal tables (statements of
// a few tens of thousands of rows: the triggers write one delta per hour
// and step of each), then the enrollments later phases send from.
func (b *bench) seed(ctx context.Context) error {
	start := time.Now()
	shopID := b.shop.ID
	if err := b.db.WithContext(ctx).Raw(`INSERT INTO contacts (shop_id, email, first_name, locale, consent, consent_updated_at, created_at)
		SELECT ?, 'c' || g || '@example.com', 'Alice', 'en', 'subscribed', now(), now() FROM generate_series(1, ?) g RETURNING id`,
		shopID, b.c.contacts).Scan(new([]int64)).Error; err != nil {
		return fmt.Errorf("contacts: %w", err)
	}
	if err := b.db.Raw(`SELECT min(id) FROM contacts WHERE shop_id = ?`, shopID).Scan(&b.firstContact).Error; err != nil {
		return err
	}
	// Two emails per enrollment on average (1 to 3 steps).
	enrollments := b.c.messages / 2
	for lo := 0; lo < enrollments; lo += 100_000 {
		hi := min(lo+100_000, enrollments)
		if err := b.exec(ctx, "enrollments", `INSERT INTO enrollments (shop_id, contact_id, flow_key, flow_version, branch, goal_purchase,
			status, trigger_at, started_at, ended_at)
			SELECT ?, ? + g % ?, `+flowsSQL+`[1 + g % 20], 1, 'default', true, 'completed', t, t, t + interval '3 days'
			FROM (SELECT g, now() - interval '2 days' - random() * interval '88 days' AS t FROM generate_series(?::int, ?::int) g) x`,
			shopID, b.firstContact, b.c.contacts, lo, hi-1); err != nil {
			return err
		}
	}
	var minEn, maxEn int64
	if err := b.db.Raw(`SELECT min(id), max(id) FROM enrollments WHERE shop_id = ?`, shopID).Row().Scan(&minEn, &maxEn); err != nil {
		return err
	}
	messages := 0
	for lo := minEn; lo <= maxEn; lo += 25_000 {
		res := b.db.WithContext(ctx).Exec(`INSERT INTO journey_messages (shop_id, contact_id, enrollment_id, step, step_key, flow_key, flow_version,
			template, class, offer, to_email, status, created_at, sent_at)
			SELECT e.shop_id, e.contact_id, e.id, s, 'reminder-' || (s + 1), e.flow_key, 1, 't', 'promotional', s = 2, 'x@example.com',
				CASE WHEN (e.id * 7 + s) % 100 < 95 THEN 'sent' WHEN (e.id * 7 + s) % 100 < 98 THEN 'failed' ELSE 'cancelled' END,
				e.started_at + s * interval '1 day',
				CASE WHEN (e.id * 7 + s) % 100 < 95 THEN e.started_at + s * interval '1 day' + interval '3 minutes' END
			FROM enrollments e CROSS JOIN generate_series(0, 2) s
			WHERE e.shop_id = ? AND e.id >= ? AND e.id < ? AND s <= (e.id % 3)`, shopID, lo, lo+25_000)
		if res.Error != nil {
			return fmt.Errorf("messages: %w", res.Error)
		}
		messages += int(res.RowsAffected)
	}
	if err := b.exec(ctx, "decisions", `INSERT INTO journey_decisions (shop_id, enrollment_id, contact_id, step, decision, reason, at)
		SELECT shop_id, id, contact_id, 1, 'skipped', 'no_consent', started_at + interval '1 day'
		FROM enrollments WHERE shop_id = ? AND id % 5 = 0`, shopID); err != nil {
		return err
	}
	for lo := 1; lo <= b.c.orders; lo += 50_000 {
		if err := b.exec(ctx, "orders", `INSERT INTO contact_orders (shop_id, order_id, contact_id, total_price, currency, ordered_at, updated_at, cancelled_at)
			SELECT ?, g, ? + g % ?, 20 + (g * 37) % 200 + 0.99, 'EUR', t, t, CASE WHEN g % 33 = 0 THEN t + interval '1 hour' END
			FROM (SELECT g, now() - random() * interval '90 days' AS t FROM generate_series(?::int, ?::int) g) x`,
			shopID, b.firstContact, b.c.contacts, lo, min(lo+49_999, b.c.orders)); err != nil {
			return err
		}
	}
	// A quarter of the orders credited to an email sent (the message is
	// picked by arithmetic over the shop's messages; some are not sent).
	var minMsg, maxMsg int64
	if err := b.db.Raw(`SELECT min(id), max(id) FROM journey_messages WHERE shop_id = ?`, shopID).Row().Scan(&minMsg, &maxMsg); err != nil {
		return err
	}
	if err := b.exec(ctx, "attributions", `INSERT INTO analytics_attributions (shop_id, order_id, contact_id, message_id, enrollment_id, flow_key,
		step_key, model, revenue, currency, recovered, ordered_at, cancelled_at)
		SELECT o.shop_id, o.order_id, o.contact_id, m.id, m.enrollment_id, m.flow_key, m.step_key,
			CASE WHEN m.offer THEN 'discount' ELSE 'click' END, o.total_price, 'EUR',
			m.flow_key IN ('checkout_abandonment', 'cart_abandonment', 'browse_abandonment'), o.ordered_at, o.cancelled_at
		FROM contact_orders o JOIN journey_messages m ON m.id = ?::int8 + (o.order_id * 7919) % (?::int8 - ?::int8 + 1)
		WHERE o.shop_id = ? AND o.order_id % 4 = 0 AND m.status = 'sent'`, minMsg, maxMsg, minMsg, shopID); err != nil {
		return err
	}
	// Enrollments for single-row sends: pending deltas and the write side.
	spare := b.c.rounds*b.c.pending + 100_000
	var first int64
	if err := b.db.Raw(`INSERT INTO enrollments (shop_id, contact_id, flow_key, flow_version, branch, goal_purchase, status, trigger_at, started_at)
		SELECT ?, ? + g % ?, `+flowsSQL+`[1 + g % 20], 1, 'default', true, 'completed', now(), now() FROM generate_series(1, ?) g
		RETURNING id`, shopID, b.firstContact, b.c.contacts, spare).Scan(new([]int64)).Error; err != nil {
		return fmt.Errorf("spare enrollments: %w", err)
	}
	if err := b.db.Raw(`SELECT max(id) - ? + 1, max(id) FROM enrollments WHERE shop_id = ?`, spare, shopID).Row().Scan(&first, &b.lastEnrollment); err != nil {
		return err
	}
	b.nextEnrollment.Store(first)
	var deltas, sent, attributed int64
	b.db.Raw(`SELECT count(*) FROM metrics_deltas`).Scan(&deltas)
	b.db.Raw(`SELECT count(*) FROM journey_messages WHERE status = 'sent'`).Scan(&sent)
	b.db.Raw(`SELECT count(*) FROM analytics_attributions`).Scan(&attributed)
	b.db.Exec(`VACUUM ANALYZE`)
	fmt.Printf("seeded %d messages (%d sent), %d orders (%d attributed) in %s; %d deltas written by the triggers (load %s)\n",
		messages, sent, b.c.orders, attributed, time.Since(start).Round(time.Second), deltas, loadgen.LoadAvg())
	return nil
}

// server is the admin API on a loopback listener behind the real session
// middleware.
func (b *bench) server() *httptest.Server {
	store, _ := shop.NewStore(b.db, make([]byte, 32)) // only reads the shops row: the key decrypts nothing here
	e := echo.New()
	auth := &web.Auth{APIKey: apiKey, Secrets: shopify.Secrets{Current: apiSecret}, Scopes: []string{"read_orders"}, Store: store}
	web.AdminRoutes(e.Group("/api", auth.RequireSession), web.AdminDeps{DB: b.db, Analytics: b.svc,
		Flows: flow.NewStore(b.db), Discounts: discount.New(b.db, nil)})
	srv := httptest.NewServer(e)
	b.url = srv.URL
	return srv
}

func (b *bench) get(ctx context.Context) error {
	return b.call(ctx, http.MethodGet, fmt.Sprintf("/api/metrics?days=%d", b.c.days), "")
}

// previewBody is the editor's live preview of the third cart reminder (an
// offer step: the tier table is read too) with a Liquid subject.
const previewBody = `{"flow":"cart_abandonment","step":"reminder-3","locale":"en",
	"subject":"{{ customer.first_name }}, your cart at {{ shop.name }}","preheader":"Still there",
	"body":"<p>Hello {{ customer.first_name }}</p>\n{{ cart_table }}\n<p>{{ discount.code }}</p>"}`

// call makes one admin API request with a fresh session token.
func (b *bench) call(ctx context.Context, method, path, body string) error {
	now := time.Now()
	tok := shopify.SignSessionToken(apiSecret, shopify.SessionClaims{Shop: domain, Audience: apiKey, UserID: "1",
		ExpiresAt: now.Add(time.Minute), NotBefore: now.Add(-time.Second), IssuedAt: now})
	req, err := http.NewRequestWithContext(ctx, method, b.url+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return err
	}
	if code := loadgen.Drain(resp); code != http.StatusOK {
		return fmt.Errorf("%s %s: %d", method, path, code)
	}
	return nil
}

// measurePreview times the editor's preview (issue 5: < 150 ms).
func (b *bench) measurePreview(ctx context.Context) error {
	lat := make([]time.Duration, 0, b.c.requests)
	for i := range b.c.requests + 20 {
		t0 := time.Now()
		if err := b.call(ctx, http.MethodPost, "/api/preview", previewBody); err != nil {
			return err
		}
		if i >= 20 {
			lat = append(lat, time.Since(t0))
		}
	}
	report(fmt.Sprintf("POST /api/preview (cart reminder-3), %d sequential requests", b.c.requests), lat)
	return nil
}

func (b *bench) measure(ctx context.Context, phase string) error {
	for range 20 {
		if err := b.get(ctx); err != nil {
			return err
		}
	}
	lat := make([]time.Duration, 0, b.c.requests)
	for range b.c.requests {
		t0 := time.Now()
		if err := b.get(ctx); err != nil {
			return err
		}
		lat = append(lat, time.Since(t0))
	}
	report(fmt.Sprintf("%s: GET /api/metrics?days=%d, %d sequential requests", phase, b.c.days, b.c.requests), lat)
	return nil
}

func report(what string, lat []time.Duration) {
	slices.Sort(lat)
	q := func(p float64) time.Duration { return lat[min(len(lat)-1, int(float64(len(lat))*p))] }
	fmt.Printf("  %-70s p50 %8s  p95 %8s  p99 %8s  max %8s  (load %s)\n", what, ms(q(0.50)), ms(q(0.95)), ms(q(0.99)), ms(lat[len(lat)-1]), loadgen.LoadAvg())
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000) }

// writePending sends n emails one statement each (as the engine's sends
// arrive), spread over the period, so n deltas wait for the roll-up.
func (b *bench) writePending(ctx context.Context, n int) error {
	for i := range n {
		en := b.nextEnrollment.Add(1) - 1
		if en > b.lastEnrollment {
			return fmt.Errorf("out of spare enrollments")
		}
		err := b.exec(ctx, "pending send", `INSERT INTO journey_messages (shop_id, contact_id, enrollment_id, step, step_key, flow_key, flow_version,
			template, class, to_email, status, created_at, sent_at)
			SELECT shop_id, contact_id, id, 0, 'reminder-1', flow_key, 1, 't', 'promotional', 'x@example.com', 'sent', t, t
			FROM (SELECT *, now() - (? % 2100) * interval '1 hour' AS t FROM enrollments WHERE id = ?) e`, i*7, en)
		if err != nil {
			return err
		}
	}
	return nil
}

// checkExact compares the API's figures with those of the raw rows.
func (b *bench) checkExact(ctx context.Context) error {
	h, err := b.svc.Home(ctx, b.shop.ID, b.c.days, time.Now())
	if err != nil {
		return err
	}
	var raw struct{ Sent, Orders int64 }
	if err := b.db.Raw(`SELECT
		(SELECT count(*) FROM journey_messages WHERE shop_id = @s AND status = 'sent' AND date_trunc('hour', sent_at, 'UTC') >= @from AND date_trunc('hour', sent_at, 'UTC') < @to) AS sent,
		(SELECT count(*) FROM analytics_attributions WHERE shop_id = @s AND cancelled_at IS NULL AND date_trunc('hour', ordered_at, 'UTC') >= @from AND date_trunc('hour', ordered_at, 'UTC') < @to) AS orders`,
		map[string]any{"s": b.shop.ID, "from": h.From, "to": h.To}).Scan(&raw).Error; err != nil {
		return err
	}
	fmt.Printf("\nexact: API sent %d / raw %d, attributed orders %d / raw %d\n", h.Sent, raw.Sent, h.Orders, raw.Orders)
	if h.Sent != raw.Sent || h.Orders != raw.Orders {
		return fmt.Errorf("the roll-up disagrees with the raw rows")
	}
	return nil
}

var metricsTriggers = map[string][]string{
	"journey_messages":  {"metrics_insert", "metrics_update", "metrics_delete"},
	"journey_decisions": {"metrics_insert", "metrics_update", "metrics_delete"},
}

func (b *bench) triggers(ctx context.Context, on bool) error {
	verb := "DISABLE"
	if on {
		verb = "ENABLE"
	}
	for table, names := range metricsTriggers {
		for _, n := range names {
			if err := b.exec(ctx, "triggers", fmt.Sprintf(`ALTER TABLE %s %s TRIGGER %s`, table, verb, n)); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeSide measures emails marked sent per second, the engine's way, with
// and without the metrics triggers, interleaved.
func (b *bench) writeSide(ctx context.Context) error {
	fmt.Printf("\nwrite side: %d writers, %s per phase (message inserted 'sending'; then one transaction: enrollment locked, "+
		"message marked sent, decision recorded)\n", b.c.writers, b.c.writeD)
	defer b.triggers(ctx, true)
	rates := map[bool][]float64{}
	for r := 1; r <= b.c.writeR; r++ {
		for _, on := range []bool{true, false} {
			if err := b.triggers(ctx, on); err != nil {
				return err
			}
			n, err := b.sends(ctx, b.c.writers, b.c.writeD)
			if err != nil {
				return err
			}
			rate := float64(n) / b.c.writeD.Seconds()
			rates[on] = append(rates[on], rate)
			fmt.Printf("  round %d, triggers %-3s: %7.0f sends/s (load %s)\n", r, map[bool]string{true: "on", false: "off"}[on], rate, loadgen.LoadAvg())
		}
		if _, err := b.svc.RollUp(ctx); err != nil {
			return err
		}
	}
	mean := func(x []float64) float64 {
		s := 0.0
		for _, v := range x {
			s += v
		}
		return s / float64(len(x))
	}
	fmt.Printf("  mean: %.0f sends/s with the triggers, %.0f without (%.1f %%)\n", mean(rates[true]), mean(rates[false]),
		100*(mean(rates[true])/mean(rates[false])-1))
	return b.serverSide(ctx)
}

// serverSendSQL makes n sends the engine's way inside PostgreSQL (no round
// trip, no commit: what is left is the statements and their triggers) from
// fresh enrollments, step 0, and returns the µs per send.
const serverSendSQL = `CREATE OR REPLACE FUNCTION pg_temp.bench_sends(first bigint, n int) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz := clock_timestamp(); e record; mid bigint;
BEGIN
	FOR e IN SELECT id, shop_id, contact_id, flow_key FROM enrollments WHERE id >= first AND id < first + n LOOP
		INSERT INTO journey_messages (shop_id, contact_id, enrollment_id, step, step_key, flow_key, flow_version, template, class,
			to_email, status, created_at)
		VALUES (e.shop_id, e.contact_id, e.id, 0, 'reminder-1', e.flow_key, 1, 't', 'promotional', 'x@example.com', 'sending', now())
		RETURNING id INTO mid;
		PERFORM 1 FROM enrollments WHERE id = e.id FOR UPDATE;
		UPDATE journey_messages SET status = 'sent', sent_at = clock_timestamp() WHERE id = mid;
		INSERT INTO journey_decisions (shop_id, enrollment_id, contact_id, step, decision, message_id, at)
		VALUES (e.shop_id, e.id, e.contact_id, 0, 'sent', mid, now());
	END LOOP;
	RETURN extract(epoch FROM clock_timestamp() - t0) * 1e6 / n;
END $$`

// serverSide measures the triggers' own cost per send, in one session
// (plans cached, as in the app's pooled connections), alternating blocks of
// 400 sends with the triggers on and off; the first block only warms up.
func (b *bench) serverSide(ctx context.Context) error {
	sqlDB, err := b.db.DB()
	if err != nil {
		return err
	}
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, serverSendSQL); err != nil {
		return fmt.Errorf("server-side sends: %w", err)
	}
	const block = 400
	us := map[bool][]float64{}
	for i := range 21 {
		on := i%2 == 0
		verb := map[bool]string{true: "ENABLE", false: "DISABLE"}[on]
		for table, names := range metricsTriggers {
			for _, n := range names {
				if _, err := conn.ExecContext(ctx, fmt.Sprintf(`ALTER TABLE %s %s TRIGGER %s`, table, verb, n)); err != nil {
					return err
				}
			}
		}
		first := b.nextEnrollment.Add(block) - block
		if first+block-1 > b.lastEnrollment {
			return fmt.Errorf("out of spare enrollments")
		}
		var v float64
		if err := conn.QueryRowContext(ctx, `SELECT pg_temp.bench_sends($1, $2)`, first, block).Scan(&v); err != nil {
			return fmt.Errorf("server-side sends: %w", err)
		}
		if i > 0 {
			us[on] = append(us[on], v)
		}
	}
	if err := b.triggers(ctx, true); err != nil {
		return err
	}
	med := func(x []float64) float64 { slices.Sort(x); return x[len(x)/2] }
	on, off := med(us[true]), med(us[false])
	fmt.Printf("  in PostgreSQL, one session, 10 blocks of %d sends each way: median %.0f µs/send with the triggers, %.0f without "+
		"(+%.0f µs, +%.0f %%) (load %s)\n", block, on, off, on-off, 100*(on/off-1), loadgen.LoadAvg())
	return nil
}

func (b *bench) sends(ctx context.Context, writers int, d time.Duration) (int64, error) {
	var done atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	deadline := time.Now().Add(d)
	for range writers {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				en := b.nextEnrollment.Add(1) - 1
				if en > b.lastEnrollment {
					errs <- fmt.Errorf("out of spare enrollments")
					return
				}
				var msg struct {
					ID        int64
					ContactID int64
				}
				if err := b.db.WithContext(ctx).Raw(`INSERT INTO journey_messages (shop_id, contact_id, enrollment_id, step, step_key, flow_key,
					flow_version, template, class, to_email, status, created_at)
					SELECT shop_id, contact_id, id, 0, 'reminder-1', flow_key, 1, 't', 'promotional', 'x@example.com', 'sending', now()
					FROM enrollments WHERE id = ? RETURNING id, contact_id`, en).Scan(&msg).Error; err != nil {
					errs <- err
					return
				}
				err := b.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
					if err := tx.Exec(`SELECT id FROM enrollments WHERE id = ? FOR UPDATE`, en).Error; err != nil {
						return err
					}
					if err := tx.Exec(`UPDATE journey_messages SET status = 'sent', sent_at = now() WHERE id = ?`, msg.ID).Error; err != nil {
						return err
					}
					return tx.Exec(`INSERT INTO journey_decisions (shop_id, enrollment_id, contact_id, step, decision, message_id, at)
						VALUES (?, ?, ?, 0, 'sent', ?, now())`, b.shop.ID, en, msg.ContactID, msg.ID).Error
				})
				if err != nil {
					errs <- err
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return done.Load(), err
	}
	return done.Load(), nil
}

// rawFigures computes the Home page's figures for [from, to) from the raw
// rows, as before the pre-aggregates: emails sent and abandonments reached,
// attributed and recovered orders and revenue, and the shop's overall AOV.
func (b *bench) rawFigures(ctx context.Context, from, to time.Time) error {
	var out struct {
		Sent, Reached, Orders, Recovered int64
		Revenue, RecoveredRevenue, AOV   float64
	}
	err := b.db.WithContext(ctx).Raw(`SELECT
	(SELECT count(*) FROM journey_messages WHERE shop_id = @s AND status = 'sent' AND sent_at >= @from AND sent_at < @to) AS sent,
	(SELECT count(DISTINCT enrollment_id) FROM journey_messages WHERE shop_id = @s AND status = 'sent' AND sent_at >= @from AND sent_at < @to
		AND flow_key IN ('checkout_abandonment', 'cart_abandonment', 'browse_abandonment')) AS reached,
	(SELECT count(*) FROM analytics_attributions WHERE shop_id = @s AND cancelled_at IS NULL AND ordered_at >= @from AND ordered_at < @to) AS orders,
	(SELECT count(*) FILTER (WHERE recovered) FROM analytics_attributions WHERE shop_id = @s AND cancelled_at IS NULL AND ordered_at >= @from AND ordered_at < @to) AS recovered,
	(SELECT COALESCE(sum(revenue), 0)::float8 FROM analytics_attributions WHERE shop_id = @s AND cancelled_at IS NULL AND ordered_at >= @from AND ordered_at < @to) AS revenue,
	(SELECT COALESCE(sum(revenue) FILTER (WHERE recovered), 0)::float8 FROM analytics_attributions WHERE shop_id = @s AND cancelled_at IS NULL AND ordered_at >= @from AND ordered_at < @to) AS recovered_revenue,
	(SELECT COALESCE(avg(total_price), 0)::float8 FROM contact_orders WHERE shop_id = @s AND cancelled_at IS NULL AND ordered_at >= @from AND ordered_at < @to) AS aov`,
		map[string]any{"s": b.shop.ID, "from": from, "to": to}).Scan(&out).Error
	if err != nil {
		return fmt.Errorf("raw figures: %w", err)
	}
	return nil
}
