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

// fakeDiscounts gives the devstore the discount part of the Admin API,
// behaving like Shopify where the package can tell: required fields,
// value ranges, unknown customers and duplicate codes come back as
// userErrors (TAKEN for a code in use, case-insensitively), lookups are
// case-insensitive, deleting an unknown id is a userError.
type fakeDiscounts struct {
	mu     sync.Mutex
	nextID int
	nodes  map[string]map[string]*fakeNode // shop -> UPPER(code) -> node
	// customers known per shop; a gid outside it is refused.
	customers map[string]bool

	creates atomic.Int64 // create mutations that created a discount
	calls   atomic.Int64 // every handler call
}

type fakeNode struct {
	ID, Code, Title, Mutation string
	Input                     map[string]any
}

func newFakeDiscounts() *fakeDiscounts {
	return &fakeDiscounts{nodes: map[string]map[string]*fakeNode{}, customers: map[string]bool{}}
}

func (f *fakeDiscounts) register(ds *devstore.Server) {
	ds.HandleGraphQL("discountCodeBasicCreate", 10, func(shop string, vars map[string]any) (any, error) {
		return f.createHandler(shop, "basicCodeDiscount", "discountCodeBasicCreate", vars)
	})
	ds.HandleGraphQL("discountCodeFreeShippingCreate", 10, func(shop string, vars map[string]any) (any, error) {
		return f.createHandler(shop, "freeShippingCodeDiscount", "discountCodeFreeShippingCreate", vars)
	})
	ds.HandleGraphQL("codeDiscountNodeByCode", 1, f.lookupHandler)
	ds.HandleGraphQL("discountCodeDelete", 10, f.deleteHandler)
}

func userErr(field []string, code, msg string) map[string]any {
	return map[string]any{"field": field, "code": code, "message": msg}
}

func (f *fakeDiscounts) createHandler(shop, arg, mutation string, vars map[string]any) (any, error) {
	f.calls.Add(1)
	in, ok := vars[arg].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("variable $%s of %s was provided invalid value", arg, mutation)
	}
	var errs []any
	bad := func(code, msg string, path ...string) {
		errs = append(errs, userErr(append([]string{arg}, path...), code, msg))
	}
	for _, k := range []string{"title", "code", "startsAt"} {
		if s, _ := in[k].(string); strings.TrimSpace(s) == "" {
			bad("BLANK", k+" can't be blank", k)
		}
	}
	code, _ := in["code"].(string)
	starts, err1 := time.Parse(time.RFC3339, fmt.Sprint(in["startsAt"]))
	if err1 != nil {
		bad("INVALID", "startsAt is invalid", "startsAt")
	}
	if e, ok := in["endsAt"].(string); ok {
		ends, err := time.Parse(time.RFC3339, e)
		if err != nil {
			bad("INVALID", "endsAt is invalid", "endsAt")
		} else if err1 == nil && !ends.After(starts) {
			bad("END_DATE_BEFORE_START_DATE", "End date should be after start date", "endsAt")
		}
	}
	if _, dep := in["customerSelection"]; dep {
		bad("INVALID", "customerSelection is deprecated, use context", "customerSelection")
	}
	ctxIn, _ := in["context"].(map[string]any)
	switch {
	case ctxIn == nil:
		bad("BLANK", "context can't be blank", "context")
	case ctxIn["all"] != nil && ctxIn["customers"] != nil:
		bad("TOO_MANY_ARGUMENTS", "Only one of all, customers or customerSegments", "context")
	case ctxIn["all"] != nil:
		if ctxIn["all"] != "ALL" {
			bad("INVALID", "Expected DiscountBuyerSelection", "context", "all")
		}
	default:
		cs, _ := ctxIn["customers"].(map[string]any)
		add, _ := cs["add"].([]any)
		if len(add) == 0 {
			bad("BLANK", "customers can't be blank", "context", "customers", "add")
		}
		f.mu.Lock()
		for _, g := range add {
			if !f.customers[fmt.Sprint(g)] {
				bad("INVALID", fmt.Sprintf("Customer %v does not exist", g), "context", "customers", "add")
			}
		}
		f.mu.Unlock()
	}
	if ul, ok := in["usageLimit"].(float64); ok && ul < 1 {
		bad("GREATER_THAN_OR_EQUAL_TO", "usageLimit must be at least 1", "usageLimit")
	}
	if mr, ok := in["minimumRequirement"].(map[string]any); ok {
		sub, _ := mr["subtotal"].(map[string]any)
		if _, err := ParseAmount(fmt.Sprint(sub["greaterThanOrEqualToSubtotal"])); err != nil {
			bad("INVALID", "subtotal is invalid", "minimumRequirement", "subtotal", "greaterThanOrEqualToSubtotal")
		}
	}
	if mutation == "discountCodeBasicCreate" {
		gets, _ := in["customerGets"].(map[string]any)
		val, _ := gets["value"].(map[string]any)
		switch {
		case val["percentage"] != nil:
			p, _ := val["percentage"].(float64)
			if p <= 0 || p > 1 {
				bad("VALUE_OUTSIDE_RANGE", "Value must be between 0.00 - 1.00", "customerGets", "value", "percentage")
			}
		case val["discountAmount"] != nil:
			da, _ := val["discountAmount"].(map[string]any)
			a, err := ParseAmount(fmt.Sprint(da["amount"]))
			if err != nil || a.Cmp(Amount{}) <= 0 {
				bad("GREATER_THAN", "amount must be greater than 0", "customerGets", "value", "discountAmount", "amount")
			}
		default:
			bad("BLANK", "value can't be blank", "customerGets", "value")
		}
		if items, _ := gets["items"].(map[string]any); items["all"] != true {
			bad("BLANK", "items can't be blank", "customerGets", "items")
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(errs) == 0 {
		if _, taken := f.nodes[shop][strings.ToUpper(code)]; taken {
			bad("TAKEN", "Code must be unique. Please try a different code.", "code")
		}
	}
	if len(errs) > 0 {
		return map[string]any{"codeDiscountNode": nil, "userErrors": errs}, nil
	}
	f.nextID++
	n := &fakeNode{ID: fmt.Sprintf("gid://shopify/DiscountCodeNode/%d", 1000+f.nextID), Code: code,
		Title: fmt.Sprint(in["title"]), Mutation: mutation, Input: in}
	if f.nodes[shop] == nil {
		f.nodes[shop] = map[string]*fakeNode{}
	}
	f.nodes[shop][strings.ToUpper(code)] = n
	f.creates.Add(1)
	return map[string]any{"codeDiscountNode": map[string]any{"id": n.ID}, "userErrors": []any{}}, nil
}

func (f *fakeDiscounts) lookupHandler(shop string, vars map[string]any) (any, error) {
	f.calls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.nodes[shop][strings.ToUpper(fmt.Sprint(vars["code"]))]
	if n == nil {
		return nil, nil
	}
	typ := "DiscountCodeBasic"
	if n.Mutation == "discountCodeFreeShippingCreate" {
		typ = "DiscountCodeFreeShipping"
	}
	return map[string]any{"id": n.ID, "codeDiscount": map[string]any{"__typename": typ, "title": n.Title}}, nil
}

func (f *fakeDiscounts) deleteHandler(shop string, vars map[string]any) (any, error) {
	f.calls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	id := fmt.Sprint(vars["id"])
	for k, n := range f.nodes[shop] {
		if n.ID == id {
			delete(f.nodes[shop], k)
			return map[string]any{"deletedCodeDiscountId": id, "userErrors": []any{}}, nil
		}
	}
	return map[string]any{"deletedCodeDiscountId": nil,
		"userErrors": []any{userErr([]string{"id"}, "INVALID", "Discount does not exist")}}, nil
}

// put stores a discount as if the merchant (or a lost attempt) created it.
func (f *fakeDiscounts) put(shop, code, title string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	if f.nodes[shop] == nil {
		f.nodes[shop] = map[string]*fakeNode{}
	}
	f.nodes[shop][strings.ToUpper(code)] = &fakeNode{ID: fmt.Sprintf("gid://shopify/DiscountCodeNode/%d", 1000+f.nextID),
		Code: code, Title: title, Mutation: "discountCodeBasicCreate"}
}

func (f *fakeDiscounts) list(shop string) []*fakeNode {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*fakeNode
	for _, n := range f.nodes[shop] {
		out = append(out, n)
	}
	return out
}

func (f *fakeDiscounts) node(shop, code string) *fakeNode {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.nodes[shop][strings.ToUpper(code)]
}

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
	fake   *fakeDiscounts
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
	h := &harness{t: t, ctx: context.Background(), db: testenv.DB(t), fake: newFakeDiscounts(),
		clock: &clock{t: time.Date(2026, 10, 5, 9, 0, 0, 0, time.UTC)}}
	h.domain = fmt.Sprintf("disc-%d.myshopify.com", shopSeq.Add(1))
	o.APIKey, o.APISecret = "key", "secret"
	h.ds = devstore.New(o)
	h.ds.AddShop(h.domain, "Disc Shop", "owner@example.test", "Europe/Paris", "EUR")
	h.fake.register(h.ds)
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
		Sleep: func(ctx context.Context, d time.Duration) error { return sleepCtx(ctx, d/10+time.Millisecond) }}
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
