// Command journey benchmarks the sequence engine against real PostgreSQL and
// Redis (loopback only, bounded in time), for the targets of issue 3:
//
//	-mode trigger   trigger events applied per second by one process
//	                (journey.Engine.Trigger, checkout_started for distinct
//	                contacts, then newer updates of the same checkouts)
//	-mode lateness  due steps handed to the Sender, lateness vs due time,
//	                while -rate steps/s fall due (real asynq server,
//	                DelayedTaskCheckInterval 1 s, the pump every second)
//	-mode scale     1,000,000 waiting enrollments: PostgreSQL bytes per
//	                enrollment, Redis memory with the pump running, and a
//	                pump pass timed at 10,000 and at 1,000,000 waiting
//
// It creates (and drops first) its own database, relance_journey_bench, on
// the server of -database-url, and uses Redis database -redis-db, which it
// flushes.
//
//	go run ./app stack up -dir .data/bench -pg-port 15434 -redis-port 16381
//	go run ./bench/journey -mode all \
//	    -database-url 'postgres://postgres@127.0.0.1:15434/postgres?sslmode=disable' \
//	    -redis-url redis://127.0.0.1:16381/0
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"gorm.io/gorm"

	"github.com/relance/relance/bench/internal/benchdb"
	"github.com/relance/relance/bench/internal/loadgen"
	"github.com/relance/relance/internal/flow"
	"github.com/relance/relance/internal/journey"
	"github.com/relance/relance/internal/platform"
)

const benchDB = "relance_journey_bench"

type config struct {
	mode           string
	dbURL          string
	redisURL       string
	redisDB        int
	concurrency    int
	duration       time.Duration
	warmup         time.Duration
	rate           int
	window         time.Duration
	workers        int
	taskCheck      time.Duration
	stepBatch      int
	noMetrics      bool
	waiting        int
	small          int
	passes         int
	triggerPrefil  int
	triggerWaiting int
	batch          int
}

func main() {
	var c config
	flag.StringVar(&c.mode, "mode", "all", "trigger | lateness | scale | all")
	flag.StringVar(&c.dbURL, "database-url", os.Getenv("DATABASE_URL"), "PostgreSQL server (its database is not touched; the bench creates its own)")
	flag.StringVar(&c.redisURL, "redis-url", os.Getenv("REDIS_URL"), "Redis server")
	flag.IntVar(&c.redisDB, "redis-db", 9, "Redis database number to use (flushed)")
	flag.IntVar(&c.concurrency, "c", 32, "trigger: concurrent goroutines")
	flag.DurationVar(&c.duration, "d", 20*time.Second, "trigger: measured duration of each phase")
	flag.DurationVar(&c.warmup, "warmup", 3*time.Second, "trigger: unmeasured warm-up")
	flag.IntVar(&c.batch, "batch", 1, "trigger: events per call (1: Engine.Trigger; more: Engine.TriggerBatch)")
	flag.IntVar(&c.triggerWaiting, "waiting-before", 100_000, "trigger: other contacts already waiting in a flow before the run")
	flag.IntVar(&c.triggerPrefil, "contacts", 400_000, "trigger: contacts created beforehand (must exceed what -d consumes)")
	flag.IntVar(&c.rate, "rate", 1000, "lateness: steps falling due per second")
	flag.DurationVar(&c.window, "window", 60*time.Second, "lateness: how long steps keep falling due")
	flag.IntVar(&c.workers, "workers", 20, "lateness: asynq Concurrency (the app's)")
	flag.BoolVar(&c.noMetrics, "no-metrics-triggers", false, "disable the KPI delta triggers of migrations/0051 (to measure what they cost the engine)")
	flag.IntVar(&c.stepBatch, "step-batch", 0, "lateness: step tasks run together at most (journey.Options.StepBatch; 0: the engine's default, 1: each alone)")
	flag.DurationVar(&c.taskCheck, "task-check", 0, "lateness: asynq TaskCheckInterval (0: asynq's default, 1 s, as the app runs)")
	flag.IntVar(&c.waiting, "waiting", 1_000_000, "scale: waiting enrollments at the large size")
	flag.IntVar(&c.small, "small", 10_000, "scale: waiting enrollments at the small size")
	flag.IntVar(&c.passes, "passes", 200, "scale: pump passes timed at each size")
	flag.Parse()
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, "journey bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, c config) error {
	if err := loopbackOnly(c.dbURL, c.redisURL); err != nil {
		return err
	}
	fmt.Printf("machine: %d CPUs (GOMAXPROCS %d), load average at start: %s\n", runtime.NumCPU(), runtime.GOMAXPROCS(0), loadgen.LoadAvg())
	modes := []string{c.mode}
	if c.mode == "all" {
		modes = []string{"trigger", "lateness", "scale"}
	}
	for _, m := range modes {
		b, err := setup(ctx, c)
		if err != nil {
			return err
		}
		switch m {
		case "trigger":
			err = b.trigger(ctx)
		case "lateness":
			err = b.lateness(ctx)
		case "scale":
			err = b.scale(ctx)
		default:
			err = fmt.Errorf("unknown -mode %q", m)
		}
		b.close()
		if err != nil {
			return fmt.Errorf("%s: %w", m, err)
		}
		fmt.Printf("load average after %s: %s\n\n", m, loadgen.LoadAvg())
	}
	return nil
}

func loopbackOnly(urls ...string) error {
	for _, raw := range urls {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			return fmt.Errorf("need -database-url and -redis-url (got %q)", raw)
		}
		host := u.Hostname()
		ip := net.ParseIP(host)
		if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return fmt.Errorf("%s is not a loopback address: this bench only runs against local servers", host)
		}
	}
	return nil
}

type bench struct {
	c        config
	db       *gorm.DB
	redisOpt asynq.RedisClientOpt
	rdb      *redis.Client
	client   *asynq.Client
	shop     int64
}

// setup recreates the bench database, migrates it, flushes the Redis
// database, and installs one shop with every default flow switched on, no
// quiet hours and no frequency cap (so lateness measures the engine, not
// the rules).
func setup(ctx context.Context, c config) (*bench, error) {
	db, err := benchdb.Fresh(ctx, c.dbURL, benchDB)
	if err != nil {
		return nil, err
	}
	if c.noMetrics {
		for _, t := range []string{"journey_messages", "journey_decisions", "analytics_attributions", "contact_orders"} {
			if err := db.Exec(fmt.Sprintf(`ALTER TABLE %s DISABLE TRIGGER USER`, t)).Error; err != nil {
				return nil, fmt.Errorf("disable triggers on %s: %w", t, err)
			}
		}
	}
	ru, _ := url.Parse(c.redisURL)
	opt := asynq.RedisClientOpt{Addr: ru.Host, DB: c.redisDB}
	rdb := redis.NewClient(&redis.Options{Addr: ru.Host, DB: c.redisDB})
	if err := rdb.FlushDB(ctx).Err(); err != nil {
		return nil, fmt.Errorf("flush redis db %d: %w", c.redisDB, err)
	}
	b := &bench{c: c, db: db, redisOpt: opt, rdb: rdb, client: asynq.NewClient(opt)}
	if err := db.Raw(`INSERT INTO shops (domain, timezone) VALUES ('bench-journey.myshopify.com', 'Europe/Paris') RETURNING id`).Scan(&b.shop).Error; err != nil {
		return nil, err
	}
	eng := b.engine(nil, 0)
	if err := eng.Flows().EnsureDefaults(ctx, b.shop); err != nil {
		return nil, err
	}
	for _, k := range flow.Keys {
		if err := eng.Flows().SetEnabled(ctx, b.shop, k, true); err != nil {
			return nil, err
		}
	}
	s := journey.DefaultSettings()
	s.QuietStart, s.QuietEnd, s.FrequencyCapHours, s.RemindersWithoutConsent = "00:00", "00:00", 0, true
	if err := eng.SaveSettings(ctx, b.shop, s); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *bench) close() {
	b.client.Close()
	b.rdb.Close()
	platform.CloseDB(b.db)
}

func (b *bench) engine(sender journey.Sender, horizon time.Duration) *journey.Engine {
	if sender == nil {
		sender = nopSender{}
	}
	return journey.New(journey.Options{DB: b.db, Queue: b.client, Sender: sender, Horizon: horizon, StepBatch: b.c.stepBatch,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

type nopSender struct{}

func (nopSender) Send(context.Context, journey.Message) error { return nil }

// addContacts inserts n subscribed contacts (in chunks) and returns the
// first id.
func (b *bench) addContacts(ctx context.Context, n int, prefix string) (int64, error) {
	var first int64 = -1
	for done := 0; done < n; {
		k := min(100_000, n-done)
		var ids []int64
		err := b.db.WithContext(ctx).Raw(`INSERT INTO contacts (shop_id, email, first_name, locale, consent, consent_updated_at, created_at)
			SELECT ?, ? || g || '@example.com', 'Alice', 'en', 'subscribed', now(), now() FROM generate_series(?::bigint, ?::bigint) g
			RETURNING id`, b.shop, prefix, done, done+k-1).Scan(&ids).Error
		if err != nil {
			return 0, err
		}
		if first < 0 {
			first = slices.Min(ids)
		}
		done += k
	}
	return first, nil
}

// checkoutContext is what the checkouts handler stores with a checkout
// abandonment enrollment, at realistic sizes.
const checkoutContextSQL = `jsonb_build_object(
	'checkout_token', md5(c.id::text),
	'recovery_url', 'https://bench-journey.myshopify.com/7362/checkouts/ac/' || md5(c.id::text) || '/recover' || chr(63) || 'key=' || md5('k' || c.id),
	'cart_token', 'Z2NwLWV1cm9wZS13ZXN0NDowMUhH' || upper(substr(md5('c' || c.id), 1, 24)),
	'checkout_id', (35000000000000 + c.id)::text,
	'total_price', '129.90', 'currency', 'EUR', 'usable_life_days', '30')`

// addEnrollments gives the contacts [from, from+n) an active checkout
// abandonment enrollment at step 0, due at dueSQL (an expression of g, the
// 0-based index, and ? the reference time).
func (b *bench) addEnrollments(ctx context.Context, from int64, n int, dueSQL string, ref time.Time) error {
	for done := 0; done < n; {
		k := min(100_000, n-done)
		err := b.db.WithContext(ctx).Exec(`INSERT INTO enrollments (shop_id, contact_id, flow_key, flow_version, branch, goal_purchase, ladder,
				status, subject, context, trigger_at, step, next_run_at, started_at, updated_at)
			SELECT c.shop_id, c.id, 'checkout_abandonment', 1, 'main', true, 3, 'active', md5(c.id::text), `+checkoutContextSQL+`,
			       ?, 0, `+dueSQL+`, ?, ?
			FROM contacts c, LATERAL (SELECT c.id - ?::bigint AS g) x
			WHERE c.shop_id = ? AND c.id >= ? AND c.id < ?`,
			ref, ref, ref, from, b.shop, from+int64(done), from+int64(done+k)).Error
		if err != nil {
			return err
		}
		done += k
	}
	return nil
}

// ---------------------------------------------------------------- trigger

func (b *bench) trigger(ctx context.Context) error {
	c := b.c
	api := "journey.Engine.Trigger"
	if c.batch > 1 {
		api = fmt.Sprintf("journey.Engine.TriggerBatch (%d events per call)", c.batch)
	}
	fmt.Printf("== trigger: %s, %d goroutines, %s measured after %s warm-up\n", api, c.concurrency, c.duration, c.warmup)
	first, err := b.addContacts(ctx, c.triggerPrefil, "t")
	if err != nil {
		return err
	}
	// Production tables are never empty: other shoppers wait in flows. Without
	// them the planner works from an empty table's statistics, which no
	// deployment has, and autovacuum does not catch up within a run.
	if c.triggerWaiting > 0 {
		from, err := b.addContacts(ctx, c.triggerWaiting, "w")
		if err != nil {
			return err
		}
		if err := b.addEnrollmentsDue(ctx, from, c.triggerWaiting, `?::timestamptz + interval '1 hour' + g * interval '1 second'`, time.Now()); err != nil {
			return err
		}
	}
	if err := b.db.Exec(`VACUUM ANALYZE contacts`).Error; err != nil {
		return err
	}
	if err := b.db.Exec(`VACUUM ANALYZE enrollments`).Error; err != nil {
		return err
	}
	eng := b.engine(nil, 0)
	start := time.Now()

	var next atomic.Int64
	phase := func(name string, ids func() (int64, bool), ev func(id int64, at time.Time) journey.Event) error {
		var ok, failed atomic.Int64
		var mu sync.Mutex
		var lat []time.Duration
		measuring := atomic.Bool{}
		stopAt := time.Now().Add(c.warmup + c.duration)
		go func() { time.Sleep(c.warmup); measuring.Store(true) }()
		var measuredFrom time.Time
		var fromOnce sync.Once
		var cpu0 cpuSample
		go func() { time.Sleep(c.warmup); cpu0 = b.cpu() }()
		var wg sync.WaitGroup
		for range c.concurrency {
			wg.Go(func() {
				local := make([]time.Duration, 0, 1<<14)
				evs := make([]journey.Event, 0, c.batch)
				for time.Now().Before(stopAt) && ctx.Err() == nil {
					t0 := time.Now()
					evs = evs[:0]
					for range c.batch {
						id, more := ids()
						if !more {
							break
						}
						evs = append(evs, ev(id, t0))
					}
					if len(evs) == 0 {
						break
					}
					var err error
					if c.batch == 1 {
						err = eng.Trigger(ctx, evs[0])
					} else {
						err = eng.TriggerBatch(ctx, evs)
					}
					if !measuring.Load() {
						continue
					}
					fromOnce.Do(func() { measuredFrom = t0 })
					if err != nil {
						failed.Add(int64(len(evs)))
						continue
					}
					ok.Add(int64(len(evs)))
					local = append(local, time.Since(t0))
				}
				mu.Lock()
				lat = append(lat, local...)
				mu.Unlock()
			})
		}
		wg.Wait()
		elapsed := time.Since(measuredFrom)
		cpu := b.cpu().sub(cpu0)
		// Latencies are per call (a whole batch with -batch).
		fmt.Printf("  %-44s %8.0f events/s   p50 %6.2f ms   p99 %6.2f ms per call   (%d ok, %d failed in %.1f s)\n", name,
			float64(ok.Load())/elapsed.Seconds(), ms(pct(lat, 50)), ms(pct(lat, 99)), ok.Load(), failed.Load(), elapsed.Seconds())
		fmt.Printf("  %-44s CPU per event: bench %.0f µs + PostgreSQL %.0f µs = %.0f µs (→ %.0f events/s on 2 idle cores)\n", "",
			cpu.per(cpu.self, ok.Load()), cpu.per(cpu.server, ok.Load()), cpu.per(cpu.self+cpu.server, ok.Load()),
			2/max((cpu.self+cpu.server).Seconds()/float64(max(ok.Load(), 1)), 1e-9))
		if ok.Load() == 0 {
			return errors.New("no event applied")
		}
		return nil
	}
	limit := first + int64(c.triggerPrefil)
	fresh := func() (int64, bool) {
		id := first + next.Add(1) - 1
		return id, id < limit
	}
	checkout := func(id int64, at time.Time) journey.Event {
		tok := "tok-" + strconv.FormatInt(id, 10)
		return journey.Event{ShopID: b.shop, ContactID: id, Trigger: flow.CheckoutStarted, At: at, Subject: tok,
			Context: map[string]string{"checkout_token": tok, "cart_token": "cart-" + tok, "total_price": "129.90", "currency": "EUR",
				"recovery_url": "https://bench-journey.myshopify.com/checkouts/" + tok + "/recover"}}
	}
	if err := phase("checkout_started, new contact → enrollment", fresh, checkout); err != nil {
		return err
	}
	enrolled := next.Load()
	var again atomic.Int64
	repeat := func() (int64, bool) {
		n := again.Add(1) - 1
		return first + n%enrolled, true
	}
	if err := phase("checkout_started, same checkout updated", repeat, checkout); err != nil {
		return err
	}
	var n int64
	b.db.Raw(`SELECT count(*) FROM enrollments`).Scan(&n)
	fmt.Printf("  enrollments created: %d (one per contact triggered; total run %.0f s)\n", n-int64(c.triggerWaiting), time.Since(start).Seconds())
	return nil
}

// ---------------------------------------------------------------- lateness

// lateSender records, for each message, how late it was handed over
// compared with its step's due time.
type lateSender struct {
	mu   sync.Mutex
	due  map[int64]time.Time // enrollment → due time
	late []time.Duration
	seen map[int64]bool
}

func (s *lateSender) Send(_ context.Context, m journey.Message) error {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen[m.EnrollmentID] {
		return nil
	}
	s.seen[m.EnrollmentID] = true
	if due, ok := s.due[m.EnrollmentID]; ok {
		s.late = append(s.late, now.Sub(due))
	}
	return nil
}

func (b *bench) lateness(ctx context.Context) error {
	c := b.c
	horizon := 2 * time.Minute // the engine's default
	total := int(float64(c.rate) * c.window.Seconds())
	fmt.Printf("== lateness: %d steps/s fall due for %s (%d steps), asynq Concurrency %d, DelayedTaskCheckInterval 1 s, TaskCheckInterval %s, pump every 1 s, horizon %s, step batch %d\n",
		c.rate, c.window, total, c.workers, cmp.Or(c.taskCheck, time.Second), horizon, cmp.Or(c.stepBatch, journey.DefaultStepBatch))
	first, err := b.addContacts(ctx, total, "l")
	if err != nil {
		return err
	}
	// Due times start once the pump has had a few passes with nothing in
	// its horizon, so the run is in steady state: steps enter the horizon
	// at -rate per second, as they would in production.
	lead := horizon + 15*time.Second
	t0 := time.Now().Add(lead).Truncate(time.Second)
	dueSQL := fmt.Sprintf(`?::timestamptz + (g * interval '1 microsecond' * %d)`, int64(time.Second/time.Microsecond)/int64(c.rate))
	if err := b.addEnrollmentsDue(ctx, first, total, dueSQL, t0); err != nil {
		return err
	}
	b.db.Exec(`VACUUM ANALYZE contacts`)
	b.db.Exec(`VACUUM ANALYZE enrollments`)
	sender := &lateSender{due: map[int64]time.Time{}, seen: map[int64]bool{}}
	var rows []struct {
		ID        int64
		NextRunAt time.Time
	}
	if err := b.db.Raw(`SELECT id, next_run_at FROM enrollments`).Scan(&rows).Error; err != nil {
		return err
	}
	for _, r := range rows {
		sender.due[r.ID] = r.NextRunAt
	}
	eng := b.engine(sender, horizon)

	srv := asynq.NewServer(b.redisOpt, asynq.Config{Concurrency: c.workers, Queues: platform.Queues,
		DelayedTaskCheckInterval: time.Second, TaskCheckInterval: c.taskCheck, Logger: quietAsynq{}})
	mux := asynq.NewServeMux()
	mux.HandleFunc(journey.TypeRunStep, eng.HandleRunStep)
	if err := srv.Start(mux); err != nil {
		return err
	}
	defer srv.Shutdown()

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var pumpMu sync.Mutex
	var passes []time.Duration
	var pumpErrs int
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			p0 := time.Now()
			_, err := eng.Pump(runCtx)
			pumpMu.Lock()
			passes = append(passes, time.Since(p0))
			if err != nil && runCtx.Err() == nil {
				pumpErrs++
			}
			pumpMu.Unlock()
			select {
			case <-runCtx.Done():
				return
			case <-t.C:
			}
		}
	}()
	var peakRedis int64
	var cpu0 cpuSample
	cpuTimer := time.AfterFunc(time.Until(t0), func() { cpu0 = b.cpu() })
	defer cpuTimer.Stop()
	deadline := t0.Add(c.window + 60*time.Second)
	fmt.Printf("  first step due in %.0f s; waiting until all %d are sent or %s\n", time.Until(t0).Seconds(), total, deadline.Format("15:04:05"))
	for time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(time.Second)
		if m := usedMemory(ctx, b.rdb); m > peakRedis {
			peakRedis = m
		}
		sender.mu.Lock()
		n := len(sender.late)
		sender.mu.Unlock()
		if n >= total {
			break
		}
	}
	cpu := b.cpu().sub(cpu0)
	cancel()
	sender.mu.Lock()
	late := slices.Clone(sender.late)
	sender.mu.Unlock()
	early := 0
	for _, l := range late {
		if l < 0 {
			early++
		}
	}
	within := 0
	for _, l := range late {
		if l <= time.Second {
			within++
		}
	}
	pumpMu.Lock()
	ps := slices.Clone(passes)
	pumpMu.Unlock()
	fmt.Printf("  sent %d of %d; lateness (send − due): p50 %.0f ms, p90 %.0f ms, p99 %.0f ms, max %.0f ms; early (score rounded to the second): %d; within 1 s: %.2f%%\n",
		len(late), total, ms(pct(late, 50)), ms(pct(late, 90)), ms(pct(late, 99)), ms(pct(late, 100)), early, 100*float64(within)/float64(max(len(late), 1)))
	fmt.Printf("  pump passes: %d, p50 %.1f ms, p99 %.1f ms, max %.1f ms, errors %d; Redis used_memory peak %.1f MB\n",
		len(ps), ms(pct(ps, 50)), ms(pct(ps, 99)), ms(pct(ps, 100)), pumpErrs, float64(peakRedis)/1e6)
	n := int64(len(late))
	fmt.Printf("  CPU per step sent, from the first due time (pump and asynq included): bench %.0f µs + PostgreSQL %.0f µs = %.0f µs (→ %.0f steps/s on 2 idle cores; Redis not counted)\n",
		cpu.per(cpu.self, n), cpu.per(cpu.server, n), cpu.per(cpu.self+cpu.server, n), 2/max((cpu.self+cpu.server).Seconds()/float64(max(n, 1)), 1e-9))
	return nil
}

// addEnrollmentsDue is addEnrollments for a due-time expression with one
// reference-time parameter.
func (b *bench) addEnrollmentsDue(ctx context.Context, from int64, n int, dueSQL string, ref time.Time) error {
	return b.addEnrollments(ctx, from, n, strings.Replace(dueSQL, "?", fmt.Sprintf("'%s'", ref.UTC().Format(time.RFC3339Nano)), 1), ref)
}

type quietAsynq struct{}

func (quietAsynq) Debug(...any) {}
func (quietAsynq) Info(...any)  {}
func (quietAsynq) Warn(...any)  {}
func (quietAsynq) Error(a ...any) {
	fmt.Fprintln(os.Stderr, append([]any{"asynq:"}, a...)...)
}
func (quietAsynq) Fatal(a ...any) {
	fmt.Fprintln(os.Stderr, append([]any{"asynq fatal:"}, a...)...)
	os.Exit(1)
}

func usedMemory(ctx context.Context, rdb *redis.Client) int64 {
	info, err := rdb.Info(ctx, "memory").Result()
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

// ---------------------------------------------------------------- scale

func (b *bench) scale(ctx context.Context) error {
	c := b.c
	fmt.Printf("== scale: %d then %d waiting enrollments (due between 1 h and 3 days from now), plus the same 500 steps due within the pump's horizon\n",
		c.small, c.waiting)
	eng := b.engine(nil, 0)
	// The 500 steps in the horizon: the same at both sizes.
	hot, err := b.addContacts(ctx, 500, "h")
	if err != nil {
		return err
	}
	if err := b.addEnrollmentsDue(ctx, hot, 500, `?::timestamptz + interval '1 hour'`, time.Now()); err != nil {
		return err
	}
	measure := func() error {
		if err := b.db.Exec(`VACUUM ANALYZE enrollments`).Error; err != nil {
			return err
		}
		b.db.Exec(`VACUUM ANALYZE contacts`)
		var waiting int64
		b.db.Raw(`SELECT count(*) FROM enrollments WHERE status = 'active'`).Scan(&waiting)
		if err := b.rdb.FlushDB(ctx).Err(); err != nil {
			return err
		}
		rdbBase := usedMemory(ctx, b.rdb)
		// Bring the 500 into the horizon (60–100 s ahead), not yet offered.
		if err := b.db.Exec(`UPDATE enrollments SET next_run_at = now() + interval '60 seconds' + (id % 500) * interval '80 milliseconds',
			enqueued_for = NULL WHERE contact_id >= ? AND contact_id < ?`, hot, hot+500).Error; err != nil {
			return err
		}
		p0 := time.Now()
		offered, err := eng.Pump(ctx)
		if err != nil {
			return err
		}
		firstPass := time.Since(p0)
		var passes []time.Duration
		for range c.passes {
			p0 := time.Now()
			n, err := eng.Pump(ctx)
			if err != nil {
				return err
			}
			if n != 0 {
				return fmt.Errorf("a steady-state pass offered %d tasks", n)
			}
			passes = append(passes, time.Since(p0))
			time.Sleep(20 * time.Millisecond)
		}
		scheduled, _ := b.rdb.ZCard(ctx, "asynq:{"+platform.QueueDefault+"}:scheduled").Result()
		mem := usedMemory(ctx, b.rdb)
		fmt.Printf("  %9d waiting: first pass (offers %d) %.1f ms; steady pass p50 %.2f ms, p99 %.2f ms, max %.2f ms over %d passes; "+
			"Redis scheduled tasks %d, used_memory %.2f MB (%.2f MB above the empty database)\n",
			waiting, offered, ms(firstPass), ms(pct(passes, 50)), ms(pct(passes, 99)), ms(pct(passes, 100)), len(passes),
			scheduled, float64(mem)/1e6, float64(mem-rdbBase)/1e6)
		return nil
	}
	later := `?::timestamptz + interval '1 hour' + (g % 1000000) * interval '255 milliseconds'` // spread over ~3 days
	from, err := b.addContacts(ctx, c.small, "s")
	if err != nil {
		return err
	}
	if err := b.addEnrollmentsDue(ctx, from, c.small, later, time.Now()); err != nil {
		return err
	}
	if err := measure(); err != nil {
		return err
	}
	t0 := time.Now()
	rest := c.waiting - c.small
	from, err = b.addContacts(ctx, rest, "w")
	if err != nil {
		return err
	}
	if err := b.addEnrollmentsDue(ctx, from, rest, later, time.Now()); err != nil {
		return err
	}
	fmt.Printf("  (inserted %d more contacts and enrollments in %.0f s)\n", rest, time.Since(t0).Seconds())
	if err := measure(); err != nil {
		return err
	}
	var sz struct {
		Total, Heap, Indexes, Toast int64
		Rows                        int64
		Contacts, ContactRows       int64
	}
	b.db.Raw(`SELECT pg_total_relation_size('enrollments') AS total, pg_relation_size('enrollments') AS heap,
		pg_indexes_size('enrollments') AS indexes,
		coalesce(pg_total_relation_size(nullif(reltoastrelid, 0)), 0) AS toast,
		(SELECT count(*) FROM enrollments) AS rows,
		pg_total_relation_size('contacts') AS contacts, (SELECT count(*) FROM contacts) AS contact_rows
		FROM pg_class WHERE relname = 'enrollments'`).Scan(&sz)
	fmt.Printf("  PostgreSQL, enrollments: %d rows, %.1f MB total = heap %.1f MB + indexes %.1f MB + toast %.1f MB → %d bytes per enrollment\n",
		sz.Rows, float64(sz.Total)/1e6, float64(sz.Heap)/1e6, float64(sz.Indexes)/1e6, float64(sz.Toast)/1e6, sz.Total/max(sz.Rows, 1))
	var idx []struct {
		Name string
		Size int64
	}
	b.db.Raw(`SELECT indexrelid::regclass::text AS name, pg_relation_size(indexrelid) AS size FROM pg_index
		WHERE indrelid = 'enrollments'::regclass ORDER BY 2 DESC`).Scan(&idx)
	for _, i := range idx {
		fmt.Printf("    index %-28s %7.1f MB\n", i.Name, float64(i.Size)/1e6)
	}
	fmt.Printf("  (contacts, for reference: %d rows, %d bytes per contact with their indexes)\n", sz.ContactRows, sz.Contacts/max(sz.ContactRows, 1))
	return nil
}

// ---------------------------------------------------------------- CPU

// cpuSample is the CPU time used so far by this process and by the
// PostgreSQL server (postmaster, its children, live and reaped): a cost per
// event that does not depend on how busy the shared machine is.
type cpuSample struct{ self, server time.Duration }

func (a cpuSample) sub(b cpuSample) cpuSample { return cpuSample{a.self - b.self, a.server - b.server} }

func (a cpuSample) per(d time.Duration, n int64) float64 {
	return float64(d) / float64(time.Microsecond) / float64(max(n, 1))
}

func (b *bench) cpu() cpuSample {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	self := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	var backend int
	if err := b.db.Raw(`SELECT pg_backend_pid()`).Scan(&backend).Error; err != nil {
		return cpuSample{self: self}
	}
	postmaster := procStat(backend)
	if postmaster == nil {
		return cpuSample{self: self}
	}
	ppid := postmaster[1]
	pm := procStat(int(ppid))
	if pm == nil {
		return cpuSample{self: self}
	}
	ticks := pm[11] + pm[12] + pm[13] + pm[14] // utime stime cutime cstime
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st := procStat(pid); st != nil && st[1] == ppid && pid != int(ppid) {
			ticks += st[11] + st[12]
		}
	}
	return cpuSample{self: self, server: time.Duration(ticks) * time.Second / 100} // USER_HZ
}

// procStat returns the numeric fields of /proc/pid/stat after the command
// name, indexed so that [1] is the parent pid and [11], [12] utime, stime.
func procStat(pid int) []int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	i := strings.LastIndexByte(string(raw), ')')
	if i < 0 {
		return nil
	}
	f := strings.Fields(string(raw[i+1:]))
	out := make([]int64, len(f))
	for j, v := range f {
		out[j], _ = strconv.ParseInt(v, 10, 64)
	}
	if len(out) < 15 {
		return nil
	}
	return out
}

// ---------------------------------------------------------------- stats

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(float64(len(s)-1) * p / 100)
	return s[i]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
