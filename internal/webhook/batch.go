package webhook

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/gorm"
)

// ErrUnavailable means a delivery could not be made durable (database down,
// ingest shutting down); the sender should retry later (HTTP 503).
var ErrUnavailable = errors.New("webhook: inbox unavailable")

// errAbandoned means the caller stopped waiting while a flusher still holds
// the delivery (its payload must not be reused).
var errAbandoned = errors.New("webhook: stopped waiting for the commit")

// errRefused means the database refused one delivery's data: bad input (400).
var errRefused = errors.New("webhook: delivery refused by the inbox")

// outcome is what the inbox did with one delivery.
type outcome int

const (
	outcomeStored       outcome = iota + 1 // new row committed
	outcomeDuplicate                       // (shop, webhook id) already recorded
	outcomeNotInstalled                    // non-compliance topic for a shop that is not installed: dropped
)

// enqueuer is the part of *asynq.Client the inbox needs.
type enqueuer interface {
	EnqueueContext(ctx context.Context, t *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error)
}

// pending is one delivery waiting for the group commit that carries it.
type pending struct {
	d    *Delivery
	done chan result // buffered(1): the flusher never blocks on a departed waiter
}

type result struct {
	outcome outcome
	id      int64
	err     error
}

// batcherConfig tunes the group commit.
type batcherConfig struct {
	Flushers       int           // concurrent INSERTs in flight
	MaxBatch       int           // rows per INSERT at most
	QueueSize      int           // deliveries waiting for a flusher
	EnqueueWorkers int           // goroutines handing committed batches to asynq
	EnqueueTimeout time.Duration // per asynq call; Redis trouble must not pile up
}

func (c *batcherConfig) defaults() {
	if c.Flushers <= 0 {
		// Measured on the 2-core target (docs/benchmarks.md): 1–2 commits in
		// flight let batches grow to ~10–25 rows and beat 4 or 8 in both
		// throughput and p99; 2 keeps a slow commit from stalling everything.
		c.Flushers = 2
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 256
	}
	if c.QueueSize <= 0 {
		c.QueueSize = 8192
	}
	if c.EnqueueWorkers <= 0 {
		c.EnqueueWorkers = 2
	}
	if c.EnqueueTimeout <= 0 {
		c.EnqueueTimeout = 2 * time.Second
	}
}

// batcher is the group commit: requests hand it their row and wait; each
// flusher takes whatever is queued when it becomes free (no timer, so no
// added latency at low load, and batches grow by themselves under load),
// writes it in one INSERT whose commit makes every row durable, then hands
// the new batch to asynq in the background: the 200 never waits for Redis.
type batcher struct {
	db     *sql.DB
	queue  enqueuer // nil: nothing is enqueued (the reconciler does it)
	cfg    batcherConfig
	logger *slog.Logger

	mu     sync.RWMutex // guards closed against sends on in
	closed bool
	in     chan *pending

	enq      chan int64 // committed batch ids to enqueue
	flushers sync.WaitGroup
	enqDone  sync.WaitGroup

	lastEnqLog atomic.Int64 // unix nanos; rate-limits Redis outage logs
}

func newBatcher(db *gorm.DB, queue enqueuer, cfg batcherConfig, logger *slog.Logger) (*batcher, error) {
	cfg.defaults()
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("webhook: database handle: %w", err)
	}
	b := &batcher{
		db: sqlDB, queue: queue, cfg: cfg, logger: logger,
		in:  make(chan *pending, cfg.QueueSize),
		enq: make(chan int64, cfg.QueueSize),
	}
	for range cfg.Flushers {
		b.flushers.Add(1)
		go b.flushLoop()
	}
	for range cfg.EnqueueWorkers {
		b.enqDone.Add(1)
		go b.enqueueLoop()
	}
	return b, nil
}

var pendingPool = sync.Pool{New: func() any { return &pending{done: make(chan result, 1)} }}

// submit records d durably and reports what happened. It returns only once
// the commit carrying d is done (or ctx ends: the row may then still be
// written, which a retry of the delivery will find as a duplicate).
func (b *batcher) submit(ctx context.Context, d *Delivery) (outcome, int64, error) {
	p := pendingPool.Get().(*pending)
	p.d = d
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		p.d = nil
		pendingPool.Put(p)
		return 0, 0, fmt.Errorf("webhook: ingest closed: %w", ErrUnavailable)
	}
	select {
	case b.in <- p:
	case <-ctx.Done():
		b.mu.RUnlock()
		p.d = nil
		pendingPool.Put(p)
		return 0, 0, fmt.Errorf("webhook: waiting for the inbox queue: %w", errors.Join(ErrUnavailable, ctx.Err()))
	}
	b.mu.RUnlock()
	select {
	case r := <-p.done:
		p.d = nil
		pendingPool.Put(p) // only reused once the flusher is done with it
		return r.outcome, r.id, r.err
	case <-ctx.Done():
		return 0, 0, fmt.Errorf("webhook: waiting for commit: %w", errors.Join(ErrUnavailable, errAbandoned, ctx.Err()))
	}
}

// close stops accepting, flushes everything accepted, then waits (until ctx
// ends) for the committed batches to be handed to asynq.
func (b *batcher) close(ctx context.Context) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	close(b.in)
	b.mu.Unlock()
	b.flushers.Wait()
	close(b.enq)
	done := make(chan struct{})
	go func() { b.enqDone.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		// Rows are committed; the reconciler enqueues what is left.
		return fmt.Errorf("webhook: handing committed batches to asynq: %w", ctx.Err())
	}
}

func (b *batcher) flushLoop() {
	defer b.flushers.Done()
	batch := make([]*pending, 0, b.cfg.MaxBatch)
	for first := range b.in {
		batch = append(batch[:0], first)
	collect:
		for len(batch) < b.cfg.MaxBatch {
			select {
			case p, ok := <-b.in:
				if !ok {
					break collect
				}
				batch = append(batch, p)
			default:
				break collect
			}
		}
		b.flush(batch)
		clear(batch) // drop references so pooled waiters are not pinned
	}
}

// insertSQL writes a batch in one statement (one commit): rows of
// non-compliance topics are kept only for installed shops, duplicates are
// skipped by the unique key, and the installed-shop check is re-evaluated
// only for rows that were not inserted, to tell a duplicate from a drop.
// Rows are inserted in key order: two concurrent batches sharing keys (a
// retried delivery) then wait on each other in one direction and cannot
// deadlock.
const insertSQL = `
WITH b AS (SELECT nextval('webhook_inbox_batch_seq') AS batch_id),
input AS (
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::text[])
		WITH ORDINALITY AS t(shop_domain, webhook_id, event_id, topic, api_version, triggered_at, payload, ord)
),
ins AS (
	INSERT INTO webhook_inbox (batch_id, shop_domain, webhook_id, event_id, topic, api_version, triggered_at, payload)
	SELECT b.batch_id, i.shop_domain, i.webhook_id, i.event_id, i.topic, i.api_version, i.triggered_at, i.payload::json
	FROM input i CROSS JOIN b
	WHERE i.topic = ANY($8::text[])
	   OR EXISTS (SELECT 1 FROM shops s WHERE s.domain = i.shop_domain AND s.uninstalled_at IS NULL)
	ORDER BY i.shop_domain, i.webhook_id
	ON CONFLICT (shop_domain, webhook_id) DO NOTHING
	RETURNING id, shop_domain, webhook_id
)
SELECT i.ord, COALESCE(ins.id, 0),
	ins.id IS NOT NULL
	  OR i.topic = ANY($8::text[])
	  OR EXISTS (SELECT 1 FROM shops s WHERE s.domain = i.shop_domain AND s.uninstalled_at IS NULL),
	(SELECT batch_id FROM b)
FROM input i LEFT JOIN ins ON ins.shop_domain = i.shop_domain AND ins.webhook_id = i.webhook_id`

var complianceList = func() []string {
	out := make([]string, 0, len(ComplianceTopics))
	for t := range ComplianceTopics {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}()

// flush writes one batch and answers every waiter.
func (b *batcher) flush(batch []*pending) {
	// Two requests of one batch with the same key: the first is written, the
	// others wait for the same commit and are answered as duplicates.
	type key struct{ shop, id string }
	first := make(map[key]int, len(batch))
	uniq := make([]*pending, 0, len(batch))
	dupOf := make([]int, len(batch)) // index in uniq of the row each request depends on
	for i, p := range batch {
		k := key{p.d.ShopDomain, p.d.WebhookID}
		if j, ok := first[k]; ok {
			dupOf[i] = j
			continue
		}
		first[k] = len(uniq)
		dupOf[i] = -1
		uniq = append(uniq, p)
	}
	batchSize.Observe(float64(len(uniq)))

	results, err := b.insert(uniq)
	for try := 0; try < 3 && isTransient(err); try++ {
		results, err = b.insert(uniq)
	}
	if isRefusal(err) {
		// A row the database refuses must not fail its neighbours: retry one by one.
		if len(uniq) > 1 {
			b.logger.Warn("webhook inbox: batch refused, retrying rows one by one", "rows", len(uniq), "err", err)
		}
		results, err = make([]result, len(uniq)), nil
		for i, p := range uniq {
			r, e := b.insert([]*pending{p})
			switch {
			case isRefusal(e):
				results[i] = result{err: fmt.Errorf("webhook: inbox refused delivery: %w", errors.Join(errRefused, e))}
			case e != nil:
				results[i] = result{err: fmt.Errorf("webhook: write inbox row: %w", errors.Join(ErrUnavailable, e))}
			default:
				results[i] = r[0]
			}
		}
	}
	if err != nil {
		err = fmt.Errorf("webhook: write inbox batch of %d: %w", len(uniq), errors.Join(ErrUnavailable, err))
		b.logger.Error("webhook inbox: write failed", "rows", len(uniq), "err", err)
	}
	for i, p := range batch {
		var r result
		switch {
		case err != nil:
			r = result{err: err}
		case dupOf[i] < 0:
			r = results[first[key{p.d.ShopDomain, p.d.WebhookID}]]
		default:
			r = results[dupOf[i]]
			if r.err == nil && r.outcome == outcomeStored {
				r = result{outcome: outcomeDuplicate, id: r.id}
			}
		}
		p.done <- r
	}
}

// isRefusal reports a data exception or constraint violation: the input,
// not the database, is at fault.
func isRefusal(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && len(pgErr.Code) == 5 && (pgErr.Code[:2] == "22" || pgErr.Code[:2] == "23")
}

// isTransient reports an error that retrying the same statement may clear.
func isTransient(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40P01" || pgErr.Code == "40001")
}

// insert runs insertSQL for rows and, when something new was committed,
// queues its batch for asynq.
func (b *batcher) insert(rows []*pending) ([]result, error) {
	n := len(rows)
	shops, ids, events, topics, versions, payloads := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	triggered := make([]*time.Time, n)
	for i, p := range rows {
		d := p.d
		shops[i], ids[i], events[i], topics[i], versions[i] = d.ShopDomain, d.WebhookID, d.EventID, d.Topic, d.APIVersion
		payloads[i] = string(d.Payload)
		if !d.TriggeredAt.IsZero() {
			t := d.TriggeredAt
			triggered[i] = &t
		}
	}
	// The commit is the durability point; a stuck database must not hold
	// requests past Shopify's 5 s timeout (the request context also bounds it).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := b.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("acquire connection: %w", err)
	}
	defer conn.Close()

	out := make([]result, n)
	var batchID int64
	stored := 0
	err = conn.Raw(func(dc any) error {
		// Native pgx under gorm's pool: binary arrays and a cached prepared
		// statement, without a second pool to size.
		pc := dc.(*stdlib.Conn).Conn()
		rs, err := pc.Query(ctx, insertSQL, shops, ids, events, topics, versions, triggered, payloads, complianceList)
		if err != nil {
			return err
		}
		var ord, id int64
		var kept bool
		_, err = pgx.ForEachRow(rs, []any{&ord, &id, &kept, &batchID}, func() error {
			r := &out[ord-1]
			switch {
			case id != 0:
				*r = result{outcome: outcomeStored, id: id}
				stored++
			case kept:
				*r = result{outcome: outcomeDuplicate}
			default:
				*r = result{outcome: outcomeNotInstalled}
			}
			return nil
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("insert: %w", err)
	}
	if stored > 0 && b.queue != nil {
		select {
		case b.enq <- batchID:
		default:
			// Redis is slower than ingest; the row is safe, the reconciler enqueues it.
			enqueueFailures.Inc()
			b.logEnqueueFailure(batchID, errors.New("enqueue backlog full"))
		}
	}
	return out, nil
}

func (b *batcher) enqueueLoop() {
	defer b.enqDone.Done()
	for id := range b.enq {
		if err := enqueueBatch(context.Background(), b.queue, id, b.cfg.EnqueueTimeout); err != nil {
			enqueueFailures.Inc()
			b.logEnqueueFailure(id, err)
		}
	}
}

// enqueueBatch hands one inbox batch to asynq. A task id conflict means it is
// already queued, which is what we wanted.
func enqueueBatch(ctx context.Context, q enqueuer, batchID int64, timeout time.Duration) error {
	t, err := NewProcessTask(batchID)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, err := q.EnqueueContext(ctx, t); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("webhook: enqueue batch %d: %w", batchID, err)
	}
	return nil
}

// logEnqueueFailure logs at most once a second: a Redis outage at full
// ingest rate would otherwise flood the log.
func (b *batcher) logEnqueueFailure(batchID int64, err error) {
	now := time.Now().UnixNano()
	last := b.lastEnqLog.Load()
	if now-last < int64(time.Second) || !b.lastEnqLog.CompareAndSwap(last, now) {
		return
	}
	b.logger.Warn("webhook inbox: batch committed but not enqueued; the reconciler will enqueue it",
		"batch_id", batchID, "err", err)
}
