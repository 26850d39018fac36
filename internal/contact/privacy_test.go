package contact_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/relance/relance/internal/contact"
	"github.com/relance/relance/internal/shop"
)

func TestPrivacyHolderRedactsOnlyThatShopper(t *testing.T) {
	b := setup(t)
	var domain string
	require.NoError(t, b.db.Raw(`SELECT domain FROM shops WHERE id = ?`, b.shop).Scan(&domain).Error)
	at := ts("2026-03-01T10:00:00Z")
	bob, err := b.store.Upsert(b.ctx, b.shop, contact.Profile{Email: "Bob@Example.com", CustomerID: 11})
	require.NoError(t, err)
	ann, err := b.store.Upsert(b.ctx, b.shop, contact.Profile{Email: "ann@example.com"})
	require.NoError(t, err)
	for i, c := range []int64{bob.ID, ann.ID} {
		_, err := b.store.RecordOrder(b.ctx, b.shop, contact.Order{ID: int64(100 + i), ContactID: c, TotalPrice: "1", OrderedAt: at, UpdatedAt: at})
		require.NoError(t, err)
	}
	// Another shop's Bob is not this shop's Bob.
	other := mustShop(t, b.db)
	otherBob, err := b.store.Upsert(b.ctx, other, contact.Profile{Email: "bob@example.com", CustomerID: 11})
	require.NoError(t, err)

	h := contact.PrivacyHolder{}
	ref := shop.CustomerRef{ShopifyID: 11, Email: "BOB@example.com", OrderIDs: []int64{100}}
	exp, err := h.ExportCustomer(b.ctx, b.db, domain, ref)
	require.NoError(t, err)
	doc, err := json.Marshal(exp)
	require.NoError(t, err)
	require.Contains(t, string(doc), `"bob@example.com"`)
	require.Contains(t, string(doc), `"ID":100`)
	require.NotContains(t, string(doc), "ann@example.com")

	require.NoError(t, h.RedactCustomer(b.ctx, b.db, domain, ref))
	_, err = b.store.Get(b.ctx, b.shop, bob.ID)
	require.ErrorIs(t, err, contact.ErrNotFound)
	_, err = b.store.GetOrder(b.ctx, b.shop, 100)
	require.ErrorIs(t, err, contact.ErrNotFound)
	_, err = b.store.Get(b.ctx, b.shop, ann.ID)
	require.NoError(t, err)
	_, err = b.store.Get(b.ctx, other, otherBob.ID)
	require.NoError(t, err)
	exp, err = h.ExportCustomer(b.ctx, b.db, domain, ref)
	require.NoError(t, err)
	require.Nil(t, exp)

	require.NoError(t, h.EraseShop(b.ctx, b.db, domain))
	_, err = b.store.Get(b.ctx, b.shop, ann.ID)
	require.ErrorIs(t, err, contact.ErrNotFound)
}
