package discount

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/relance/relance/internal/platform/testenv"
	"github.com/relance/relance/internal/shopify"
	"github.com/relance/relance/internal/shopify/devstore"
)

type staticTokens string

func (s staticTokens) AccessToken(context.Context, string) (string, error) { return string(s), nil }
func (s staticTokens) RefreshAccessToken(context.Context, string, string) (string, error) {
	return string(s), nil
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type harness struct {
	t      *testing.T
	ctx    context.Context
	db     *gorm.DB
	ds     *devstore.Server
	client *shopify.Client
	svc    *Service
	clock  *clock
	shopID int64
	domain string
	base   *url.URL
	token  string
	srv    *httptest.Server
}

var shopSeq atomic.Int64

func newHarness(t *testing.T, o devstore.Options) *harness {
	t.Helper()
	t.Parallel()
	h := &harness{t: t, ctx: context.Background(), db: testenv.DB(t),
		clock: &clock{t: time.Date(2026, 10, 5, 9, 0, 0, 0, time.UTC)}}
	h.domain = fmt.Sprintf("disc-%d.myshopify.com", shopSeq.Add(1))
	o.APIKey, o.APISecret = "key", "secret"
	h.ds = devstore.New(o)
	h.ds.AddShop(h.domain, "Disc Shop", "owner@example.test", "Europe/Paris", "EUR")
	h.srv = httptest.NewServer(h.ds)
	t.Cleanup(h.srv.Close)
	var err error
	h.base, err = url.Parse(h.srv.URL + "/store/{shop}")
	require.NoError(t, err)
	tok, err := h.ds.IssueToken(h.domain)
	require.NoError(t, err)
	h.token = tok.AccessToken
	h.client = h.newClient()
	require.NoError(t, h.db.Raw(`INSERT INTO shops (domain, timezone, currency) VALUES (?, 'Europe/Paris', 'EUR') RETURNING id`,
		h.domain).Scan(&h.shopID).Error)
	h.svc = h.newService()
	return h
}

// newClient is a fresh Admin API client (a new process, with its own pacer).
func (h *harness) newClient() *shopify.Client {
	return &shopify.Client{AdminBase: h.base, Tokens: staticTokens(h.token), HTTP: h.srv.Client(),
		// Backoffs shortened tenfold; throttle waits still let the bucket refill.
		Sleep: func(ctx context.Context, d time.Duration) error {
			return shopify.SleepContext(ctx, d/10+time.Millisecond)
		}}
}

// newService is a fresh service over the same database and client, as
// another worker process would be.
func (h *harness) newService() *Service {
	s := New(h.db, h.client)
	s.Now = h.clock.Now
	s.PollInterval = 5 * time.Millisecond
	return s
}

func (h *harness) req(enrollment int64, step string, tiers Table) Request {
	return Request{ShopID: h.shopID, ShopDomain: h.domain, EnrollmentID: enrollment, Step: step,
		CartValue: "80.00", Currency: "EUR", Tiers: tiers}
}

// row reads the stored row of (enrollment, step).
func (h *harness) row(enrollment int64, step string) *codeRow {
	h.t.Helper()
	r, err := h.svc.find(h.db, enrollment, step)
	require.NoError(h.t, err)
	require.NotNil(h.t, r)
	return r
}

// codes lists the shop's discounts at the stand-in.
func (h *harness) codes() []devstore.DiscountCode { return h.ds.DiscountCodes(h.domain) }

// code is the shop's discount with this code at the stand-in.
func (h *harness) code(code string) devstore.DiscountCode {
	h.t.Helper()
	c, ok := h.ds.DiscountCode(h.domain, code)
	require.True(h.t, ok, "no discount %s at the stand-in", code)
	return c
}

// customer declares a customer of the shop: from then on the stand-in
// refuses discounts for customers it was not told about.
func (h *harness) customer(gid string) { h.ds.AddCustomer(h.domain, gid) }

// graphqlRequests counts requests that reached the GraphQL endpoint.
func (h *harness) graphqlRequests() int {
	n := 0
	for _, r := range h.ds.Requests() {
		if strings.HasSuffix(r.Path, "/graphql.json") {
			n++
		}
	}
	return n
}
