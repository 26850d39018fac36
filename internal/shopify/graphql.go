package shopify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// TokenSource supplies a shop's offline access token.
type TokenSource interface {
	AccessToken(ctx context.Context, shop string) (string, error)
	// RefreshAccessToken is called after a 401 with the token that was refused; it returns a fresh one (implementations serialize per shop).
	RefreshAccessToken(ctx context.Context, shop, refused string) (string, error)
}

// Client calls the GraphQL Admin API. It paces each shop by the cost
// information Shopify returns, retries throttled and transient failures, and
// refreshes a refused access token once. A Client must not be copied after
// first use.
type Client struct {
	AdminBase  *url.URL // override, nil => https://{shop}
	Tokens     TokenSource
	HTTP       *http.Client // nil => 30s timeout client
	MaxRetries int          // default 5
	// Sleep is used for backoff/throttle waits (tests shorten it); nil => context-aware time sleep.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the pacer's clock; nil => time.Now.
	Now func() time.Time

	mu     sync.Mutex
	pacers map[string]*pacer
}

const (
	defaultMaxRetries   = 5
	maxThrottleWaits    = 20 // throttled responses tolerated per call before giving up
	gqlFirstBackoff     = 500 * time.Millisecond
	gqlMaxBackoff       = 30 * time.Second
	maxThrottleWait     = 60 * time.Second
	defaultThrottleWait = time.Second
)

var defaultGraphQLHTTP = &http.Client{Timeout: 30 * time.Second}

// UserError is one entry of a mutation's userErrors.
type UserError struct {
	Field   []string `json:"field"`
	Message string   `json:"message"`
	Code    string   `json:"code,omitempty"`
}

// UserErrors is a non-empty userErrors list returned as an error.
type UserErrors []UserError

func (u UserErrors) Error() string {
	msgs := make([]string, len(u))
	for i, e := range u {
		m := e.Message
		if len(e.Field) > 0 {
			m = strings.Join(e.Field, ".") + ": " + m
		}
		if e.Code != "" {
			m += " (" + e.Code + ")"
		}
		msgs[i] = m
	}
	return "shopify: user errors: " + strings.Join(msgs, "; ")
}

// CheckUserErrors returns nil when errs is empty, else errs as UserErrors.
func CheckUserErrors(errs []UserError) error {
	if len(errs) == 0 {
		return nil
	}
	return UserErrors(errs)
}

// GraphQLError carries the top-level "errors" of a response (other than
// throttling).
type GraphQLError struct {
	Messages []string
	Codes    []string // extensions.code of each error, "" when absent
}

func (e *GraphQLError) Error() string {
	return "shopify: graphql errors: " + strings.Join(e.Messages, "; ")
}

// HTTPError is an unexpected HTTP status from the Admin API.
type HTTPError struct {
	Status int
	Body   string // truncated
}

func (e *HTTPError) Error() string {
	if e.Body == "" {
		return "shopify: unexpected HTTP status " + strconv.Itoa(e.Status)
	}
	return "shopify: unexpected HTTP status " + strconv.Itoa(e.Status) + ": " + e.Body
}

type throttleStatus struct {
	MaximumAvailable   float64 `json:"maximumAvailable"`
	CurrentlyAvailable float64 `json:"currentlyAvailable"`
	RestoreRate        float64 `json:"restoreRate"`
}

type gqlCost struct {
	RequestedQueryCost float64         `json:"requestedQueryCost"`
	ThrottleStatus     *throttleStatus `json:"throttleStatus"`
}

type gqlErrorEntry struct {
	Message    string `json:"message"`
	Extensions struct {
		Code string `json:"code"`
	} `json:"extensions"`
}

type gqlResponse struct {
	Data       json.RawMessage `json:"data"`
	Errors     json.RawMessage `json:"errors"`
	Extensions struct {
		Cost *gqlCost `json:"cost"`
	} `json:"extensions"`
}

// pacer mirrors Shopify's leaky bucket for one shop from the last
// throttleStatus seen, and reserves an estimated cost per request so
// concurrent callers queue instead of all hitting THROTTLED.
type pacer struct {
	mu        sync.Mutex
	known     bool
	max       float64
	available float64
	restore   float64
	lastCost  float64
	at        time.Time
}

func (p *pacer) reserve(now time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.known || p.restore <= 0 {
		return 0
	}
	avail := math.Min(p.max, p.available+p.restore*now.Sub(p.at).Seconds())
	p.available, p.at = avail-p.lastCost, now
	if avail >= p.lastCost {
		return 0
	}
	return min(time.Duration((p.lastCost-avail)/p.restore*float64(time.Second)), maxThrottleWait)
}

func (p *pacer) update(c *gqlCost, now time.Time) {
	if c == nil || c.ThrottleStatus == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.known = true
	p.max = c.ThrottleStatus.MaximumAvailable
	p.available = c.ThrottleStatus.CurrentlyAvailable
	p.restore = c.ThrottleStatus.RestoreRate
	p.lastCost = c.RequestedQueryCost
	p.at = now
}

// throttleWait is how long until the bucket holds the requested cost again.
func throttleWait(c *gqlCost) time.Duration {
	if c == nil || c.ThrottleStatus == nil || c.ThrottleStatus.RestoreRate <= 0 {
		return defaultThrottleWait
	}
	need := c.RequestedQueryCost - c.ThrottleStatus.CurrentlyAvailable
	if need <= 0 {
		return 100 * time.Millisecond
	}
	d := time.Duration(need / c.ThrottleStatus.RestoreRate * float64(time.Second))
	return min(d, maxThrottleWait)
}

func (c *Client) pacerFor(shop string) *pacer {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pacers == nil {
		c.pacers = map[string]*pacer{}
	}
	p := c.pacers[shop]
	if p == nil {
		p = &pacer{}
		c.pacers[shop] = p
	}
	return p
}

// Do runs one GraphQL query or mutation against shop and decodes "data"
// into out (which may be nil).
func (c *Client) Do(ctx context.Context, shop, query string, variables map[string]any, out any) error {
	if !ValidShopDomain(shop) {
		return fmt.Errorf("shopify: graphql request: %w", ErrInvalidShop)
	}
	shop = strings.ToLower(shop)
	if c.Tokens == nil {
		return errors.New("shopify: graphql request: no token source")
	}
	body, err := json.Marshal(map[string]any{"query": query, "variables": variables})
	if err != nil {
		return fmt.Errorf("shopify: encoding graphql request: %w", err)
	}
	endpoint := AdminBase(c.AdminBase, shop) + "/admin/api/" + APIVersion + "/graphql.json"
	client := c.HTTP
	if client == nil {
		client = defaultGraphQLHTTP
	}
	sleep := c.Sleep
	if sleep == nil {
		sleep = SleepContext
	}
	now := c.Now
	if now == nil {
		now = time.Now
	}
	maxRetries := c.MaxRetries
	if maxRetries <= 0 {
		maxRetries = defaultMaxRetries
	}
	p := c.pacerFor(shop)

	token, err := c.Tokens.AccessToken(ctx, shop)
	if err != nil {
		return fmt.Errorf("shopify: getting access token: %w", err)
	}
	var (
		refreshed bool
		retries   int
		throttles int
		backoff   = gqlFirstBackoff
	)
	// transient waits with exponential backoff, or gives up after maxRetries.
	transient := func(cause error) error {
		retries++
		if retries > maxRetries {
			return fmt.Errorf("shopify: graphql request: giving up after %d retries: %w", maxRetries, cause)
		}
		if err := sleep(ctx, jitter(backoff)); err != nil {
			return fmt.Errorf("shopify: graphql request: %w", err)
		}
		backoff = min(backoff*2, gqlMaxBackoff)
		return nil
	}
	throttled := func(d time.Duration) error {
		throttles++
		if throttles > maxThrottleWaits {
			return fmt.Errorf("shopify: graphql request: %w", ErrThrottled)
		}
		if err := sleep(ctx, d); err != nil {
			return fmt.Errorf("shopify: graphql request: %w", err)
		}
		return nil
	}

	for {
		if d := p.reserve(now()); d > 0 {
			if err := sleep(ctx, d); err != nil {
				return fmt.Errorf("shopify: graphql request: %w", err)
			}
		}
		status, header, raw, err := c.post(ctx, client, endpoint, token, body)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("shopify: graphql request: %w", ctx.Err())
			}
			if err := transient(err); err != nil {
				return err
			}
			continue
		}
		var resp gqlResponse
		jsonErr := json.Unmarshal(raw, &resp)
		if jsonErr == nil {
			p.update(resp.Extensions.Cost, now())
		}

		switch {
		case status == http.StatusUnauthorized:
			if refreshed {
				return fmt.Errorf("shopify: graphql request: %w", ErrUnauthorized)
			}
			refreshed = true
			token, err = c.Tokens.RefreshAccessToken(ctx, shop, token)
			if err != nil {
				return fmt.Errorf("shopify: refreshing access token: %w", err)
			}
			continue
		case isShopUnavailable(status):
			return fmt.Errorf("shopify: graphql request: %w: HTTP %d", ErrShopUnavailable, status)
		case status == http.StatusTooManyRequests:
			d := retryAfter(header)
			if d == 0 {
				d = throttleWait(resp.Extensions.Cost)
			}
			if err := throttled(d); err != nil {
				return err
			}
			continue
		case status >= 500:
			if err := transient(&HTTPError{Status: status, Body: truncate(string(raw), 512)}); err != nil {
				return err
			}
			continue
		case status != http.StatusOK:
			return &HTTPError{Status: status, Body: truncate(string(raw), 512)}
		}

		if jsonErr != nil {
			return fmt.Errorf("shopify: decoding graphql response: %w", ErrMalformed)
		}
		gqlErr, isThrottled := parseErrors(resp.Errors)
		if isThrottled {
			d := retryAfter(header)
			if d == 0 {
				d = throttleWait(resp.Extensions.Cost)
			}
			if err := throttled(d); err != nil {
				return err
			}
			continue
		}
		if out != nil && len(resp.Data) > 0 && !bytes.Equal(resp.Data, []byte("null")) {
			if err := json.Unmarshal(resp.Data, out); err != nil {
				return fmt.Errorf("shopify: decoding graphql data: %w", err)
			}
		}
		if gqlErr != nil {
			return gqlErr
		}
		return nil
	}
}

func (c *Client) post(ctx context.Context, client *http.Client, endpoint, token string, body []byte) (int, http.Header, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-Shopify-Access-Token", token)
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("reading response: %w", err)
	}
	return resp.StatusCode, resp.Header, raw, nil
}

// parseErrors reads top-level errors, an array of objects or (on some
// 4xx) a bare string. It reports THROTTLED separately.
func parseErrors(raw json.RawMessage) (*GraphQLError, bool) {
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, false
	}
	var list []gqlErrorEntry
	if err := json.Unmarshal(raw, &list); err != nil {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return &GraphQLError{Messages: []string{s}, Codes: []string{""}}, false
		}
		return &GraphQLError{Messages: []string{"unreadable errors field"}, Codes: []string{""}}, false
	}
	if len(list) == 0 {
		return nil, false
	}
	e := &GraphQLError{}
	for _, item := range list {
		if item.Extensions.Code == "THROTTLED" {
			return nil, true
		}
		e.Messages = append(e.Messages, item.Message)
		e.Codes = append(e.Codes, item.Extensions.Code)
	}
	return e, false
}

// retryAfter reads a Retry-After in seconds (fractions allowed); 0 if absent.
func retryAfter(h http.Header) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 || math.IsNaN(f) {
		return 0
	}
	return min(time.Duration(f*float64(time.Second)), maxThrottleWait)
}
