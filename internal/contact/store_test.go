package contact_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/relance/relance/internal/contact"
	"github.com/relance/relance/internal/platform/testenv"
)

var shopSeq atomic.Int64

func mustShop(t *testing.T, db *gorm.DB) int64 {
	t.Helper()
	var id int64
	domain := fmt.Sprintf("shop-%d-%d.myshopify.com", time.Now().UnixNano(), shopSeq.Add(1))
	require.NoError(t, db.Raw(`INSERT INTO shops (domain) VALUES (?) RETURNING id`, domain).Scan(&id).Error)
	return id
}

type bundle struct {
	ctx   context.Context
	db    *gorm.DB
	store *contact.Store
	shop  int64
}

func setup(t *testing.T) *bundle {
	t.Helper()
	t.Parallel()
	db := testenv.DB(t)
	return &bundle{ctx: context.Background(), db: db, store: contact.NewStore(db), shop: mustShop(t, db)}
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func ptr[T any](v T) *T { return &v }

func TestUpsertStitchesEmailAndCustomerID(t *testing.T) {
	b := setup(t)
	// A checkout gives the email first, a customer record later gives the id.
	c1, err := b.store.Upsert(b.ctx, b.shop, contact.Profile{Email: " Bob@Example.COM "})
	require.NoError(t, err)
	require.Equal(t, "bob@example.com", c1.EmailAddress())
	require.Nil(t, c1.CustomerID)

	c2, err := b.store.Upsert(b.ctx, b.shop, contact.Profile{Email: "bob@example.com", CustomerID: 706405506930370084, FirstName: "Bob"})
	require.NoError(t, err)
	require.Equal(t, c1.ID, c2.ID)
	require.Equal(t, int64(706405506930370084), *c2.CustomerID, "18-digit ids survive exactly")
	require.Equal(t, "Bob", c2.FirstName)

	// By customer id alone it is the same shopper.
	c3, err := b.store.Upsert(b.ctx, b.shop, contact.Profile{CustomerID: 706405506930370084})
	require.NoError(t, err)
	require.Equal(t, c1.ID, c3.ID)

	_, err = b.store.Upsert(b.ctx, b.shop, contact.Profile{Email: "not an email"})
	require.ErrorIs(t, err, contact.ErrNoIdentity)
}

func TestUpsertIgnoresOlderCustomerRecord(t *testing.T) {
	b := setup(t)
	_, err := b.store.Upsert(b.ctx, b.shop, contact.Profile{CustomerID: 7, Email: "new@example.com", FirstName: "New", UpdatedAt: ptr(ts("2026-01-02T10:00:00Z"))})
	require.NoError(t, err)
	c, err := b.store.Upsert(b.ctx, b.shop, contact.Profile{CustomerID: 7, Email: "old@example.com", FirstName: "Old", UpdatedAt: ptr(ts("2026-01-01T10:00:00Z"))})
	require.NoError(t, err)
	require.Equal(t, "new@example.com", c.EmailAddress())
	require.Equal(t, "New", c.FirstName)

	// A newer record changes the email.
	c, err = b.store.Upsert(b.ctx, b.shop, contact.Profile{CustomerID: 7, Email: "newer@example.com", UpdatedAt: ptr(ts("2026-01-03T10:00:00Z"))})
	require.NoError(t, err)
	require.Equal(t, "newer@example.com", c.EmailAddress())
}

func TestContactsAreScopedToTheirShop(t *testing.T) {
	b := setup(t)
	other := mustShop(t, b.db)
	a, err := b.store.Upsert(b.ctx, b.shop, contact.Profile{Email: "x@example.com"})
	require.NoError(t, err)
	o, err := b.store.Upsert(b.ctx, other, contact.Profile{Email: "x@example.com"})
	require.NoError(t, err)
	require.NotEqual(t, a.ID, o.ID)
	_, err = b.store.Get(b.ctx, other, a.ID)
	require.ErrorIs(t, err, contact.ErrNotFound)
}

func TestConsentAppliesInTimestampOrder(t *testing.T) {
	b := setup(t)
	c, err := b.store.Upsert(b.ctx, b.shop, contact.Profile{Email: "c@example.com"})
	require.NoError(t, err)

	ok, err := b.store.SetConsent(b.ctx, b.shop, c.ID, contact.Subscribed, ts("2026-03-01T12:00:00Z"), "shopify")
	require.NoError(t, err)
	require.True(t, ok)
	// An older unsubscribe arriving late does not overwrite the newer subscribe.
	ok, err = b.store.SetConsent(b.ctx, b.shop, c.ID, contact.Unsubscribed, ts("2026-03-01T11:00:00Z"), "shopify")
	require.NoError(t, err)
	require.False(t, ok)
	got, err := b.store.Get(b.ctx, b.shop, c.ID)
	require.NoError(t, err)
	require.Equal(t, contact.Subscribed, got.Consent)

	// Same timestamp: unsubscribe wins whatever the arrival order.
	ok, err = b.store.SetConsent(b.ctx, b.shop, c.ID, contact.Unsubscribed, ts("2026-03-01T12:00:00Z"), "shopify")
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = b.store.SetConsent(b.ctx, b.shop, c.ID, contact.Subscribed, ts("2026-03-01T12:00:00Z"), "shopify")
	require.NoError(t, err)
	require.False(t, ok)
	got, err = b.store.Get(b.ctx, b.shop, c.ID)
	require.NoError(t, err)
	require.Equal(t, contact.Unsubscribed, got.Consent)
	require.True(t, got.Suppressed())
}

func TestAnonymousCartIsAttributedWhenLinked(t *testing.T) {
	b := setup(t)
	at := ts("2026-03-01T09:00:00Z")
	owner, fresh, err := b.store.Touch(b.ctx, b.shop, contact.Cart, "cart-1", at, json.RawMessage(`{"items":2}`))
	require.NoError(t, err)
	require.True(t, fresh)
	require.Zero(t, owner)

	// An older cart update arriving late is ignored.
	_, fresh, err = b.store.Touch(b.ctx, b.shop, contact.Cart, "cart-1", at.Add(-time.Minute), json.RawMessage(`{"items":1}`))
	require.NoError(t, err)
	require.False(t, fresh)

	// An anonymous order from that cart, attributed when the cart is tied.
	fresh, err = b.store.RecordOrder(b.ctx, b.shop, contact.Order{ID: 1, CartToken: "cart-1", TotalPrice: "19.99", OrderedAt: at, UpdatedAt: at})
	require.NoError(t, err)
	require.True(t, fresh)

	c, err := b.store.Upsert(b.ctx, b.shop, contact.Profile{Email: "anon@example.com"})
	require.NoError(t, err)
	act, err := b.store.Link(b.ctx, b.shop, c.ID, contact.Cart, "cart-1")
	require.NoError(t, err)
	require.NotNil(t, act)
	require.True(t, act.At.Equal(at))
	require.JSONEq(t, `{"items":2}`, string(act.Data))

	got, err := b.store.ByIdentity(b.ctx, b.shop, contact.Cart, "cart-1")
	require.NoError(t, err)
	require.Equal(t, c.ID, got.ID)
	require.Equal(t, 1, got.OrdersCount)
	require.Equal(t, "19.9900", got.TotalSpent)

	// Already tied: a second contact cannot take it, nothing to attribute again.
	d, err := b.store.Upsert(b.ctx, b.shop, contact.Profile{Email: "other@example.com"})
	require.NoError(t, err)
	act, err = b.store.Link(b.ctx, b.shop, d.ID, contact.Cart, "cart-1")
	require.NoError(t, err)
	require.Nil(t, act)
	got, err = b.store.ByIdentity(b.ctx, b.shop, contact.Cart, "cart-1")
	require.NoError(t, err)
	require.Equal(t, c.ID, got.ID)
}

func TestOrderHistoryIsIdempotentAndOrdered(t *testing.T) {
	b := setup(t)
	c, err := b.store.Upsert(b.ctx, b.shop, contact.Profile{Email: "o@example.com"})
	require.NoError(t, err)
	t1, t2 := ts("2026-03-01T10:00:00Z"), ts("2026-03-05T10:00:00Z")
	o1 := contact.Order{ID: 820982911946154508, ContactID: c.ID, TotalPrice: "10.50", OrderedAt: t1, UpdatedAt: t1,
		Items: []contact.OrderItem{{ProductID: 788032119674292922, Quantity: 1, Price: "10.50"}}}
	for range 2 { // duplicate delivery
		_, err = b.store.RecordOrder(b.ctx, b.shop, o1)
		require.NoError(t, err)
	}
	o2 := contact.Order{ID: 2, ContactID: c.ID, TotalPrice: "5", OrderedAt: t2, UpdatedAt: t2,
		Items: []contact.OrderItem{{ProductID: 788032119674292922, Quantity: 2, Price: "2.5"}}}
	_, err = b.store.RecordOrder(b.ctx, b.shop, o2)
	require.NoError(t, err)

	got, err := b.store.Get(b.ctx, b.shop, c.ID)
	require.NoError(t, err)
	require.Equal(t, 2, got.OrdersCount)
	require.True(t, got.LastOrderAt.Equal(t2))
	require.True(t, got.FirstOrderAt.Equal(t1))
	require.Equal(t, "15.5000", got.TotalSpent)
	n, err := b.store.ProductPurchases(b.ctx, b.shop, c.ID, 788032119674292922)
	require.NoError(t, err)
	require.Equal(t, 2, n)

	// Cancellation (newer) drops it from the counts; a stale older update does not undo it.
	cancelled := o2
	cancelled.UpdatedAt, cancelled.CancelledAt = t2.Add(time.Hour), ptr(t2.Add(time.Hour))
	fresh, err := b.store.RecordOrder(b.ctx, b.shop, cancelled)
	require.NoError(t, err)
	require.True(t, fresh)
	fresh, err = b.store.RecordOrder(b.ctx, b.shop, o2)
	require.NoError(t, err)
	require.False(t, fresh)
	got, err = b.store.Get(b.ctx, b.shop, c.ID)
	require.NoError(t, err)
	require.Equal(t, 1, got.OrdersCount)

	// Stop-on-purchase still sees the cancelled order as a purchase.
	ok, err := b.store.OrderedSince(b.ctx, b.shop, c.ID, t2.Add(-time.Minute), 0)
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = b.store.OrderedSince(b.ctx, b.shop, c.ID, t2.Add(time.Minute), 0)
	require.NoError(t, err)
	require.False(t, ok)
	ok, err = b.store.OrderedSince(b.ctx, b.shop, c.ID, t2.Add(-time.Minute), 2)
	require.NoError(t, err)
	require.False(t, ok, "the order that started a flow does not end it")
}

func TestSuppressAndEngagement(t *testing.T) {
	b := setup(t)
	c, err := b.store.Upsert(b.ctx, b.shop, contact.Profile{Email: "s@example.com"})
	require.NoError(t, err)
	require.False(t, c.Suppressed())
	at := ts("2026-03-01T10:00:00Z")
	require.NoError(t, b.store.RecordEngagement(b.ctx, b.shop, c.ID, contact.Click, at))
	require.NoError(t, b.store.RecordEngagement(b.ctx, b.shop, c.ID, contact.Click, at.Add(-time.Hour)))
	require.NoError(t, b.store.Suppress(b.ctx, b.shop, c.ID, "hard_bounce", at))
	require.NoError(t, b.store.Suppress(b.ctx, b.shop, c.ID, "complaint", at.Add(time.Hour)))
	got, err := b.store.Get(b.ctx, b.shop, c.ID)
	require.NoError(t, err)
	require.True(t, got.Suppressed())
	require.Equal(t, "hard_bounce", got.SuppressionReason)
	require.True(t, got.LastClickAt.Equal(at))
}

func TestParseConsentAndDecimal(t *testing.T) {
	for in, want := range map[string]contact.Consent{"SUBSCRIBED": contact.Subscribed, "not_subscribed": contact.NotSubscribed,
		"REDACTED": contact.Unsubscribed, "Pending": contact.Pending} {
		got, ok := contact.ParseConsent(in)
		require.True(t, ok, in)
		require.Equal(t, want, got, in)
	}
	_, ok := contact.ParseConsent("maybe")
	require.False(t, ok)
	require.Equal(t, "421.88", contact.Decimal("421.88"))
	require.Equal(t, "0", contact.Decimal("1e9"))
}
