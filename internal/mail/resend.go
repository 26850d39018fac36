package mail

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/resend/resend-go/v2"
	"gorm.io/gorm"
)

// ResendOptions configure a Resend sender. DB, APIKey and Pacer are required.
type ResendOptions struct {
	DB     *gorm.DB
	APIKey string
	// BaseURL replaces https://api.resend.com/ (RESEND_BASE_URL; tests).
	BaseURL *url.URL
	Pacer   *Pacer
	// HTTP is the client under the SDK (default: 30 s timeout).
	HTTP *http.Client
	// MaxAttempts per call before Send gives up for now (default 6); the
	// message stays recorded and the next Send replays it.
	MaxAttempts int
	// Backoff is the first retry delay after a 5xx or network error
	// (default 500 ms), doubled each time, with jitter.
	Backoff time.Duration
	Logger  *slog.Logger
	Now     func() time.Time
}

// Resend sends through Resend's API. Safe for concurrent use; create one per
// process. Concurrent Sends are coalesced: while one request waits for the
// shared pacer, others queue, and what is queued shortly before the turn
// comes goes out together through the batch endpoint (up to 100), so
// throughput grows with load instead of stalling on the rate limit. Their
// messages are recorded together too (claims).
type Resend struct {
	db          *gorm.DB
	client      *resend.Client
	pacer       *Pacer
	maxAttempts int
	backoff     time.Duration
	log         *slog.Logger
	now         func() time.Time

	sends  coalescer[*pending]
	claims coalescer[*claimReq]
}

type pending struct {
	m    *Message
	req  *resend.SendEmailRequest
	done chan result
}

// result is what became of one queued message: Resend's id, or an error
// (a RejectedError when it is final).
type result struct {
	id  string
	err error
}

// maxBatch is Resend's batch size limit.
const maxBatch = 100

// keyLifetime: Resend remembers an idempotency key for 24 hours. Replaying
// later could send a second email, so past this age a message whose first
// attempt had no known outcome is marked failed instead.
const keyLifetime = 23 * time.Hour

// NewResend returns the Resend sender.
func NewResend(o ResendOptions) (*Resend, error) {
	if o.DB == nil || o.Pacer == nil || strings.TrimSpace(o.APIKey) == "" {
		return nil, errors.New("mail: resend sender needs a database, a pacer and an API key")
	}
	httpClient := o.HTTP
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 30 * time.Second}
	}
	// The SDK turns every non-429 error into a bare string, losing the
	// status: 422 (never retry) and 503 (retry) look alike. This transport
	// records status, headers and error body of each response in the
	// request's context so call() can classify it and feed the pacer.
	hc := *httpClient
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	hc.Transport = captureTransport{base: base}
	c := resend.NewCustomClient(&hc, o.APIKey)
	if o.BaseURL != nil {
		u := *o.BaseURL
		// The SDK resolves relative paths ("emails"): keep a trailing slash.
		if !strings.HasSuffix(u.Path, "/") {
			u.Path += "/"
		}
		c.BaseURL = &u
	}
	r := &Resend{db: o.DB, client: c, pacer: o.Pacer, maxAttempts: o.MaxAttempts, backoff: o.Backoff, log: o.Logger, now: o.Now}
	if r.maxAttempts <= 0 {
		r.maxAttempts = 6
	}
	if r.backoff <= 0 {
		r.backoff = 500 * time.Millisecond
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	if r.now == nil {
		r.now = time.Now
	}
	return r, nil
}

// Send delivers m once. See Sender.
func (r *Resend) Send(ctx context.Context, m *Message) (string, error) {
	if err := m.check(); err != nil {
		return "", err
	}
	req := m.request()
	body, err := json.Marshal(req)
	if err != nil {
		return "", fmt.Errorf("mail: encode message %d: %w", m.ID, err)
	}
	row, err := r.claim(ctx, m, body)
	if err != nil {
		return "", err
	}
	if id, done, err := row.outcome(); done {
		return id, err
	}
	if row.SendKey == nil {
		p := &pending{m: m, req: req, done: make(chan result, 1)}
		r.sends.add(p, r.lead)
		var res result
		select {
		case res = <-p.done:
		case <-ctx.Done():
			// The leader may still send it; the row and its key make the
			// next Send find the outcome or replay the same request.
			return "", fmt.Errorf("mail: send message %d: %w", m.ID, ctx.Err())
		}
		if !errors.Is(res.err, errLostRace) {
			return res.id, res.err
		}
	} else if err := r.replay(ctx, *row.SendKey); err != nil {
		return "", err
	}
	if row, err = loadMessage(ctx, r.db, m.ID); err != nil {
		return "", err
	}
	if id, done, err := row.outcome(); done {
		return id, err
	}
	if row.SendKey != nil {
		// Another process holds it (a duplicate task): its key is set, so
		// replaying it is safe and tells us the outcome.
		if err := r.replay(ctx, *row.SendKey); err != nil {
			return "", err
		}
		if row, err = loadMessage(ctx, r.db, m.ID); err != nil {
			return "", err
		}
		if id, done, err := row.outcome(); done {
			return id, err
		}
	}
	return "", fmt.Errorf("mail: send message %d: outcome not known yet", m.ID)
}

// outcome tells whether the row is settled: sent (with Resend's id) or
// failed for good.
func (row *messageRow) outcome() (string, bool, error) {
	if row.ProviderID != nil {
		return *row.ProviderID, true, nil
	}
	if row.Status == StatusFailed {
		return "", true, &RejectedError{Reason: row.Error}
	}
	return "", false, nil
}

// coalescer gathers what concurrent callers add and has one goroutine at a
// time work through it in groups.
type coalescer[T any] struct {
	mu      sync.Mutex
	queue   []T
	running bool
}

// add queues x and starts work if no goroutine is on it.
func (c *coalescer[T]) add(x T, work func()) {
	c.mu.Lock()
	c.queue = append(c.queue, x)
	start := !c.running
	c.running = true
	c.mu.Unlock()
	if start {
		go work()
	}
}

// idle tells the worker whether to stop: nothing is queued. The next add
// then starts another.
func (c *coalescer[T]) idle() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) == 0 {
		c.running = false
	}
	return !c.running
}

// take removes up to n queued items. Only the worker takes, so after idle
// answered false there is at least one.
func (c *coalescer[T]) take(n int) []T {
	c.mu.Lock()
	defer c.mu.Unlock()
	n = min(len(c.queue), n)
	group := slices.Clone(c.queue[:n])
	c.queue = c.queue[n:]
	return group
}

// claimReq is a Send waiting for its message to be recorded.
type claimReq struct {
	m    *Message
	body []byte
	done chan claimResult
}

type claimResult struct {
	row *messageRow
	err error
}

// claim records m with its request, like the package's claim, but together
// with the other Sends claiming at the same time: a burst of due messages
// costs a few multi-row INSERTs instead of one commit each, and the
// database is free sooner for the leader's bookings.
func (r *Resend) claim(ctx context.Context, m *Message, body []byte) (*messageRow, error) {
	c := &claimReq{m: m, body: body, done: make(chan claimResult, 1)}
	r.claims.add(c, r.claimLoop)
	select {
	case res := <-c.done:
		return res.row, res.err
	case <-ctx.Done():
		return nil, fmt.Errorf("mail: record message %d: %w", m.ID, ctx.Err())
	}
}

// maxClaims per INSERT: a hundred requests of tens of KB each.
const maxClaims = 100

func (r *Resend) claimLoop() {
	for {
		if r.claims.idle() {
			return
		}
		group := r.claims.take(maxClaims)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		rows, err := claimMany(ctx, r.db, group, "resend")
		if err != nil {
			// One bad message (its shop gone) must not hold up the others.
			for _, c := range group {
				row, err := claim(ctx, r.db, c.m, "resend", c.body)
				c.done <- claimResult{row, err}
			}
		} else {
			for _, c := range group {
				c.done <- claimResult{rows[c.m.ID], nil}
			}
		}
		cancel()
	}
}

// maxInFlight bounds the requests between their pacer turn and their
// recorded outcome. The leader books and sends the next group while earlier
// ones are answered and recorded, so their round trip and database time do
// not push back the next turn.
const maxInFlight = 3

// prepareAhead is how long before its pacer turn the leader takes a group
// and books it in the database: what arrives until then still makes the
// group, and the booking is done when the turn comes.
const prepareAhead = 80 * time.Millisecond

// lead sends what is queued, a group per pacer turn, until the queue is
// empty. One leader per process at a time. A turn is booked ahead, the
// group prepared shortly before it, and the request sent on it with
// nothing in between: work between the turn and the request would reach
// Resend's window as jitter. Requests are answered and recorded while the
// next is prepared.
func (r *Resend) lead() {
	inFlight := make(chan struct{}, maxInFlight)
	for {
		if r.sends.idle() {
			return
		}
		inFlight <- struct{}{}
		// Not the callers' contexts: one caller giving up must not cancel
		// the others' emails.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		at, err := r.pacer.Reserve(ctx)
		if err == nil {
			err = sleepUntil(ctx, at.Add(-prepareAhead))
		}
		group := r.sends.take(maxBatch)
		var req *booking
		if err == nil {
			req, err = r.book(ctx, group)
		}
		if err == nil {
			err = sleepUntil(ctx, at)
		}
		go func() {
			defer func() {
				cancel()
				<-inFlight
			}()
			var got map[int64]result
			if err == nil {
				got, err = r.call(ctx, req.key, req.ids, req.reqs, req.batch)
			}
			for _, p := range group {
				res, ok := got[p.m.ID]
				switch {
				case err != nil:
					res = result{err: err}
				case !ok: // another process had taken it
					res = result{err: errLostRace}
				}
				p.done <- res
			}
		}()
	}
}

// errLostRace: another process started this message first; Send replays its
// request instead.
var errLostRace = errors.New("mail: message taken by another sender")

// booking is a request recorded under its idempotency key, ready to post.
type booking struct {
	key   string
	ids   []int64
	reqs  []*resend.SendEmailRequest
	batch bool
}

// book records the key of the request that will carry group, on the
// members no other process has started, and returns that request.
func (r *Resend) book(ctx context.Context, group []*pending) (*booking, error) {
	now := r.now()
	if len(group) == 1 {
		p := group[0]
		key := "relance-msg-" + strconv.FormatInt(p.m.ID, 10)
		res := r.db.WithContext(ctx).Exec(`UPDATE mail_messages SET send_key = ?, status = 'sending', attempted_at = ?, updated_at = ?
WHERE id = ? AND send_key IS NULL`, key, now, now, p.m.ID)
		if res.Error != nil {
			return nil, fmt.Errorf("mail: start message %d: %w", p.m.ID, res.Error)
		}
		if res.RowsAffected == 0 {
			return nil, errLostRace
		}
		return &booking{key: key, ids: []int64{p.m.ID}, reqs: []*resend.SendEmailRequest{p.req}}, nil
	}
	// Lock the members still free, name the batch after them, and record
	// the key on each before the call, in one transaction.
	byID := map[int64]*pending{}
	ids := make([]int64, 0, len(group))
	for _, p := range group {
		byID[p.m.ID] = p
		ids = append(ids, p.m.ID)
	}
	var key string
	var members []int64
	err := r.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Raw(`SELECT id FROM mail_messages WHERE id IN ? AND send_key IS NULL ORDER BY id FOR UPDATE SKIP LOCKED`, ids).
			Scan(&members).Error; err != nil {
			return err
		}
		if len(members) == 0 {
			return nil
		}
		key = batchKey(members)
		if err := tx.Exec(`INSERT INTO mail_batches (key, message_ids, created_at) VALUES (?, ?, ?)`, key, int64Array(members), now).Error; err != nil {
			return err
		}
		return tx.Exec(`UPDATE mail_messages SET send_key = ?, status = 'sending', attempted_at = ?, updated_at = ? WHERE id IN ?`,
			key, now, now, members).Error
	})
	if err != nil {
		return nil, fmt.Errorf("mail: start batch: %w", err)
	}
	if len(members) == 0 {
		return nil, errLostRace
	}
	reqs := make([]*resend.SendEmailRequest, len(members))
	for i, id := range members {
		reqs[i] = byID[id].req
	}
	// Even a single remaining member goes to the batch endpoint: its key
	// names a batch, and a replay must use the same endpoint and body.
	return &booking{key: key, ids: members, reqs: reqs, batch: true}, nil
}

func batchKey(ids []int64) string {
	h := sha256.New()
	for _, id := range ids {
		h.Write([]byte(strconv.FormatInt(id, 10) + ","))
	}
	return "relance-batch-" + hex.EncodeToString(h.Sum(nil))[:40]
}

// int64Array formats a PostgreSQL bigint[] literal.
func int64Array(ids []int64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.FormatInt(id, 10)
	}
	return "{" + strings.Join(s, ",") + "}"
}

// replay sends again, under the same key and with the same body, a request
// whose outcome is unknown (a crash, a timeout, a 5xx): Resend answers with
// the emails it already accepted instead of sending them twice.
func (r *Resend) replay(ctx context.Context, key string) error {
	isBatch := strings.HasPrefix(key, "relance-batch-")
	var ids []int64
	if isBatch {
		var rows []struct{ MessageIDs string }
		if err := r.db.WithContext(ctx).Raw(`SELECT message_ids::text AS message_ids FROM mail_batches WHERE key = ?`, key).Scan(&rows).Error; err != nil {
			return fmt.Errorf("mail: load batch: %w", err)
		}
		if len(rows) == 0 {
			return fmt.Errorf("mail: batch %s: %w", key, ErrNotFound)
		}
		for _, f := range strings.Split(strings.Trim(rows[0].MessageIDs, "{}"), ",") {
			id, err := strconv.ParseInt(f, 10, 64)
			if err != nil {
				return fmt.Errorf("mail: batch %s: bad member %q", key, f)
			}
			ids = append(ids, id)
		}
	} else {
		id, err := strconv.ParseInt(strings.TrimPrefix(key, "relance-msg-"), 10, 64)
		if err != nil {
			return fmt.Errorf("mail: bad send key %q", key)
		}
		ids = []int64{id}
	}
	var rows []messageRow
	if err := r.db.WithContext(ctx).Where("id IN ?", ids).Order("id").Find(&rows).Error; err != nil {
		return fmt.Errorf("mail: load messages to replay: %w", err)
	}
	settled := true
	var oldest time.Time
	reqs := make([]*resend.SendEmailRequest, 0, len(rows))
	for _, row := range rows {
		if row.ProviderID == nil && row.Status != StatusFailed {
			settled = false
		}
		if row.AttemptedAt != nil && (oldest.IsZero() || row.AttemptedAt.Before(oldest)) {
			oldest = *row.AttemptedAt
		}
		if row.Request == nil {
			continue
		}
		var req resend.SendEmailRequest
		if err := json.Unmarshal(row.Request, &req); err != nil {
			return fmt.Errorf("mail: decode stored request %d: %w", row.ID, err)
		}
		reqs = append(reqs, &req)
	}
	if settled {
		return nil
	}
	if len(reqs) != len(ids) {
		return fmt.Errorf("mail: replay %s: stored requests missing", key)
	}
	if !oldest.IsZero() && r.now().Sub(oldest) > keyLifetime {
		r.log.Warn("mail: unknown outcome past the idempotency window, not resending", "key", key, "messages", len(ids))
		return markFailed(ctx, r.db, ids, "outcome unknown and idempotency key expired; not resent to avoid a duplicate", r.now(), true)
	}
	if err := r.pacer.Wait(ctx); err != nil {
		return err
	}
	_, err := r.call(ctx, key, ids, reqs, isBatch)
	return err
}

// call posts the request(s) under key, retrying 429, 5xx and network errors
// with backoff, records the outcome on the messages and returns it by
// message id.
func (r *Resend) call(ctx context.Context, key string, ids []int64, reqs []*resend.SendEmailRequest, batch bool) (map[int64]result, error) {
	backoff := r.backoff
	for attempt := 1; ; attempt++ {
		// Departures are logged by the transport: after the SDK has
		// encoded the body (megabytes for a batch), as close to the wire
		// as we get.
		cp := &capture{depart: r.depart}
		cctx := context.WithValue(ctx, captureKey{}, cp)
		var got []string
		var itemErrs map[int]string
		var err error
		if batch {
			var resp *resend.BatchEmailResponse
			resp, err = r.client.Batch.SendWithOptions(cctx, reqs, &resend.BatchSendEmailOptions{
				IdempotencyKey: key, BatchValidation: resend.BatchValidationPermissive})
			if err == nil {
				itemErrs = map[int]string{}
				for _, e := range resp.Errors {
					itemErrs[e.Index] = e.Message
				}
				for _, d := range resp.Data {
					got = append(got, d.Id)
				}
			}
		} else {
			var resp *resend.SendEmailResponse
			resp, err = r.client.Emails.SendWithOptions(cctx, reqs[0], &resend.SendEmailOptions{IdempotencyKey: key})
			if err == nil {
				got = []string{resp.Id}
			}
		}
		if oerr := r.pacer.Observe(ctx, cp.status, cp.header); oerr != nil {
			r.log.Warn("mail: pacer update failed", "err", oerr)
		}
		if err == nil {
			return r.record(ctx, key, ids, got, itemErrs, batch)
		}
		retry, rej := classify(cp, err)
		if rej != nil {
			r.log.Warn("mail: resend refused", "key", key, "status", rej.Status, "code", rej.Code, "messages", len(ids))
			if ferr := markFailed(ctx, r.db, ids, rej.reason(), r.now(), true); ferr != nil {
				return nil, ferr
			}
			return nil, rej
		}
		cause := fmt.Errorf("mail: resend status %d: %w", cp.status, err)
		if !retry || attempt >= r.maxAttempts {
			r.log.Warn("mail: resend unavailable, will retry later", "key", key, "status", cp.status, "attempts", attempt)
			return nil, cause
		}
		var wait time.Duration
		if cp.status == http.StatusTooManyRequests {
			wait = 0 // the pacer holds everyone until retry-after
		} else {
			wait = backoff/2 + rand.N(backoff/2+1)
			backoff = min(backoff*2, 30*time.Second)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("mail: send: %w", ctx.Err())
		case <-t.C:
		}
		if err := r.pacer.Wait(ctx); err != nil {
			return nil, err
		}
	}
}

// record writes Resend's answer: ids in order for the accepted emails,
// per-index errors (permissive batch) as final failures.
func (r *Resend) record(ctx context.Context, key string, ids []int64, got []string, itemErrs map[int]string, batch bool) (map[int64]result, error) {
	now := r.now()
	if !batch {
		return r.recordOutcomes(ctx, r.db, ids, got, itemErrs, now, true)
	}
	var out map[int64]result
	// A batch's outcomes and its completion in one transaction: one commit
	// instead of one per member (the leader waits for it before its next
	// turn). Should it fail, the members stay 'sending' under the batch key
	// and a replay gets the same answers from Resend.
	err := r.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		if out, err = r.recordOutcomes(ctx, tx, ids, got, itemErrs, now, false); err != nil {
			return err
		}
		if err := tx.Exec(`UPDATE mail_batches SET completed_at = ? WHERE key = ?`, now, key).Error; err != nil {
			return fmt.Errorf("mail: complete batch: %w", err)
		}
		if err := tx.Exec(`UPDATE mail_messages SET request = NULL WHERE send_key = ?`, key).Error; err != nil {
			return fmt.Errorf("mail: complete batch: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (r *Resend) recordOutcomes(ctx context.Context, db *gorm.DB, ids []int64, got []string, itemErrs map[int]string, now time.Time, clearRequest bool) (map[int64]result, error) {
	out := make(map[int64]result, len(ids))
	next := 0
	for i, id := range ids {
		if msg, bad := itemErrs[i]; bad {
			reason := (&RejectedError{Status: 422, Code: "validation_error", Reason: msg}).reason()
			if err := markFailed(ctx, db, []int64{id}, reason, now, clearRequest); err != nil {
				return nil, err
			}
			// As messageRow.outcome reports it once stored.
			out[id] = result{err: &RejectedError{Reason: truncate(reason, 500)}}
			continue
		}
		if next >= len(got) {
			return nil, fmt.Errorf("mail: resend answered %d ids for %d emails", len(got), len(ids))
		}
		if err := markSent(ctx, db, id, got[next], now, clearRequest); err != nil {
			return nil, err
		}
		out[id] = result{id: got[next]}
		next++
	}
	return out, nil
}

// depart waits, if need be, and logs the request leaving with the pacer.
// Only a cancelled context stops it: with Redis unavailable, pacing rests
// on the turns already taken.
func (r *Resend) depart(ctx context.Context) error {
	err := r.pacer.Depart(ctx)
	if err != nil && ctx.Err() != nil {
		return err
	}
	if err != nil {
		r.log.Warn("mail: pacer update failed", "err", err)
	}
	return nil
}

// classify sorts a failed call: retry now (429, 5xx, network, a concurrent
// request with the same key), give up for now but retry later (auth, quota),
// or a final refusal.
func classify(c *capture, err error) (retry bool, rej *RejectedError) {
	switch {
	case c.status == 0:
		return true, nil // network error, timeout
	case c.status == http.StatusTooManyRequests:
		// Daily or monthly quota: retrying within the call is pointless.
		return !strings.Contains(c.code, "quota"), nil
	case c.status >= 500:
		return true, nil
	case c.status == http.StatusConflict && c.code == "concurrent_idempotent_requests":
		return true, nil
	case c.status == http.StatusUnauthorized || c.status == http.StatusForbidden:
		// Our key, not the message: keep the message for when it is fixed.
		return false, nil
	}
	msg := c.message
	if msg == "" {
		msg = strings.TrimPrefix(err.Error(), "[ERROR]: ")
	}
	return false, &RejectedError{Status: c.status, Code: c.code, Reason: msg}
}

type captureKey struct{}

// capture is what captureTransport saw of a response; depart, if set, is
// called as the request leaves, and an error from it stops the request.
type capture struct {
	depart  func(context.Context) error
	status  int
	header  http.Header
	code    string
	message string
}

type captureTransport struct{ base http.RoundTripper }

func (t captureTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c, ok := req.Context().Value(captureKey{}).(*capture)
	if ok && c.depart != nil {
		if err := c.depart(req.Context()); err != nil {
			return nil, err
		}
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil || !ok {
		return resp, err
	}
	c.status, c.header = resp.StatusCode, resp.Header.Clone()
	if resp.StatusCode >= 300 {
		body, rerr := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if rerr != nil {
			return nil, rerr
		}
		var e struct {
			Name    string `json:"name"`
			Message string `json:"message"`
		}
		if json.Unmarshal(body, &e) == nil {
			c.code, c.message = e.Name, e.Message
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
	}
	return resp, nil
}
