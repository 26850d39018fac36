package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"

	"github.com/relance/relance/internal/shopify"
)

// MaxBodyBytes caps a delivery's body; Shopify's payloads are far smaller.
const MaxBodyBytes = 2 << 20

// IngestConfig tunes the ingest endpoint. Zero values are sensible defaults.
type IngestConfig struct {
	Secrets shopify.Secrets
	Logger  *slog.Logger // default slog.Default()
	// Timeout bounds the wait for the durable write; past it the answer is
	// 503 so Shopify retries (its own timeout is 5 s).
	Timeout time.Duration
	// Flushers is the number of group commits in flight (default 8);
	// MaxBatch the rows per commit at most (default 256).
	Flushers int
	MaxBatch int
}

// Ingest is the HTTP endpoint Shopify delivers webhooks to. A delivery is
// verified, then committed to webhook_inbox in a group commit before the 200;
// the committed batch is handed to asynq afterwards, in the background.
type Ingest struct {
	secrets shopify.Secrets
	logger  *slog.Logger
	timeout time.Duration
	batch   *batcher
}

// NewIngest starts the group-commit writers. queue may be nil (the
// reconciler then enqueues everything); Close must be called on shutdown.
func NewIngest(db *gorm.DB, queue enqueuer, cfg IngestConfig) (*Ingest, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 4 * time.Second
	}
	b, err := newBatcher(db, queue, batcherConfig{Flushers: cfg.Flushers, MaxBatch: cfg.MaxBatch}, cfg.Logger)
	if err != nil {
		return nil, err
	}
	return &Ingest{secrets: cfg.Secrets, logger: cfg.Logger, timeout: cfg.Timeout, batch: b}, nil
}

// Close stops accepting deliveries (503 from then on), commits every
// delivery already accepted and hands the committed batches to asynq,
// waiting at most until ctx ends. Call it after the HTTP server has drained.
func (in *Ingest) Close(ctx context.Context) error { return in.batch.close(ctx) }

// Handle is the echo handler for POST /webhooks/shopify (and /webhooks/:group).
// It writes the response itself and returns nil.
func (in *Ingest) Handle(c echo.Context) error {
	in.ServeHTTP(c.Response(), c.Request())
	return nil
}

var bufPool = sync.Pool{New: func() any { return bytes.NewBuffer(make([]byte, 0, 16<<10)) }}

// ServeHTTP implements http.Handler.
func (in *Ingest) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	defer func() { ingestSeconds.Observe(time.Since(start).Seconds()) }()

	if r.ContentLength > MaxBodyBytes {
		in.reject(w, r, http.StatusRequestEntityTooLarge, reasonTooLarge, nil, nil)
		return
	}
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	recycle := true
	defer func() {
		if recycle && buf.Cap() <= 256<<10 { // do not keep rare huge buffers alive
			bufPool.Put(buf)
		}
	}()
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, MaxBodyBytes)); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			in.reject(w, r, http.StatusRequestEntityTooLarge, reasonTooLarge, nil, nil)
			return
		}
		// The client went away or sent a broken body: nothing to record.
		in.reject(w, r, http.StatusBadRequest, reasonBadJSON, nil, fmt.Errorf("read body: %w", err))
		return
	}
	body := buf.Bytes()

	h, err := shopify.ParseWebhookHeaders(r.Header)
	if err != nil {
		in.reject(w, r, http.StatusBadRequest, reasonMalformedHeaders, nil, err)
		return
	}
	if err := in.secrets.VerifyWebhook(body, h.HMAC); err != nil {
		in.reject(w, r, http.StatusUnauthorized, reasonBadHMAC, &h, err)
		return
	}
	if !KnownTopics[h.Topic] {
		// Verified but not ours: acknowledge so Shopify does not retry it.
		in.reject(w, r, http.StatusOK, reasonUnknownTopic, &h, nil)
		return
	}
	// The inbox stores the exact bytes as PostgreSQL json, which requires
	// valid UTF-8 (as RFC 8259 does).
	if !utf8.Valid(body) || !json.Valid(body) {
		in.reject(w, r, http.StatusBadRequest, reasonBadJSON, &h, nil)
		return
	}
	receivedTotal.WithLabelValues(h.Topic).Inc()

	d := &Delivery{
		ShopDomain: h.ShopDomain, Topic: h.Topic, WebhookID: h.WebhookID, EventID: h.EventID,
		APIVersion: h.APIVersion, TriggeredAt: h.TriggeredAt, Payload: body,
	}
	ctx, cancel := context.WithTimeout(r.Context(), in.timeout)
	defer cancel()
	out, _, err := in.batch.submit(ctx, d)
	if errors.Is(err, errAbandoned) {
		recycle = false // a flusher still holds body
	}
	switch {
	case errors.Is(err, errRefused):
		in.reject(w, r, http.StatusBadRequest, reasonBadJSON, &h, err)
	case err != nil:
		in.reject(w, r, http.StatusServiceUnavailable, reasonUnavailable, &h, err)
	case out == outcomeDuplicate:
		in.reject(w, r, http.StatusOK, reasonDuplicate, &h, nil)
	case out == outcomeNotInstalled:
		in.reject(w, r, http.StatusOK, reasonUnknownShop, &h, nil)
	default:
		w.WriteHeader(http.StatusOK)
	}
}

// reject counts and logs a delivery that is not recorded, then answers it.
// Never logged: the body and the HMAC.
func (in *Ingest) reject(w http.ResponseWriter, r *http.Request, status int, reason string, h *shopify.WebhookHeaders, err error) {
	rejectedTotal.WithLabelValues(reason).Inc()
	level := slog.LevelWarn
	switch reason {
	case reasonDuplicate, reasonUnknownShop, reasonUnknownTopic:
		level = slog.LevelInfo // expected in normal operation
	case reasonUnavailable:
		level = slog.LevelError
	}
	if in.logger.Enabled(r.Context(), level) {
		attrs := []slog.Attr{slog.String("reason", reason), slog.Int("status", status), slog.String("remote", r.RemoteAddr)}
		if h != nil {
			attrs = append(attrs, slog.String("shop", h.ShopDomain), slog.String("topic", h.Topic), slog.String("webhook_id", h.WebhookID))
		} else {
			// Unverified input: truncated so a hostile header cannot bloat the log.
			attrs = append(attrs, slog.String("shop", truncate(r.Header.Get("X-Shopify-Shop-Domain"))), slog.String("topic", truncate(r.Header.Get("X-Shopify-Topic"))))
		}
		if err != nil {
			attrs = append(attrs, slog.String("err", err.Error()))
		}
		in.logger.LogAttrs(context.WithoutCancel(r.Context()), level, "webhook rejected", attrs...)
	}
	if status != http.StatusOK {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, http.StatusText(status)+": "+reason+"\n")
		return
	}
	w.WriteHeader(status)
}

func truncate(s string) string {
	const max = 128
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}

// Outcome is what the inbox did with a delivery handed to Record.
type Outcome int

// Record outcomes.
const (
	Stored       = Outcome(outcomeStored)       // new row committed
	Duplicate    = Outcome(outcomeDuplicate)    // (shop, webhook id) already recorded
	NotInstalled = Outcome(outcomeNotInstalled) // the shop is not installed: dropped
)

// ErrRefused means the database refused the delivery's data (bad input).
var ErrRefused = errRefused

// Record makes a delivery that did not come through ServeHTTP durable (the
// web pixel's events), through the same group commit: it returns once the
// commit carrying d is done. d.Payload must be valid UTF-8 JSON and is
// retained by a flusher even after ctx ends, so it must not be reused by the
// caller. The committed batch is processed by the dispatcher like any
// webhook, with the handlers registered for d.Topic. Errors wrap
// ErrUnavailable (retry later) or ErrRefused (bad input).
func (in *Ingest) Record(ctx context.Context, d *Delivery) (Outcome, error) {
	out, _, err := in.batch.submit(ctx, d)
	if err != nil {
		if errors.Is(err, errRefused) {
			return 0, err
		}
		if !errors.Is(err, ErrUnavailable) {
			err = errors.Join(ErrUnavailable, err)
		}
		return 0, err
	}
	return Outcome(out), nil
}
