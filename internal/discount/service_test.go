package discount

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/relance/relance/internal/shopify"
	"github.com/relance/relance/internal/shopify/devstore"
)

// scaled is shared read-only by the tests; copy before changing a tier.
var scaled = Table{Tiers: []Tier{
	{From: amt("0"), To: amtp("50"), Kind: KindFreeShipping},
	{From: amt("50"), To: amtp("100"), Kind: KindPercentage, Percent: 15, Minimum: amt("50")},
	{From: amt("100"), Kind: KindFixedAmount, Amount: amt("20"), Minimum: amt("100")},
}, ExpiryHours: 48, Currency: "EUR", Prefix: "COMEBACK"}

func TestCodeForCreatesThroughAdminAPI(t *testing.T) {
	h := newHarness(t, devstore.Options{})
	h.customer("gid://shopify/Customer/123")
	start := h.clock.Now()

	// Percentage, restricted to the customer.
	req := h.req(1, "cart/reminder-3", scaled)
	req.CustomerGID = "gid://shopify/Customer/123"
	c, err := h.svc.CodeFor(h.ctx, req)
	require.NoError(t, err)
	require.NotNil(t, c)
	require.Regexp(t, `^COMEBACK(-[2-9A-HJ-NP-Z]{4}){3}$`, c.Code)
	require.Equal(t, KindPercentage, c.Kind)
	require.Equal(t, 15, c.Percent)
	require.Equal(t, "50.00", c.Minimum.String())
	require.Equal(t, "EUR", c.Currency)
	require.Equal(t, StatusCreated, c.Status)
	require.Equal(t, start.Add(48*time.Hour), c.EndsAt)
	n := h.code(c.Code)
	require.NotNil(t, n)
	require.Equal(t, n.ID, c.ShopifyID)
	require.Equal(t, "discountCodeBasicCreate", n.Mutation)
	in := n.Input
	require.Equal(t, map[string]any{"customers": map[string]any{"add": []any{"gid://shopify/Customer/123"}}}, in["context"])
	require.Equal(t, float64(1), in["usageLimit"])
	require.Equal(t, true, in["appliesOncePerCustomer"])
	require.Equal(t, "2026-10-05T09:00:00Z", in["startsAt"])
	require.Equal(t, "2026-10-07T09:00:00Z", in["endsAt"])
	require.Equal(t, map[string]any{"value": map[string]any{"percentage": 0.15}, "items": map[string]any{"all": true}}, in["customerGets"])
	require.Equal(t, map[string]any{"subtotal": map[string]any{"greaterThanOrEqualToSubtotal": "50.00"}}, in["minimumRequirement"])
	require.Equal(t, "Relance cart/reminder-3 #1", in["title"])

	// Fixed amount, anonymous: any buyer, still single use.
	req = h.req(2, "checkout/reminder-3", scaled)
	req.CartValue = "250.00"
	c, err = h.svc.CodeFor(h.ctx, req)
	require.NoError(t, err)
	require.Equal(t, KindFixedAmount, c.Kind)
	require.Equal(t, "20.00", c.Amount.String())
	in = h.code(c.Code).Input
	require.Equal(t, map[string]any{"all": "ALL"}, in["context"])
	require.Equal(t, float64(1), in["usageLimit"])
	require.Equal(t, map[string]any{"discountAmount": map[string]any{"amount": "20.00", "appliesOnEachItem": false}},
		in["customerGets"].(map[string]any)["value"])

	// Free shipping.
	req = h.req(3, "cart/reminder-3", scaled)
	req.CartValue = "12.5"
	c, err = h.svc.CodeFor(h.ctx, req)
	require.NoError(t, err)
	require.Equal(t, KindFreeShipping, c.Kind)
	n = h.code(c.Code)
	require.Equal(t, "discountCodeFreeShippingCreate", n.Mutation)
	require.Equal(t, map[string]any{"all": true}, n.Input["destination"])
	require.NotContains(t, n.Input, "minimumRequirement")

	// No tier for this shopper: no code, nothing stored, nothing called.
	calls := h.graphqlRequests()
	req = h.req(4, "cart/reminder-3", scaled)
	req.Tiers.NewCustomersOnly = true
	c, err = h.svc.CodeFor(h.ctx, req)
	require.NoError(t, err)
	require.Nil(t, c)
	require.Equal(t, calls, h.graphqlRequests())
	r, err := h.svc.find(h.db, 4, "cart/reminder-3")
	require.NoError(t, err)
	require.Nil(t, r)

	// Bad input never reaches Shopify.
	bad := h.req(5, "s", scaled)
	bad.Tiers.Tiers = append([]Tier(nil), scaled.Tiers...)
	bad.Tiers.Tiers[1].Percent = 0
	_, err = h.svc.CodeFor(h.ctx, bad)
	require.ErrorIs(t, err, ErrInvalid)
	require.True(t, Permanent(err))
	bad = h.req(5, "s", scaled)
	bad.Currency = "USD"
	_, err = h.svc.CodeFor(h.ctx, bad)
	require.ErrorIs(t, err, ErrCurrencyMismatch)
	bad = h.req(5, "s", scaled)
	bad.CustomerGID = "123"
	_, err = h.svc.CodeFor(h.ctx, bad)
	require.ErrorIs(t, err, ErrBadRequest)
	require.Equal(t, calls, h.graphqlRequests())
	require.Len(t, h.codes(), 3)
}

func TestCodeForIsIdempotent(t *testing.T) {
	h := newHarness(t, devstore.Options{})
	req := h.req(10, "cart/reminder-3", scaled)
	first, err := h.svc.CodeFor(h.ctx, req)
	require.NoError(t, err)
	calls := h.graphqlRequests()

	// Asked again, even with other tiers and another cart: the same code,
	// from the database.
	again := req
	again.CartValue = "500"
	again.Tiers = DefaultTable()
	second, err := h.svc.CodeFor(h.ctx, again)
	require.NoError(t, err)
	require.Equal(t, first, second)
	require.Equal(t, calls, h.graphqlRequests())
	require.Len(t, h.codes(), 1)

	// Another process asks too.
	third, err := h.newService().CodeFor(h.ctx, req)
	require.NoError(t, err)
	require.Equal(t, first.Code, third.Code)
	require.Len(t, h.codes(), 1)
}

func TestCodeForConcurrent(t *testing.T) {
	h := newHarness(t, devstore.Options{})
	req := h.req(20, "checkout/reminder-3", scaled)
	var wg sync.WaitGroup
	codes := make([]string, 10)
	errs := make([]error, 10)
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each goroutine is its own worker: own service, own client.
			svc := h.newService()
			svc.api = h.newClient()
			c, err := svc.CodeFor(h.ctx, req)
			errs[i] = err
			if c != nil {
				codes[i] = c.Code
			}
		}()
	}
	wg.Wait()
	for i := range 10 {
		require.NoError(t, errs[i])
		require.Equal(t, codes[0], codes[i])
	}
	require.Len(t, h.codes(), 1, "exactly one create reached Shopify")
	require.Equal(t, codes[0], h.codes()[0].Code)
	var n int64
	require.NoError(t, h.db.Raw(`SELECT count(*) FROM discount_codes WHERE enrollment_id = 20`).Scan(&n).Error)
	require.Equal(t, int64(1), n)
}

var errCrash = errors.New("crash")

func TestCodeForAfterCrashBetweenAPIAndDB(t *testing.T) {
	h := newHarness(t, devstore.Options{})
	h.customer("gid://shopify/Customer/7")
	req := h.req(30, "cart/reminder-3", scaled)
	req.CustomerGID = "gid://shopify/Customer/7"

	// Worker 1 creates the code at Shopify, then dies before recording it.
	w1 := h.newService()
	w1.ClaimTTL = time.Minute
	w1.afterCreate = func() error { return errCrash }
	_, err := w1.CodeFor(h.ctx, req)
	require.ErrorIs(t, err, errCrash)
	reserved := h.row(30, "cart/reminder-3")
	require.Equal(t, StatusReserved, reserved.Status)
	require.Len(t, h.codes(), 1)

	// Worker 2 (another process) asks while the dead worker's lease is
	// live: it waits, then gives up with a retryable ErrBusy.
	w2 := h.newService()
	w2.ClaimTTL = 100 * time.Millisecond
	_, err = w2.CodeFor(h.ctx, req)
	require.ErrorIs(t, err, ErrBusy)
	require.False(t, Permanent(err))

	// The lease lapses: worker 2 takes over, Shopify says the code is
	// taken, the lookup proves it is ours, and the row is completed.
	h.clock.Add(2 * time.Minute)
	w2.ClaimTTL = time.Minute
	c, err := w2.CodeFor(h.ctx, req)
	require.NoError(t, err)
	require.Equal(t, reserved.Code, c.Code)
	require.Equal(t, StatusCreated, c.Status)
	nodes := h.codes()
	require.Len(t, nodes, 1, "never two codes for one (enrollment, step)")
	require.Equal(t, nodes[0].ID, c.ShopifyID)
	row := h.row(30, "cart/reminder-3")
	require.Nil(t, row.ClaimToken)
	require.Equal(t, 2, row.Attempts)
}

func TestCodeForCollisionWithForeignCode(t *testing.T) {
	h := newHarness(t, devstore.Options{})
	// The merchant's own discount happens to hold the drawn code: the
	// reservation draws another one instead of adopting it.
	h.svc.Rand = &seqReader{first: make([]byte, codeRandomLen)}
	h.ds.AddDiscountCode(h.domain, "COMEBACK-2222-2222-2222", "Merchant's summer sale")
	c, err := h.svc.CodeFor(h.ctx, h.req(40, "cart/reminder-3", scaled))
	require.NoError(t, err)
	require.NotEqual(t, "COMEBACK-2222-2222-2222", c.Code)
	require.Equal(t, "Merchant's summer sale", h.code("COMEBACK-2222-2222-2222").Title)
	require.Equal(t, "Relance cart/reminder-3 #40", h.code(c.Code).Title)
}

// seqReader returns first once, then crypto-quality-enough varying bytes.
type seqReader struct {
	first []byte
	n     byte
}

func (s *seqReader) Read(p []byte) (int, error) {
	if s.first != nil {
		n := copy(p, s.first)
		s.first = nil
		return n, nil
	}
	for i := range p {
		s.n += 7
		p[i] = s.n
	}
	return len(p), nil
}

func TestCodeForPermanentUserErrors(t *testing.T) {
	h := newHarness(t, devstore.Options{})
	h.customer("gid://shopify/Customer/1")
	req := h.req(50, "cart/reminder-3", scaled)
	req.CustomerGID = "gid://shopify/Customer/999" // unknown to the shop
	_, err := h.svc.CodeFor(h.ctx, req)
	require.Error(t, err)
	require.ErrorIs(t, err, ErrRejected)
	require.True(t, Permanent(err))
	var ue shopify.UserErrors
	require.True(t, errors.As(err, &ue))
	require.Equal(t, "INVALID", ue[0].Code)
	require.Equal(t, []string{"basicCodeDiscount", "context", "customers", "add"}, ue[0].Field)
	row := h.row(50, "cart/reminder-3")
	require.Equal(t, StatusFailed, row.Status)
	require.Contains(t, row.Error, "does not exist")

	// A retry answers from the database: no second call.
	calls := h.graphqlRequests()
	_, err = h.svc.CodeFor(h.ctx, req)
	require.ErrorIs(t, err, ErrRejected)
	require.Equal(t, calls, h.graphqlRequests())
	require.Empty(t, h.codes())
}

func TestCodeForThrottled(t *testing.T) {
	// A 30-point bucket restoring 20 points/s; each create costs 10.
	h := newHarness(t, devstore.Options{Bucket: 30, RestoreRate: 20})
	drain := func() {
		// Another app/process empties the bucket behind this client's back.
		other := h.newClient()
		h.ds.HandleGraphQL("drain", 30, func(string, map[string]any) (any, error) { return true, nil })
		require.NoError(t, other.Do(h.ctx, h.domain, `{ drain }`, nil, nil))
	}

	// The client is throttled, waits for the bucket and retries: one code.
	drain()
	before := h.graphqlRequests()
	c, err := h.svc.CodeFor(h.ctx, h.req(60, "cart/reminder-3", scaled))
	require.NoError(t, err)
	require.Equal(t, StatusCreated, c.Status)
	require.Greater(t, h.graphqlRequests()-before, 1, "at least one THROTTLED answer before the create")
	require.Len(t, h.codes(), 1)

	// Throttled beyond the client's patience: a retryable error, the
	// reservation stays, and the retry creates the very same code.
	impatient := h.newClient()
	impatient.Sleep = func(context.Context, time.Duration) error { return nil }
	drain()
	svc := h.newService()
	svc.api = impatient
	_, err = svc.CodeFor(h.ctx, h.req(61, "cart/reminder-3", scaled))
	require.ErrorIs(t, err, shopify.ErrThrottled)
	require.False(t, Permanent(err))
	row := h.row(61, "cart/reminder-3")
	require.Equal(t, StatusReserved, row.Status)
	require.Nil(t, row.ClaimToken, "the lease is given back at once")
	require.Contains(t, row.Error, "throttled")

	c, err = h.svc.CodeFor(h.ctx, h.req(61, "cart/reminder-3", scaled))
	require.NoError(t, err)
	require.Equal(t, row.Code, c.Code)
	require.Len(t, h.codes(), 2)
}

func TestCodeForServerErrors(t *testing.T) {
	h := newHarness(t, devstore.Options{})
	// Two 502s: the client retries them itself.
	h.ds.FailNext("/graphql.json", http.StatusBadGateway, 2)
	c, err := h.svc.CodeFor(h.ctx, h.req(70, "cart/reminder-3", scaled))
	require.NoError(t, err)
	require.Equal(t, StatusCreated, c.Status)

	// Shopify down for longer than the client retries: transient error,
	// then the retry completes the same reservation.
	h.ds.FailNext("/graphql.json", http.StatusServiceUnavailable, 6)
	_, err = h.svc.CodeFor(h.ctx, h.req(71, "cart/reminder-3", scaled))
	require.Error(t, err)
	var he *shopify.HTTPError
	require.True(t, errors.As(err, &he))
	require.Equal(t, http.StatusServiceUnavailable, he.Status)
	require.False(t, Permanent(err))
	reserved := h.row(71, "cart/reminder-3")
	require.Equal(t, StatusReserved, reserved.Status)

	c, err = h.svc.CodeFor(h.ctx, h.req(71, "cart/reminder-3", scaled))
	require.NoError(t, err)
	require.Equal(t, reserved.Code, c.Code)
	require.Len(t, h.codes(), 2)
}

func TestCodeForReservationExpired(t *testing.T) {
	h := newHarness(t, devstore.Options{})
	h.ds.FailNext("/graphql.json", http.StatusServiceUnavailable, 6)
	req := h.req(80, "cart/reminder-3", scaled)
	_, err := h.svc.CodeFor(h.ctx, req)
	require.Error(t, err)
	// The step is retried only after the code's validity ended.
	h.clock.Add(49 * time.Hour)
	_, err = h.svc.CodeFor(h.ctx, req)
	require.ErrorIs(t, err, ErrExpired)
	require.True(t, Permanent(err))
	require.Empty(t, h.codes())
}
