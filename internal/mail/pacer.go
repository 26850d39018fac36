package mail

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Pacer spaces calls to Resend for every worker of every process: Resend's
// limit is per account (team), so a per-process limiter would let N workers
// send N times too fast. It is a GCRA in a Lua script, on Redis's clock
// (workers' clocks may disagree). The limit comes from the ratelimit-limit
// header of Resend's answers; a 429 or an exhausted window pauses everyone
// until Resend says to resume.
type Pacer struct {
	rdb    redis.UniversalClient
	prefix string
	// DefaultLimit is the requests/second used until Resend states its own
	// (default 2, the lowest Resend has documented).
	DefaultLimit int
	// Headroom is the share of the limit used (default 0.97): requests
	// spaced exactly at the limit can meet in one second of Resend's window
	// after network jitter.
	Headroom float64
}

// NewPacer returns a pacer on rdb; every process using the same Resend
// account must use the same prefix (default "mail:resend").
func NewPacer(rdb redis.UniversalClient, prefix string) *Pacer {
	if prefix == "" {
		prefix = "mail:resend"
	}
	return &Pacer{rdb: rdb, prefix: prefix, DefaultLimit: 2, Headroom: 0.97}
}

// gcra answers 0 when a request may go now (and books it), else the
// microseconds to wait. KEYS: theoretical arrival time, limit, pause-until.
// ARGV: default limit, headroom.
var gcra = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local pause = tonumber(redis.call('GET', KEYS[3]) or '0')
if pause > now then return pause - now end
local limit = tonumber(redis.call('GET', KEYS[2]) or ARGV[1])
if limit == nil or limit <= 0 then limit = tonumber(ARGV[1]) end
local interval = math.floor(1000000 / (limit * tonumber(ARGV[2])))
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
if tat > now then return tat - now end
redis.call('SET', KEYS[1], tat + interval, 'PX', math.floor(interval / 1000) + 1000)
return 0
`)

func (p *Pacer) keys() []string {
	return []string{p.prefix + ":tat", p.prefix + ":limit", p.prefix + ":pause"}
}

// Wait blocks until this process may make one request to Resend.
func (p *Pacer) Wait(ctx context.Context) error {
	for {
		us, err := gcra.Run(ctx, p.rdb, p.keys(), p.DefaultLimit, p.Headroom).Int64()
		if err != nil {
			return fmt.Errorf("mail: pace resend: %w", err)
		}
		if us <= 0 {
			return nil
		}
		t := time.NewTimer(time.Duration(us) * time.Microsecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("mail: pace resend: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// Observe reads Resend's rate-limit headers from any answer: the limit it
// states, and on a 429 a pause for everyone until retry-after. A spent
// window (ratelimit-remaining 0) alone does not pause: the spacing already
// keeps within the limit, and pausing for the whole reset would halve
// throughput.
func (p *Pacer) Observe(ctx context.Context, status int, h http.Header) error {
	if h == nil {
		return nil
	}
	pipe := p.rdb.Pipeline()
	if l, err := strconv.Atoi(strings.TrimSpace(h.Get("ratelimit-limit"))); err == nil && l > 0 {
		pipe.Set(ctx, p.prefix+":limit", l, 24*time.Hour)
	}
	var pause time.Duration
	if status == http.StatusTooManyRequests {
		pause = headerSeconds(h.Get("retry-after"))
		if pause == 0 {
			pause = headerSeconds(h.Get("ratelimit-reset"))
		}
		if pause == 0 {
			pause = time.Second
		}
	}
	if pause > 0 {
		pause = min(pause, time.Minute)
		pipe.Eval(ctx, `
local t = redis.call('TIME')
local until_ = tonumber(t[1]) * 1000000 + tonumber(t[2]) + tonumber(ARGV[1])
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if until_ > cur then redis.call('SET', KEYS[1], until_, 'PX', math.floor(tonumber(ARGV[1]) / 1000) + 1000) end
return 0`, []string{p.prefix + ":pause"}, pause.Microseconds())
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("mail: record resend rate limit: %w", err)
	}
	return nil
}

func headerSeconds(v string) time.Duration {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || f <= 0 {
		return 0
	}
	return time.Duration(f * float64(time.Second))
}
