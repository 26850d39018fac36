package journey_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/relance/relance/internal/contact"
	"github.com/relance/relance/internal/flow"
	"github.com/relance/relance/internal/journey"
	"github.com/relance/relance/internal/platform"
	"github.com/relance/relance/internal/platform/testenv"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.t) {
		c.t = t
	}
}

// outbox is an in-memory Sender that, like Resend, dedupes on the
// idempotency key (the message id). calls counts every attempt.
type outbox struct {
	mu    sync.Mutex
	byID  map[int64]journey.Message
	order []journey.Message
	calls int
	// fail, when set, decides the outcome of each call after recording it
	// (deliveredFirst: the provider accepted it, then we "crashed").
	fail func(call int) (deliveredFirst bool, err error)
}

func (o *outbox) Send(_ context.Context, m journey.Message) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls++
	if o.fail != nil {
		if delivered, err := o.fail(o.calls); err != nil {
			if delivered {
				o.record(m)
			}
			return err
		}
	}
	o.record(m)
	return nil
}

func (o *outbox) record(m journey.Message) {
	if _, dup := o.byID[m.ID]; dup {
		return
	}
	o.byID[m.ID] = m
	o.order = append(o.order, m)
}

// templates lists what was delivered, in order.
func (o *outbox) templates() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := []string{}
	for _, m := range o.order {
		out = append(out, m.Template)
	}
	return out
}

type world struct {
	t       *testing.T
	ctx     context.Context
	db      *gorm.DB
	eng     *journey.Engine
	clock   *fakeClock
	out     *outbox
	shop    int64
	loc     *time.Location
	redis   asynq.RedisConnOpt
	inspect *asynq.Inspector
}

var shopSeq atomic.Int64

// newWorld gives a shop in zone with every default flow switched on, the
// engine on a fake clock at start (shop-local "2006-01-02 15:04"), real
// PostgreSQL and Redis.
func newWorld(t *testing.T, zone, start string) *world {
	t.Helper()
	t.Parallel()
	ctx := context.Background()
	db := testenv.DB(t)
	redisOpt, err := asynq.ParseRedisURI(testenv.RedisURL(t))
	require.NoError(t, err)
	client := asynq.NewClient(redisOpt)
	inspect := asynq.NewInspector(redisOpt)
	t.Cleanup(func() { client.Close(); inspect.Close() })
	loc, err := time.LoadLocation(zone)
	require.NoError(t, err)
	begin, err := time.ParseInLocation("2006-01-02 15:04", start, loc)
	require.NoError(t, err)

	w := &world{t: t, ctx: ctx, db: db, clock: &fakeClock{t: begin}, out: &outbox{byID: map[int64]journey.Message{}},
		loc: loc, redis: redisOpt, inspect: inspect}
	w.eng = journey.New(journey.Options{DB: db, Queue: client, Sender: w.out, Clock: w.clock})
	require.NoError(t, db.Raw(`INSERT INTO shops (domain, timezone) VALUES (?, ?) RETURNING id`,
		fmt.Sprintf("story-%d.myshopify.com", shopSeq.Add(1)), zone).Scan(&w.shop).Error)
	flows := w.eng.Flows()
	require.NoError(t, flows.EnsureDefaults(ctx, w.shop))
	for _, k := range flow.Keys {
		require.NoError(t, flows.SetEnabled(ctx, w.shop, k, true))
	}
	return w
}

// at is a shop-local time on the story's day (or "2006-01-02 15:04").
func (w *world) at(s string) time.Time {
	w.t.Helper()
	layout := "2006-01-02 15:04"
	if len(s) == 5 {
		s = w.clock.Now().In(w.loc).Format("2006-01-02 ") + s
	}
	tm, err := time.ParseInLocation(layout, s, w.loc)
	require.NoError(w.t, err)
	return tm
}

func (w *world) contact(email string, consent contact.Consent) int64 {
	w.t.Helper()
	c, err := w.eng.Contacts().Upsert(w.ctx, w.shop, contact.Profile{Email: email})
	require.NoError(w.t, err)
	if consent != contact.NotSubscribed {
		_, err = w.eng.Contacts().SetConsent(w.ctx, w.shop, c.ID, consent, w.clock.Now().Add(-time.Hour), "test")
		require.NoError(w.t, err)
	}
	return c.ID
}

func (w *world) trigger(contactID int64, tr flow.Trigger, subject string, at time.Time) {
	w.t.Helper()
	w.clock.Set(at)
	require.NoError(w.t, w.eng.Trigger(w.ctx, journey.Event{ShopID: w.shop, ContactID: contactID, Trigger: tr, Subject: subject, At: at}))
}

// order records an order in the contact history and tells the engine.
func (w *world) order(contactID, orderID int64, at time.Time) {
	w.t.Helper()
	w.clock.Set(at)
	_, err := w.eng.Contacts().RecordOrder(w.ctx, w.shop, contact.Order{ID: orderID, ContactID: contactID, TotalPrice: "50.00", OrderedAt: at, UpdatedAt: at})
	require.NoError(w.t, err)
	require.NoError(w.t, w.eng.Trigger(w.ctx, journey.Event{ShopID: w.shop, ContactID: contactID, Trigger: flow.OrderPlaced, OrderID: orderID, At: at}))
}

// runUntil moves the clock to until, stopping at every due step on the way:
// the pump enqueues into Redis, and due tasks are taken from Redis and run
// as a worker would.
func (w *world) runUntil(until time.Time) {
	w.t.Helper()
	for range 200 {
		var row struct{ Next *time.Time }
		require.NoError(w.t, w.db.Raw(`SELECT min(next_run_at) AS next FROM enrollments WHERE shop_id = ? AND status = 'active' AND next_run_at <= ?`,
			w.shop, until).Scan(&row).Error)
		next := row.Next
		if next == nil {
			w.clock.Set(until)
			w.pumpAndWork()
			return
		}
		w.clock.Set(*next)
		w.pumpAndWork()
	}
	w.t.Fatal("runUntil: too many steps")
}

func (w *world) pumpAndWork() {
	w.t.Helper()
	_, err := w.eng.Pump(w.ctx)
	require.NoError(w.t, err)
	w.work()
}

// work runs every queued task that is due at the fake time, then deletes it.
func (w *world) work() int {
	w.t.Helper()
	ran := 0
	for _, t := range w.tasks() {
		var p journey.RunStepPayload
		require.NoError(w.t, json.Unmarshal(t.Payload, &p))
		if time.UnixMicro(p.RunAt).After(w.clock.Now()) {
			continue
		}
		require.NoError(w.t, w.eng.HandleRunStep(w.ctx, asynq.NewTask(t.Type, t.Payload)))
		require.NoError(w.t, w.inspect.DeleteTask(platform.QueueDefault, t.ID))
		ran++
	}
	return ran
}

func (w *world) tasks() []*asynq.TaskInfo {
	w.t.Helper()
	var out []*asynq.TaskInfo
	for _, list := range []func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){w.inspect.ListScheduledTasks, w.inspect.ListPendingTasks} {
		ts, err := list(platform.QueueDefault, asynq.PageSize(1000))
		if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
			require.NoError(w.t, err)
		}
		out = append(out, ts...)
	}
	return out
}

func (w *world) enrollments(contactID int64) []journey.Enrollment {
	w.t.Helper()
	ens, err := w.eng.Enrollments(w.ctx, w.shop, contactID)
	require.NoError(w.t, err)
	return ens
}

func (w *world) decisions(contactID int64) []string {
	w.t.Helper()
	ds, err := w.eng.Decisions(w.ctx, w.shop, contactID)
	require.NoError(w.t, err)
	out := []string{}
	for _, d := range ds {
		s := d.Decision
		if d.Reason != "" {
			s += ":" + d.Reason
		}
		out = append(out, s)
	}
	return out
}

func (w *world) settings(f func(*journey.Settings)) {
	w.t.Helper()
	s, err := w.eng.Settings(w.ctx, w.shop)
	require.NoError(w.t, err)
	f(&s)
	require.NoError(w.t, w.eng.SaveSettings(w.ctx, w.shop, s))
}

func asynqTask(info *asynq.TaskInfo) *asynq.Task { return asynq.NewTask(info.Type, info.Payload) }

// flushRedis loses everything asynq had, as a Redis without persistence would.
func flushRedis(t *testing.T, w *world) {
	t.Helper()
	c, ok := w.redis.MakeRedisClient().(redis.UniversalClient)
	require.True(t, ok)
	defer c.Close()
	require.NoError(t, c.FlushDB(w.ctx).Err())
	// The engine's asynq client remembers it registered the queue and will
	// not register it again; workers dequeue by name regardless, but the
	// Inspector this harness reads tasks through lists registered queues
	// only. A fresh client registers it with a marker task, removed at once.
	fresh := asynq.NewClient(w.redis)
	defer fresh.Close()
	info, err := fresh.Enqueue(asynq.NewTask("test:marker", nil), asynq.Queue(platform.QueueDefault))
	require.NoError(t, err)
	require.NoError(t, w.inspect.DeleteTask(platform.QueueDefault, info.ID))
}
