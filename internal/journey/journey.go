// Package journey is the sequence engine: trigger events become enrollments
// in flows, PostgreSQL holds each enrollment's next step and due time, a pump
// hands asynq the steps due soon, and the step task re-checks everything in
// the database before deciding to send, skip, defer or exit.
//
// Rules enforced here: the abandonment ladder (checkout > cart > browse, one
// at a time), stop on purchase, consent, suppression, a frequency cap across
// flows, quiet hours in the shop's time zone, re-entry, and at most one email
// per (enrollment, step) whatever the retries.
package journey

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"gorm.io/gorm"

	"github.com/relance/relance/internal/contact"
	"github.com/relance/relance/internal/flow"
)

// Clock tells the time; tests move it.
type Clock interface{ Now() time.Time }

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// Message is a send decision handed to the Sender: which template, to whom,
// about what. ID is stable across retries of the same (enrollment, step);
// use it as the provider's idempotency key.
type Message struct {
	ID           int64
	ShopID       int64
	ContactID    int64
	EnrollmentID int64
	To           string
	FirstName    string
	Locale       string
	Flow         flow.Key
	FlowVersion  int
	Step         string
	Template     string
	Class        flow.Class
	Offer        bool
	// Context is what the trigger said: checkout_token, recovery_url,
	// cart_token, order_id, product_id, segment…
	Context map[string]string
}

// Sender delivers a message. It must be idempotent on Message.ID: after a
// crash the engine calls it again with the same message. An error wrapping
// ErrUndeliverable is final (the message is marked failed and the flow
// moves on); any other error is retried.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// ErrUndeliverable marks a message that can never be delivered.
var ErrUndeliverable = errors.New("journey: undeliverable")

// enqueuer is the part of asynq.Client the pump uses.
type enqueuer interface {
	EnqueueContext(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error)
}

// Options configure an Engine. DB, Queue and Sender are required.
type Options struct {
	DB     *gorm.DB
	Queue  enqueuer // an *asynq.Client
	Sender Sender
	Clock  Clock      // default SystemClock
	Scale  flow.Scale // config.Config.Scale; nil for real time
	// Horizon: how far ahead the pump enqueues (default 2 minutes).
	Horizon time.Duration
	// Grace: a step overdue by this much with no run is assumed lost from
	// Redis and enqueued again (default 1 minute).
	Grace time.Duration
	// StepBatch: how many step tasks handled at the same moment run
	// together in one transaction (default DefaultStepBatch; 1 runs each
	// alone). StepBatchWait: how long the first of them waits for others
	// (default DefaultStepBatchWait).
	StepBatch     int
	StepBatchWait time.Duration
	Logger        *slog.Logger
}

// Engine runs the flows. Safe for concurrent use by many workers and
// replicas: all coordination goes through PostgreSQL row locks.
type Engine struct {
	db       *gorm.DB
	contacts *contact.Store
	flows    *flow.Store
	queue    enqueuer
	sender   Sender
	clock    Clock
	scale    flow.Scale
	horizon  time.Duration
	grace    time.Duration
	log      *slog.Logger
	batcher  *stepBatcher // nil: each step task runs alone

	zones sync.Map // time zone name → *time.Location

	reconcileMu   sync.Mutex
	lastReconcile time.Time
}

// New returns an Engine.
func New(o Options) *Engine {
	e := &Engine{db: o.DB, contacts: contact.NewStore(o.DB), flows: flow.NewStore(o.DB), queue: o.Queue, sender: o.Sender,
		clock: o.Clock, scale: o.Scale, horizon: o.Horizon, grace: o.Grace, log: o.Logger}
	if e.clock == nil {
		e.clock = SystemClock{}
	}
	if e.scale == nil {
		e.scale = func(d time.Duration) time.Duration { return d }
	}
	if e.horizon <= 0 {
		e.horizon = 2 * time.Minute
	}
	if e.grace <= 0 {
		e.grace = time.Minute
	}
	if e.log == nil {
		e.log = slog.Default()
	}
	if o.StepBatch == 0 {
		o.StepBatch = DefaultStepBatch
	}
	if o.StepBatchWait <= 0 {
		o.StepBatchWait = DefaultStepBatchWait
	}
	if o.StepBatch > 1 {
		e.batcher = &stepBatcher{e: e, max: o.StepBatch, wait: o.StepBatchWait}
	}
	return e
}

// Contacts is the contact store the engine uses.
func (e *Engine) Contacts() *contact.Store { return e.contacts }

// Flows is the flow store the engine uses.
func (e *Engine) Flows() *flow.Store { return e.flows }

// scaled reports whether TIME_SCALE compresses time, in which case clock
// times of day (delays "at 10:00", quiet hours) are meaningless and ignored.
func (e *Engine) scaled() bool { return e.scale(24*time.Hour) != 24*time.Hour }

func (e *Engine) location(name string) *time.Location {
	if l, ok := e.zones.Load(name); ok {
		return l.(*time.Location)
	}
	loc, err := time.LoadLocation(name)
	if err != nil || name == "" {
		e.log.Warn("journey: unknown shop time zone, using UTC", "zone", name)
		loc = time.UTC
	}
	e.zones.Store(name, loc)
	return loc
}
