package pixel

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"

	"github.com/relance/relance/internal/webhook"
)

// Inbox makes a delivery durable (*webhook.Ingest).
type Inbox interface {
	Record(ctx context.Context, d *webhook.Delivery) (webhook.Outcome, error)
}

// Options configure the endpoint.
type Options struct {
	Inbox  Inbox                 // required
	Redis  redis.UniversalClient // required: rate limits
	Limits Limits
	Logger *slog.Logger
	// Timeout bounds the wait for the durable write (default 3 s).
	Timeout time.Duration
	Now     func() time.Time
}

// Endpoint is POST /pixel/events.
type Endpoint struct {
	inbox   Inbox
	limit   *limiter
	log     *slog.Logger
	timeout time.Duration
	now     func() time.Time

	lastRedisLog atomic.Int64
}

// NewEndpoint returns the endpoint.
func NewEndpoint(o Options) (*Endpoint, error) {
	if o.Inbox == nil || o.Redis == nil {
		return nil, errors.New("pixel: Inbox and Redis are required")
	}
	o.Limits.defaults()
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Timeout <= 0 {
		o.Timeout = 3 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Endpoint{inbox: o.Inbox, limit: &limiter{rdb: o.Redis, limits: o.Limits, prefix: "relance:pixel:rl:"},
		log: o.Logger, timeout: o.Timeout, now: o.Now}, nil
}

// Routes mounts POST and OPTIONS /pixel/events.
func (p *Endpoint) Routes(e *echo.Echo) {
	e.POST("/pixel/events", p.Handle)
	e.OPTIONS("/pixel/events", p.Preflight)
}

// cors: the pixel runs in Shopify's strict sandbox (a web worker on a
// Shopify-controlled origin, or "null"), not on the shop's own origin, so
// no allow-list of storefront origins can be exact. Every origin is allowed,
// without credentials: no cookie or auth header is ever read here, the
// endpoint grants nothing and trusts nothing it receives, so a wildcard
// exposes nothing another site could not already do with curl.
func cors(h http.Header) {
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Content-Type")
	h.Set("Access-Control-Max-Age", "86400")
}

// Preflight answers the CORS preflight.
func (p *Endpoint) Preflight(c echo.Context) error {
	cors(c.Response().Header())
	return c.NoContent(http.StatusNoContent)
}

// Handle is POST /pixel/events.
func (p *Endpoint) Handle(c echo.Context) error {
	w, r := c.Response(), c.Request()
	cors(w.Header())
	if r.ContentLength > MaxBodyBytes {
		return p.reject(c, http.StatusRequestEntityTooLarge, "too_large", "", nil)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return p.reject(c, http.StatusRequestEntityTooLarge, "too_large", "", nil)
		}
		return p.reject(c, http.StatusBadRequest, "unreadable", "", err)
	}
	now := p.now()
	b, err := Parse(body, now)
	if err != nil {
		return p.reject(c, http.StatusBadRequest, "malformed", "", err)
	}
	v, err := p.limit.allow(r.Context(), b.Shop, b.ClientID)
	switch {
	case err != nil:
		// Fail open: Redis is protection, PostgreSQL is the truth, and a
		// Redis outage must not lose storefront events.
		p.logRedis(err)
	case !v.allowed:
		secs := int(math.Ceil(v.retryAfter.Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
		rejected.WithLabelValues("rate_limited_" + v.scope).Inc()
		return c.NoContent(http.StatusTooManyRequests) // not logged: a flood would flood the log
	}
	if len(b.Events) == 0 {
		accepted.Inc()
		return c.NoContent(http.StatusNoContent) // only events we do not use
	}
	payload, err := json.Marshal(b)
	if err != nil {
		return p.reject(c, http.StatusBadRequest, "malformed", b.Shop, err)
	}
	d := &webhook.Delivery{ShopDomain: b.Shop, Topic: Topic, WebhookID: batchKey(b), TriggeredAt: now, Payload: payload}
	ctx, cancel := context.WithTimeout(r.Context(), p.timeout)
	defer cancel()
	out, err := p.inbox.Record(ctx, d)
	switch {
	case errors.Is(err, webhook.ErrRefused):
		return p.reject(c, http.StatusBadRequest, "refused", b.Shop, err)
	case err != nil:
		return p.reject(c, http.StatusServiceUnavailable, "unavailable", b.Shop, err)
	case out == webhook.NotInstalled:
		return p.reject(c, http.StatusNotFound, "unknown_shop", b.Shop, nil)
	}
	accepted.Inc()
	return c.NoContent(http.StatusNoContent)
}

// batchKey is the inbox dedupe key: a batch the pixel sends again (a
// keepalive retry) carries the same client and event ids.
func batchKey(b *Batch) string {
	h := sha256.New()
	h.Write([]byte(b.ClientID))
	for _, e := range b.Events {
		h.Write([]byte{0})
		h.Write([]byte(e.ID))
	}
	return "pixel:" + hex.EncodeToString(h.Sum(nil)[:16])
}

func (p *Endpoint) reject(c echo.Context, status int, reason, shop string, err error) error {
	rejected.WithLabelValues(reason).Inc()
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	attrs := []slog.Attr{slog.String("reason", reason), slog.Int("status", status), slog.String("remote", c.RealIP())}
	if shop != "" {
		attrs = append(attrs, slog.String("shop", shop))
	}
	if err != nil {
		attrs = append(attrs, slog.String("err", err.Error()))
	}
	p.log.LogAttrs(context.WithoutCancel(c.Request().Context()), level, "pixel events rejected", attrs...)
	return c.String(status, http.StatusText(status)+": "+reason+"\n")
}

func (p *Endpoint) logRedis(err error) {
	now := time.Now().UnixNano()
	last := p.lastRedisLog.Load()
	if now-last < int64(10*time.Second) || !p.lastRedisLog.CompareAndSwap(last, now) {
		return
	}
	p.log.Warn("pixel: rate limiter unavailable, accepting events unlimited", "err", err)
}
