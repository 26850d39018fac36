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
	// after network jitter. (A request that left late is covered by the
	// window kept after logged departures, see Depart.)
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

// gcra books the next slot, spaced interval after the last one booked,
// and answers {1, microseconds until it}; or, while paused or when that
// slot is more than ARGV[3] µs ahead, books nothing and answers {0,
// microseconds to wait before asking again}. Booking ahead lets a caller
// prepare its request and fire at the slot with nothing in between.
// KEYS: theoretical arrival time, limit, pause-until. ARGV: default limit,
// headroom, horizon.
var gcra = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local pause = tonumber(redis.call('GET', KEYS[3]) or '0')
if pause > now then return {0, pause - now} end
local limit = tonumber(redis.call('GET', KEYS[2]) or ARGV[1])
if limit == nil or limit <= 0 then limit = tonumber(ARGV[1]) end
local interval = math.floor(1000000 / (limit * tonumber(ARGV[2])))
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local ahead = tat - now
if ahead > tonumber(ARGV[3]) then return {0, ahead - tonumber(ARGV[3])} end
redis.call('SET', KEYS[1], tat + interval, 'PX', math.floor((ahead + interval) / 1000) + 1000)
return {1, ahead}
`)

// horizon is how far ahead a slot may be booked: a second's worth of
// requests waits at most, whatever the number of workers.
const horizon = time.Second

// window is Resend's: a limit of N requests per second means no more than
// N in any second (the stand-in counts a sliding second; Resend documents
// only "per second"), plus a margin for what varies between logging a send
// and its arrival (a new connection, scheduling on a busy host). The
// spacing alone keeps to it when every request leaves on its slot; a
// request that left late would otherwise bring the one N slots later within
// a second of it, and a 429 pauses everyone for a whole retry-after.
const window = time.Second + 30*time.Millisecond

// sentLog keeps the most recent sends, for limits up to this many per second.
const sentLog = 100

func (p *Pacer) keys() []string {
	return []string{p.prefix + ":tat", p.prefix + ":limit", p.prefix + ":pause"}
}

// Reserve books this process's next request to Resend and returns when
// (local clock) it may be made. The slot is used even if the caller then
// does not send.
func (p *Pacer) Reserve(ctx context.Context) (time.Time, error) {
	for {
		res, err := gcra.Run(ctx, p.rdb, p.keys(), p.DefaultLimit, p.Headroom, horizon.Microseconds()).Int64Slice()
		if err != nil {
			return time.Time{}, fmt.Errorf("mail: pace resend: %w", err)
		}
		if len(res) != 2 {
			return time.Time{}, fmt.Errorf("mail: pace resend: unexpected answer %v", res)
		}
		at := time.Now().Add(time.Duration(res[1]) * time.Microsecond)
		if res[0] == 1 {
			return at, nil
		}
		if err := sleepUntil(ctx, at); err != nil {
			return time.Time{}, fmt.Errorf("mail: pace resend: %w", err)
		}
	}
}

// Wait blocks until this process may make one request to Resend.
func (p *Pacer) Wait(ctx context.Context) error {
	at, err := p.Reserve(ctx)
	if err != nil {
		return err
	}
	if err := sleepUntil(ctx, at); err != nil {
		return fmt.Errorf("mail: pace resend: %w", err)
	}
	return nil
}

// depart logs a request leaving now, on Redis's clock, and answers 0; or,
// when that would put it within a window of the limit-th last one logged,
// logs nothing and answers the microseconds to wait. KEYS: sent log
// (newest first), limit. ARGV: default limit, window, log size.
var depart = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local limit = tonumber(redis.call('GET', KEYS[2]) or ARGV[1])
if limit == nil or limit <= 0 then limit = tonumber(ARGV[1]) end
local past = tonumber(redis.call('LINDEX', KEYS[1], limit - 1) or '0')
local earliest = past + tonumber(ARGV[2])
if earliest > now then return earliest - now end
redis.call('LPUSH', KEYS[1], now)
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[3]) - 1)
redis.call('PEXPIRE', KEYS[1], 10000)
return 0
`)

// Depart is called as a request to Resend leaves, after its turn: it logs
// it, first waiting if it would otherwise be within a window of the
// limit-th request before it, which happens when that one left late.
func (p *Pacer) Depart(ctx context.Context) error {
	for {
		us, err := depart.Run(ctx, p.rdb, []string{p.prefix + ":sent", p.prefix + ":limit"}, p.DefaultLimit, window.Microseconds(), sentLog).Int64()
		if err != nil {
			return fmt.Errorf("mail: pace resend: %w", err)
		}
		if us <= 0 {
			return nil
		}
		if err := sleepUntil(ctx, time.Now().Add(time.Duration(us)*time.Microsecond)); err != nil {
			return fmt.Errorf("mail: pace resend: %w", err)
		}
	}
}

func sleepUntil(ctx context.Context, at time.Time) error {
	d := time.Until(at)
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
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
