package webhook_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/relance/relance/internal/contact"
	"github.com/relance/relance/internal/flow"
	"github.com/relance/relance/internal/journey"
	"github.com/relance/relance/internal/platform/testenv"
	"github.com/relance/relance/internal/shop"
	"github.com/relance/relance/internal/webhook"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

type sent struct {
	mu   sync.Mutex
	msgs []journey.Message
}

func (s *sent) Send(_ context.Context, m journey.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, m)
	return nil
}

// tasks records what the pump enqueues, so the test can run due steps.
type tasks struct {
	mu   sync.Mutex
	list []*asynq.Task
}

func (q *tasks) EnqueueContext(_ context.Context, t *asynq.Task, _ ...asynq.Option) (*asynq.TaskInfo, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.list = append(q.list, t)
	return &asynq.TaskInfo{}, nil
}

type commerceBundle struct {
	t        *testing.T
	ctx      context.Context
	db       *gorm.DB
	reg      *webhook.Registry
	eng      *journey.Engine
	contacts *contact.Store
	clock    *clock
	out      *sent
	queue    *tasks
	shopID   int64
	domain   string
}

var domainSeq atomic.Int64

func newCommerce(t *testing.T) *commerceBundle {
	t.Helper()
	t.Parallel()
	db := testenv.DB(t)
	b := &commerceBundle{t: t, ctx: context.Background(), db: db, reg: webhook.NewRegistry(), clock: &clock{t: ts("2026-03-02T09:00:00Z")},
		out: &sent{}, queue: &tasks{}}
	b.eng = journey.New(journey.Options{DB: db, Queue: b.queue, Sender: b.out, Clock: b.clock})
	b.contacts = b.eng.Contacts()
	shops, err := shop.NewStore(db, make([]byte, 32))
	require.NoError(t, err)
	b.domain = fmt.Sprintf("commerce-%d.myshopify.com", domainSeq.Add(1))
	require.NoError(t, db.Raw(`INSERT INTO shops (domain, timezone) VALUES (?, 'UTC') RETURNING id`, b.domain).Scan(&b.shopID).Error)
	require.NoError(t, b.eng.Flows().EnsureDefaults(b.ctx, b.shopID))
	for _, k := range flow.Keys {
		require.NoError(t, b.eng.Flows().SetEnabled(b.ctx, b.shopID, k, true))
	}
	webhook.RegisterCheckouts(b.reg, shops, b.contacts, b.eng)
	webhook.RegisterCarts(b.reg, shops, b.contacts, b.eng)
	webhook.RegisterOrders(b.reg, shops, b.contacts, b.eng)
	webhook.RegisterCustomers(b.reg, shops, b.contacts, b.eng, nil)
	return b
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// fixture loads a Shopify sample payload and applies changes to it
// (top-level keys; nil deletes).
func fixture(t *testing.T, name string, changes map[string]any) json.RawMessage {
	t.Helper()
	b, err := os.ReadFile("../../../shared/fixtures/shopify/" + name)
	if err != nil {
		b, err = os.ReadFile("/work/shared/fixtures/shopify/" + name)
	}
	require.NoError(t, err)
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(b, &m))
	for k, v := range changes {
		if v == nil {
			delete(m, k)
			continue
		}
		raw, err := json.Marshal(v)
		require.NoError(t, err)
		m[k] = raw
	}
	out, err := json.Marshal(m)
	require.NoError(t, err)
	return out
}

// deliver runs every handler of the topic, as the dispatcher would.
func (b *commerceBundle) deliver(topic string, payload json.RawMessage, triggeredAt time.Time) error {
	b.t.Helper()
	hs := b.reg.Handlers(topic)
	require.NotEmpty(b.t, hs, topic)
	if triggeredAt.After(b.clock.Now()) {
		b.clock.Set(triggeredAt)
	}
	d := webhook.Delivery{ShopDomain: b.domain, Topic: topic, WebhookID: fmt.Sprint(time.Now().UnixNano()), TriggeredAt: triggeredAt, Payload: payload}
	for _, h := range hs {
		if err := h(b.ctx, d); err != nil {
			return err
		}
	}
	return nil
}

func (b *commerceBundle) mustDeliver(topic string, payload json.RawMessage, triggeredAt time.Time) {
	b.t.Helper()
	require.NoError(b.t, b.deliver(topic, payload, triggeredAt))
}

// runUntil pumps and runs every step due up to until, in time order.
func (b *commerceBundle) runUntil(until time.Time) {
	b.t.Helper()
	for range 100 {
		var row struct{ Next *time.Time }
		require.NoError(b.t, b.db.Raw(`SELECT min(next_run_at) AS next FROM enrollments WHERE shop_id = ? AND status = 'active' AND next_run_at <= ?`,
			b.shopID, until).Scan(&row).Error)
		if row.Next == nil {
			b.clock.Set(until)
			return
		}
		if row.Next.After(b.clock.Now()) {
			b.clock.Set(*row.Next)
		}
		_, err := b.eng.Pump(b.ctx)
		require.NoError(b.t, err)
		b.queue.mu.Lock()
		list := b.queue.list
		b.queue.list = nil
		b.queue.mu.Unlock()
		for _, task := range list {
			require.NoError(b.t, b.eng.HandleRunStep(b.ctx, task))
		}
	}
	b.t.Fatal("runUntil: too many steps")
}

func (b *commerceBundle) contact(email string) *contact.Contact {
	b.t.Helper()
	c, err := b.contacts.ByEmail(b.ctx, b.shopID, email)
	require.NoError(b.t, err)
	return c
}

// flows summarizes a contact's enrollments as "flow:status:reason".
func (b *commerceBundle) flows(contactID int64) []string {
	b.t.Helper()
	ens, err := b.eng.Enrollments(b.ctx, b.shopID, contactID)
	require.NoError(b.t, err)
	out := []string{}
	for _, e := range ens {
		out = append(out, fmt.Sprintf("%s:%s:%s", e.FlowKey, e.Status, e.ExitReason))
	}
	return out
}

func (b *commerceBundle) templates() []string {
	b.out.mu.Lock()
	defer b.out.mu.Unlock()
	out := []string{}
	for _, m := range b.out.msgs {
		out = append(out, m.Template)
	}
	return out
}
