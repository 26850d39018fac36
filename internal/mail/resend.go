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
// process. Concurrent Sends are coalesced: while one call waits for the
// shared pacer, others queue, and everything queued when the turn comes
// goes out together through the batch endpoint (up to 100), so throughput
// grows with load instead of stalling on the rate limit.
type Resend struct {
	db          *gorm.DB
	client      *resend.Client
	pacer       *Pacer
	maxAttempts int
	backoff     time.Duration
	log         *slog.Logger
	now         func() time.Time

	mu      sync.Mutex
	queue   []*pending
	leading bool
}

type pending struct {
	m    *Message
	req  *resend.SendEmailRequest
	done chan error
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
	row, err := claim(ctx, r.db, m, "resend", body)
	if err != nil {
		return "", err
	}
	if id, done, err := row.outcome(); done {
		return id, err
	}
	if row.SendKey == nil {
		p := &pending{m: m, req: req, done: make(chan error, 1)}
		r.enqueue(p)
		select {
		case err = <-p.done:
		case <-ctx.Done():
			// The leader may still send it; the row and its key make the
			// next Send find the outcome or replay the same request.
			return "", fmt.Errorf("mail: send message %d: %w", m.ID, ctx.Err())
		}
		if err != nil && !errors.Is(err, errLostRace) {
			return "", err
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

func (r *Resend) enqueue(p *pending) {
	r.mu.Lock()
	r.queue = append(r.queue, p)
	lead := !r.leading
	r.leading = true
	r.mu.Unlock()
	if lead {
		go r.lead()
	}
}

// lead sends what is queued, a group per pacer turn, until the queue is
// empty. One leader per process at a time.
func (r *Resend) lead() {
	for {
		r.mu.Lock()
		if len(r.queue) == 0 {
			r.leading = false
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
		// Not the callers' contexts: one caller giving up must not cancel
		// the others' emails.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		err := r.pacer.Wait(ctx)
		r.mu.Lock()
		n := min(len(r.queue), maxBatch)
		group := slices.Clone(r.queue[:n])
		r.queue = r.queue[n:]
		r.mu.Unlock()
		if err == nil {
			err = r.sendGroup(ctx, group)
		}
		cancel()
		for _, p := range group {
			p.done <- err
		}
	}
}

// errLostRace: another process started this message first; Send replays its
// request instead.
var errLostRace = errors.New("mail: message taken by another sender")

func (r *Resend) sendGroup(ctx context.Context, group []*pending) error {
	now := r.now()
	if len(group) == 1 {
		p := group[0]
		key := "relance-msg-" + strconv.FormatInt(p.m.ID, 10)
		res := r.db.WithContext(ctx).Exec(`UPDATE mail_messages SET send_key = ?, status = 'sending', attempted_at = ?, updated_at = ?
WHERE id = ? AND send_key IS NULL`, key, now, now, p.m.ID)
		if res.Error != nil {
			return fmt.Errorf("mail: start message %d: %w", p.m.ID, res.Error)
		}
		if res.RowsAffected == 0 {
			return errLostRace
		}
		return r.call(ctx, key, []int64{p.m.ID}, []*resend.SendEmailRequest{p.req}, false)
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
		return fmt.Errorf("mail: start batch: %w", err)
	}
	if len(members) == 0 {
		return errLostRace
	}
	reqs := make([]*resend.SendEmailRequest, len(members))
	for i, id := range members {
		reqs[i] = byID[id].req
	}
	// Even a single remaining member goes to the batch endpoint: its key
	// names a batch, and a replay must use the same endpoint and body.
	return r.call(ctx, key, members, reqs, true)
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
	return r.call(ctx, key, ids, reqs, isBatch)
}

// call posts the request(s) under key, retrying 429, 5xx and network errors
// with backoff, and records the outcome on the messages.
func (r *Resend) call(ctx context.Context, key string, ids []int64, reqs []*resend.SendEmailRequest, batch bool) error {
	backoff := r.backoff
	for attempt := 1; ; attempt++ {
		cp := &capture{}
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
				return ferr
			}
			return rej
		}
		cause := fmt.Errorf("mail: resend status %d: %w", cp.status, err)
		if !retry || attempt >= r.maxAttempts {
			r.log.Warn("mail: resend unavailable, will retry later", "key", key, "status", cp.status, "attempts", attempt)
			return cause
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
			return fmt.Errorf("mail: send: %w", ctx.Err())
		case <-t.C:
		}
		if err := r.pacer.Wait(ctx); err != nil {
			return err
		}
	}
}

// record writes Resend's answer: ids in order for the accepted emails,
// per-index errors (permissive batch) as final failures.
func (r *Resend) record(ctx context.Context, key string, ids []int64, got []string, itemErrs map[int]string, batch bool) error {
	now := r.now()
	if !batch {
		return r.recordOutcomes(ctx, r.db, ids, got, itemErrs, now, true)
	}
	// A batch's outcomes and its completion in one transaction: one commit
	// instead of one per member (the leader waits for it before its next
	// turn). Should it fail, the members stay 'sending' under the batch key
	// and a replay gets the same answers from Resend.
	err := r.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := r.recordOutcomes(ctx, tx, ids, got, itemErrs, now, false); err != nil {
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
	return err
}

func (r *Resend) recordOutcomes(ctx context.Context, db *gorm.DB, ids []int64, got []string, itemErrs map[int]string, now time.Time, clearRequest bool) error {
	next := 0
	for i, id := range ids {
		if msg, bad := itemErrs[i]; bad {
			if err := markFailed(ctx, db, []int64{id}, (&RejectedError{Status: 422, Code: "validation_error", Reason: msg}).reason(), now, clearRequest); err != nil {
				return err
			}
			continue
		}
		if next >= len(got) {
			return fmt.Errorf("mail: resend answered %d ids for %d emails", len(got), len(ids))
		}
		if err := markSent(ctx, db, id, got[next], now, clearRequest); err != nil {
			return err
		}
		next++
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

// capture is what captureTransport saw of a response.
type capture struct {
	status  int
	header  http.Header
	code    string
	message string
}

type captureTransport struct{ base http.RoundTripper }

func (t captureTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	c, ok := req.Context().Value(captureKey{}).(*capture)
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
