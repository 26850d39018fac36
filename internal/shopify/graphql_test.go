package shopify_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relance/relance/internal/shopify"
	"github.com/relance/relance/internal/shopify/devstore"
	"github.com/stretchr/testify/require"
)

const shopQuery = `query ShopInfo { shop { id name } }`

type shopOut struct {
	Shop struct{ ID, Name string }
}

func TestGraphQLShop(t *testing.T) {
	e := newEnv(t, devstore.Options{})
	c := e.client(e.install(t))
	var out shopOut
	require.NoError(t, c.Do(context.Background(), devShop, shopQuery, nil, &out))
	require.Equal(t, "Dev Shop", out.Shop.Name)
	reqs := e.ds.Requests()
	last := reqs[len(reqs)-1]
	require.Equal(t, http.MethodPost, last.Method)
	require.Equal(t, "/store/"+devShop+"/admin/api/"+shopify.APIVersion+"/graphql.json", last.Path)
	require.Equal(t, devShop, last.Shop)
	require.Equal(t, http.StatusOK, last.Status)

	require.ErrorIs(t, c.Do(context.Background(), "evil.com", shopQuery, nil, &out), shopify.ErrInvalidShop)
}

func TestGraphQLThrottlingPaces(t *testing.T) {
	// A bucket of 10 points restoring 5/s and a 4-point query: a burst of
	// requests must be spread out rather than fail.
	e := newEnv(t, devstore.Options{Bucket: 10, RestoreRate: 5})
	e.ds.HandleGraphQL("heavy", 4, func(shop string, _ map[string]any) (any, error) { return map[string]any{"ok": true}, nil })
	c := e.client(e.install(t))
	ctx := context.Background()
	start := e.clock.Now()
	for i := 0; i < 10; i++ {
		var out struct{ Heavy struct{ OK bool } }
		require.NoError(t, c.Do(ctx, devShop, `{ heavy { ok } }`, nil, &out))
		require.True(t, out.Heavy.OK)
	}
	// 40 points against 10 in the bucket: at least 30 points of restore = 6s.
	require.GreaterOrEqual(t, e.clock.Now().Sub(start), 6*time.Second)
	// The pacer waited ahead of time, so Shopify never had to refuse one.
	sent := 0
	for _, r := range e.ds.Requests() {
		if strings.HasSuffix(r.Path, "graphql.json") {
			sent++
		}
	}
	require.Equal(t, 10, sent, "no THROTTLED round trips")
}

func TestGraphQLThrottledRetry(t *testing.T) {
	e := newEnv(t, devstore.Options{Bucket: 10, RestoreRate: 5})
	e.ds.HandleGraphQL("heavy", 8, func(string, map[string]any) (any, error) { return true, nil })
	ts := e.install(t)
	ctx := context.Background()
	// Another worker drains the bucket; this client has no pacing data yet,
	// so its first attempt is THROTTLED and it must wait and retry.
	require.NoError(t, e.client(ts).Do(ctx, devShop, `{ heavy }`, nil, nil))
	fresh := e.client(ts)
	before := len(e.clock.Slept())
	require.NoError(t, fresh.Do(ctx, devShop, `{ heavy }`, nil, nil))
	waits := e.clock.Slept()[before:]
	require.NotEmpty(t, waits)
	// 2 available, 8 requested, restore 5/s: 1.2s.
	require.InDelta(t, 1.2, waits[0].Seconds(), 0.25)

	// A query bigger than the bucket is an error, not an endless wait.
	e.ds.HandleGraphQL("huge", 50, func(string, map[string]any) (any, error) { return true, nil })
	err := fresh.Do(ctx, devShop, `{ huge }`, nil, nil)
	var ge *shopify.GraphQLError
	require.True(t, errors.As(err, &ge))
	require.Equal(t, []string{"MAX_COST_EXCEEDED"}, ge.Codes)
}

func TestGraphQLConcurrentRealTime(t *testing.T) {
	// Real clock and sleeps: 12 concurrent 10-point queries against a
	// 20-point bucket restoring 400/s all succeed.
	ds := devstore.New(devstore.Options{APIKey: apiKey, APISecret: apiSecret, Bucket: 20, RestoreRate: 400})
	ds.AddShop(devShop, "Dev Shop", "o@x.test", "UTC", "EUR")
	ds.HandleGraphQL("heavy", 10, func(string, map[string]any) (any, error) { return true, nil })
	srv := newServer(t, ds)
	tok, err := ds.IssueToken(devShop)
	require.NoError(t, err)
	client := &shopify.Client{AdminBase: srv.base, Tokens: staticTokens(tok.AccessToken), HTTP: srv.client}
	var wg sync.WaitGroup
	errs := make(chan error, 12)
	for i := 0; i < 12; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- client.Do(context.Background(), devShop, `{ heavy }`, nil, nil)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

func TestGraphQLRetries5xx(t *testing.T) {
	e := newEnv(t, devstore.Options{})
	c := e.client(e.install(t))
	ctx := context.Background()

	e.ds.FailNext("graphql.json", http.StatusBadGateway, 2)
	var out shopOut
	require.NoError(t, c.Do(ctx, devShop, shopQuery, nil, &out))
	require.Equal(t, "Dev Shop", out.Shop.Name)
	slept := e.clock.Slept()
	require.Len(t, slept, 2)
	require.Less(t, slept[0], slept[1]+time.Millisecond*500, "backoff grows")

	c.MaxRetries = 2
	e.ds.FailNext("graphql.json", http.StatusServiceUnavailable, 3)
	err := c.Do(ctx, devShop, shopQuery, nil, &out)
	var he *shopify.HTTPError
	require.True(t, errors.As(err, &he), "err = %v", err)
	require.Equal(t, http.StatusServiceUnavailable, he.Status)

	// 429 without a throttle body: honour Retry-After.
	before := len(e.clock.Slept())
	e.ds.FailNext("graphql.json", http.StatusTooManyRequests, 1)
	require.NoError(t, c.Do(ctx, devShop, shopQuery, nil, &out))
	require.Equal(t, []time.Duration{time.Second}, e.clock.Slept()[before:])

	// Endless throttling gives up with ErrThrottled instead of spinning.
	// (The client tolerates 20 throttled answers, so 21 exhaust it.)
	e.ds.FailNext("graphql.json", http.StatusTooManyRequests, 21)
	require.ErrorIs(t, c.Do(ctx, devShop, shopQuery, nil, &out), shopify.ErrThrottled)

	for _, status := range []int{http.StatusPaymentRequired, http.StatusForbidden, http.StatusNotFound, http.StatusLocked} {
		e.ds.FailNext("graphql.json", status, 1)
		require.ErrorIs(t, c.Do(ctx, devShop, shopQuery, nil, &out), shopify.ErrShopUnavailable)
	}

	// Network errors are retried, then surfaced.
	dead := *e.base
	dead.Host = "127.0.0.1:1"
	dc := e.client(e.install(t))
	dc.AdminBase = &dead
	dc.MaxRetries = 1
	require.Error(t, dc.Do(ctx, devShop, shopQuery, nil, &out))

	// Context cancellation ends backoff.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	require.ErrorIs(t, c.Do(cctx, devShop, shopQuery, nil, &out), context.Canceled)
}

func TestGraphQLRefreshOn401(t *testing.T) {
	e := newEnv(t, devstore.Options{})
	ts := e.install(t)
	c := e.client(ts)
	ctx := context.Background()
	old := ts.tok[devShop].AccessToken

	e.ds.RevokeAccessTokens(devShop)
	var out shopOut
	require.NoError(t, c.Do(ctx, devShop, shopQuery, nil, &out))
	require.Equal(t, 1, ts.refreshes)
	require.NotEqual(t, old, ts.tok[devShop].AccessToken)

	// Expiry by time also triggers a refresh.
	e.clock.Advance(2 * time.Hour)
	require.NoError(t, c.Do(ctx, devShop, shopQuery, nil, &out))
	require.Equal(t, 2, ts.refreshes)

	// A refresh that yields another refused token: ErrUnauthorized, and the
	// token is not in the error.
	bad := staticTokens("shpat_not_a_real_token")
	err := e.client(bad).Do(ctx, devShop, shopQuery, nil, &out)
	require.ErrorIs(t, err, shopify.ErrUnauthorized)
	require.NotContains(t, err.Error(), "shpat_not_a_real_token")

	// A refresh failure is surfaced as such.
	ts.tok[devShop].RefreshToken = "shprt_bogus"
	e.ds.RevokeAccessTokens(devShop)
	err = c.Do(ctx, devShop, shopQuery, nil, &out)
	require.ErrorIs(t, err, shopify.ErrInvalidGrant)
}

func TestGraphQLErrors(t *testing.T) {
	e := newEnv(t, devstore.Options{})
	e.ds.HandleGraphQL("discountCodeBasicCreate", 10, func(shop string, vars map[string]any) (any, error) {
		input, _ := vars["basicCodeDiscount"].(map[string]any)
		return map[string]any{
			"codeDiscountNode": nil,
			"userErrors": []any{map[string]any{
				"field": []string{"basicCodeDiscount", "code"}, "message": "Code must be unique. Please try a different code.", "code": "TAKEN",
				"echo": input["code"],
			}},
		}, nil
	})
	e.ds.HandleGraphQL("broken", 1, func(string, map[string]any) (any, error) { return nil, errors.New("internal failure") })
	c := e.client(e.install(t))
	ctx := context.Background()

	var out struct {
		DiscountCodeBasicCreate struct {
			CodeDiscountNode *struct{ ID string }
			UserErrors       []shopify.UserError
		}
	}
	err := c.Do(ctx, devShop, `mutation Create($basicCodeDiscount: DiscountCodeBasicInput!) {
		discountCodeBasicCreate(basicCodeDiscount: $basicCodeDiscount) { codeDiscountNode { id } userErrors { field message code } }
	}`, map[string]any{"basicCodeDiscount": map[string]any{"code": "WELCOME10"}}, &out)
	require.NoError(t, err)
	uerr := shopify.CheckUserErrors(out.DiscountCodeBasicCreate.UserErrors)
	var ue shopify.UserErrors
	require.True(t, errors.As(uerr, &ue))
	require.Equal(t, "TAKEN", ue[0].Code)
	require.Equal(t, []string{"basicCodeDiscount", "code"}, ue[0].Field)
	require.Contains(t, uerr.Error(), "basicCodeDiscount.code: Code must be unique")
	require.NoError(t, shopify.CheckUserErrors(nil))

	err = c.Do(ctx, devShop, `{ nope { id } }`, nil, nil)
	var ge *shopify.GraphQLError
	require.True(t, errors.As(err, &ge))
	require.Equal(t, []string{"Field 'nope' doesn't exist on type 'QueryRoot'"}, ge.Messages)
	require.Equal(t, []string{"undefinedField"}, ge.Codes)

	err = c.Do(ctx, devShop, `mutation { nope }`, nil, nil)
	require.True(t, errors.As(err, &ge))
	require.Equal(t, []string{"Field 'nope' doesn't exist on type 'Mutation'"}, ge.Messages)

	err = c.Do(ctx, devShop, `{ broken }`, nil, nil)
	require.True(t, errors.As(err, &ge))
	require.Equal(t, []string{"internal failure"}, ge.Messages)

	err = c.Do(ctx, devShop, `{ shop `, nil, nil)
	require.True(t, errors.As(err, &ge))
}

func TestGraphQLWrongVersionIs404(t *testing.T) {
	e := newEnv(t, devstore.Options{})
	ts := e.install(t)
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/store/"+devShop+"/admin/api/2024-01/graphql.json", strings.NewReader(`{"query":"{ shop { id } }"}`))
	require.NoError(t, err)
	req.Header.Set("X-Shopify-Access-Token", ts.tok[devShop].AccessToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.srv.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}

type staticTokens string

func (s staticTokens) AccessToken(context.Context, string) (string, error) { return string(s), nil }
func (s staticTokens) RefreshAccessToken(context.Context, string, string) (string, error) {
	return string(s), nil
}

type testServer struct {
	base   *url.URL
	client *http.Client
}

func newServer(t *testing.T, h http.Handler) testServer {
	t.Helper()
	srv := newHTTPTest(t, h)
	base, err := url.Parse(srv.URL + "/store/{shop}")
	require.NoError(t, err)
	return testServer{base: base, client: srv.Client()}
}
