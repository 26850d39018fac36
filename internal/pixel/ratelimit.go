package pixel

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Limits are fixed-window request budgets. A client is counted first and,
// once over its budget, no longer counts against its shop: one client
// flooding cannot use up the budget of the shop's other shoppers, and no
// shop's traffic touches another shop's counters.
type Limits struct {
	PerClient int           // requests per window per (shop, client id); default 120
	PerShop   int           // requests per window per shop; default 30000
	Window    time.Duration // default 1 minute
}

func (l *Limits) defaults() {
	if l.PerClient <= 0 {
		l.PerClient = 120
	}
	if l.PerShop <= 0 {
		l.PerShop = 30000
	}
	if l.Window <= 0 {
		l.Window = time.Minute
	}
}

// limitScript counts one request. Returns {0, 0} when allowed, else
// {1 (shop) or 2 (client), milliseconds until the window ends}.
var limitScript = redis.NewScript(`
local c = redis.call('INCR', KEYS[2])
if c == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[3]) end
if c > tonumber(ARGV[2]) then
  local ttl = redis.call('PTTL', KEYS[2])
  if ttl < 0 then redis.call('PEXPIRE', KEYS[2], ARGV[3]); ttl = tonumber(ARGV[3]) end
  return {2, ttl}
end
local s = redis.call('INCR', KEYS[1])
if s == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
if s > tonumber(ARGV[1]) then
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[3]); ttl = tonumber(ARGV[3]) end
  return {1, ttl}
end
return {0, 0}`)

// limiter is the Redis side of Limits.
type limiter struct {
	rdb    redis.UniversalClient
	limits Limits
	prefix string
}

// verdict of one request.
type verdict struct {
	allowed    bool
	scope      string // "shop" or "client" when refused
	retryAfter time.Duration
}

func (l *limiter) allow(ctx context.Context, shop, client string) (verdict, error) {
	keys := []string{l.prefix + "s:" + shop, l.prefix + "c:" + shop + ":" + client}
	res, err := limitScript.Run(ctx, l.rdb, keys, l.limits.PerShop, l.limits.PerClient, l.limits.Window.Milliseconds()).Int64Slice()
	if err != nil {
		return verdict{}, fmt.Errorf("pixel: rate limit: %w", err)
	}
	if len(res) != 2 || res[0] == 0 {
		return verdict{allowed: true}, nil
	}
	v := verdict{scope: "shop", retryAfter: time.Duration(res[1]) * time.Millisecond}
	if res[0] == 2 {
		v.scope = "client"
	}
	return v, nil
}
