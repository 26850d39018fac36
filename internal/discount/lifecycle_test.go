package discount

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/relance/relance/internal/shop"
	"github.com/relance/relance/internal/shopify"
	"github.com/relance/relance/internal/shopify/devstore"
)

func TestCleanupExpired(t *testing.T) {
	h := newHarness(t, devstore.Options{})
	short := scaled
	short.ExpiryHours = 1
	step := "cart/reminder-3"

	created, err := h.svc.CodeFor(h.ctx, h.req(100, step, short))
	require.NoError(t, err)
	redeemed, err := h.svc.CodeFor(h.ctx, h.req(101, step, short))
	require.NoError(t, err)
	_, err = h.svc.RecordRedemption(h.ctx, h.shopID, 9001, []string{redeemed.Code}, h.clock.Now().Add(10*time.Minute))
	require.NoError(t, err)
	// Created at Shopify, then the worker died before recording it.
	crashed := h.newService()
	crashed.ClaimTTL = time.Minute
	crashed.afterCreate = func() error { return errCrash }
	_, err = crashed.CodeFor(h.ctx, h.req(102, step, short))
	require.ErrorIs(t, err, errCrash)
	// Reserved, but Shopify never saw it.
	h.ds.FailNext("/graphql.json", http.StatusServiceUnavailable, 6)
	_, err = h.svc.CodeFor(h.ctx, h.req(103, step, short))
	require.Error(t, err)
	// Still valid: 48 hours.
	live, err := h.svc.CodeFor(h.ctx, h.req(104, step, scaled))
	require.NoError(t, err)
	require.Len(t, h.codes(), 4)

	// Within the grace hour after the end nothing goes.
	h.clock.Add(90 * time.Minute)
	_, err = h.svc.CodeFor(h.ctx, h.req(100, step, short))
	require.ErrorIs(t, err, ErrExpired, "a code past its end is never handed out")
	res, err := h.svc.CleanupExpired(h.ctx, 100)
	require.NoError(t, err)
	require.Equal(t, CleanupResult{}, res)

	h.clock.Add(time.Hour)
	res, err = h.svc.CleanupExpired(h.ctx, 100)
	require.NoError(t, err)
	require.Equal(t, CleanupResult{Removed: 2, NeverCreated: 1}, res)
	left := map[string]bool{}
	for _, n := range h.codes() {
		left[n.Code] = true
	}
	require.Equal(t, map[string]bool{redeemed.Code: true, live.Code: true}, left)
	for _, e := range []int64{100, 102, 103} {
		r := h.row(e, step)
		require.Equal(t, StatusExpired, r.Status, e)
		require.NotNil(t, r.CleanedAt, e)
		require.Nil(t, r.ClaimToken, e)
	}
	require.Equal(t, StatusRedeemed, h.row(101, step).Status)
	require.Equal(t, StatusCreated, h.row(104, step).Status)
	// Asking again for an expired code: ErrExpired, never a new code.
	_, err = h.svc.CodeFor(h.ctx, h.req(100, step, short))
	require.ErrorIs(t, err, ErrExpired)
	require.Contains(t, err.Error(), created.Code)
	_, err = h.svc.CodeFor(h.ctx, h.req(104, step, short))
	require.NoError(t, err, "still valid")
	c, err := h.svc.CodeFor(h.ctx, h.req(101, step, short))
	require.NoError(t, err)
	require.Equal(t, StatusRedeemed, c.Status)
	require.Len(t, h.codes(), 2)

	// Nothing left to do; a deleted-at-Shopify code counts as removed.
	res, err = h.svc.CleanupExpired(h.ctx, 100)
	require.NoError(t, err)
	require.Equal(t, CleanupResult{}, res)
	h.clock.Add(48 * time.Hour)
	require.True(t, h.ds.DeleteDiscountCode(h.domain, live.Code)) // the merchant deleted it by hand
	// Shopify down: the row stays for the next pass.
	h.ds.FailNext("/graphql.json", http.StatusServiceUnavailable, 6)
	res, err = h.svc.CleanupExpired(h.ctx, 100)
	require.NoError(t, err)
	require.Equal(t, CleanupResult{Retry: 1}, res)
	require.Equal(t, StatusCreated, h.row(104, step).Status)
	res, err = h.svc.CleanupExpired(h.ctx, 100)
	require.NoError(t, err)
	require.Equal(t, CleanupResult{Removed: 1}, res)
	require.Equal(t, StatusExpired, h.row(104, step).Status)
}

func TestRecordRedemption(t *testing.T) {
	h := newHarness(t, devstore.Options{})
	a, err := h.svc.CodeFor(h.ctx, h.req(200, "cart/reminder-3", scaled))
	require.NoError(t, err)
	b, err := h.svc.CodeFor(h.ctx, h.req(201, "checkout/reminder-3", scaled))
	require.NoError(t, err)
	at := h.clock.Now().Add(time.Hour)

	// Codes come back as the shopper typed them; foreign codes are ignored.
	got, err := h.svc.RecordRedemption(h.ctx, h.shopID, 5001, []string{" " + lower(a.Code), "SUMMER10"}, at)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, Redemption{CodeID: a.ID, Code: a.Code, EnrollmentID: 200, Step: "cart/reminder-3", OrderID: 5001, RedeemedAt: at},
		withUTC(got[0]))
	r := h.row(200, "cart/reminder-3")
	require.Equal(t, StatusRedeemed, r.Status)
	require.True(t, r.RedeemedAt.Equal(at))

	// A redelivered webhook changes nothing.
	_, err = h.svc.RecordRedemption(h.ctx, h.shopID, 5001, []string{a.Code}, at.Add(time.Minute))
	require.NoError(t, err)
	reds, err := h.svc.Redemptions(h.ctx, h.shopID, 200)
	require.NoError(t, err)
	require.Len(t, reds, 1)
	require.True(t, h.row(200, "cart/reminder-3").RedeemedAt.Equal(at))

	// Another shop's order cannot claim this shop's code.
	var other int64
	require.NoError(t, h.db.Raw(`INSERT INTO shops (domain) VALUES ('other-disc.myshopify.com') RETURNING id`).Scan(&other).Error)
	got, err = h.svc.RecordRedemption(h.ctx, other, 5002, []string{b.Code}, at)
	require.NoError(t, err)
	require.Empty(t, got)
	require.Equal(t, StatusCreated, h.row(201, "checkout/reminder-3").Status)

	got, err = h.svc.RecordRedemption(h.ctx, h.shopID, 5003, nil, at)
	require.NoError(t, err)
	require.Empty(t, got)
	_, err = h.svc.RecordRedemption(h.ctx, h.shopID, 0, []string{b.Code}, at)
	require.ErrorIs(t, err, ErrBadRequest)
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func withUTC(r Redemption) Redemption { r.RedeemedAt = r.RedeemedAt.UTC(); return r }

func TestTables(t *testing.T) {
	h := newHarness(t, devstore.Options{})
	got, custom, err := h.svc.GetTable(h.ctx, h.shopID, "cart", "reminder-3")
	require.NoError(t, err)
	require.False(t, custom)
	require.Equal(t, DefaultTable(), got)

	require.NoError(t, h.svc.SaveTable(h.ctx, h.shopID, "cart", "reminder-3", scaled))
	got, custom, err = h.svc.GetTable(h.ctx, h.shopID, "cart", "reminder-3")
	require.NoError(t, err)
	require.True(t, custom)
	require.Equal(t, scaled, got)

	edited := scaled
	edited.Tiers = append([]Tier(nil), scaled.Tiers...)
	edited.Tiers[0].To = amtp("60") // overlaps the 50–100 tier
	err = h.svc.SaveTable(h.ctx, h.shopID, "cart", "reminder-3", edited)
	var ve ValidationError
	require.True(t, errors.As(err, &ve))
	require.Equal(t, "tiers[1].from", ve[0].Field)
	got, _, err = h.svc.GetTable(h.ctx, h.shopID, "cart", "reminder-3")
	require.NoError(t, err)
	require.Equal(t, scaled, got, "a refused table leaves the stored one")

	require.NoError(t, h.svc.DeleteTable(h.ctx, h.shopID, "cart", "reminder-3"))
	_, custom, err = h.svc.GetTable(h.ctx, h.shopID, "cart", "reminder-3")
	require.NoError(t, err)
	require.False(t, custom)
}

func TestPrivacyHolder(t *testing.T) {
	h := newHarness(t, devstore.Options{})
	h.customer("gid://shopify/Customer/321")
	step := "cart/reminder-3"
	// A known customer's code, an anonymous shopper's (known to us by the
	// enrollment's contact email), and someone else's.
	var contactID, enrollmentID int64
	require.NoError(t, h.db.Raw(`INSERT INTO contacts (shop_id, email) VALUES (?, 'anna@example.test') RETURNING id`, h.shopID).
		Scan(&contactID).Error)
	require.NoError(t, h.db.Raw(`INSERT INTO enrollments (shop_id, contact_id, flow_key, flow_version, branch, goal_purchase, trigger_at, started_at)
		VALUES (?, ?, 'cart', 1, 'main', true, now(), now()) RETURNING id`, h.shopID, contactID).Scan(&enrollmentID).Error)

	req := h.req(300, step, scaled)
	req.CustomerGID = "gid://shopify/Customer/321"
	known, err := h.svc.CodeFor(h.ctx, req)
	require.NoError(t, err)
	anon, err := h.svc.CodeFor(h.ctx, h.req(enrollmentID, step, scaled))
	require.NoError(t, err)
	other, err := h.svc.CodeFor(h.ctx, h.req(302, step, scaled))
	require.NoError(t, err)
	_, err = h.svc.RecordRedemption(h.ctx, h.shopID, 7001, []string{known.Code}, h.clock.Now())
	require.NoError(t, err)
	_, err = h.svc.RecordRedemption(h.ctx, h.shopID, 7002, []string{other.Code}, h.clock.Now())
	require.NoError(t, err)
	require.NoError(t, h.svc.SaveTable(h.ctx, h.shopID, "cart", "reminder-3", scaled))

	holder := PrivacyHolder{}
	export := func(c shop.CustomerRef) []string {
		v, err := holder.ExportCustomer(h.ctx, h.db, h.domain, c)
		require.NoError(t, err)
		if v == nil {
			return nil
		}
		raw, err := json.Marshal(v)
		require.NoError(t, err)
		var out []struct {
			Code        string `json:"code"`
			Redemptions []struct {
				OrderID int64 `json:"order_id"`
			} `json:"redemptions"`
		}
		require.NoError(t, json.Unmarshal(raw, &out))
		var codes []string
		for _, e := range out {
			codes = append(codes, e.Code)
		}
		return codes
	}
	require.Equal(t, []string{known.Code}, export(shop.CustomerRef{ShopifyID: 321}))
	require.Equal(t, []string{anon.Code}, export(shop.CustomerRef{Email: "Anna@Example.test"}))
	require.Equal(t, []string{other.Code}, export(shop.CustomerRef{OrderIDs: []int64{7002}}))
	require.Nil(t, export(shop.CustomerRef{ShopifyID: 999}))

	// Through the registry, as the compliance webhooks run it.
	p := shop.NewPrivacy(h.db)
	p.Register(holder)
	exp, err := p.DataRequest(h.ctx, h.domain, 1, shop.CustomerRef{ShopifyID: 321})
	require.NoError(t, err)
	var doc struct {
		Data map[string]json.RawMessage `json:"data"`
	}
	exp, err = p.GetExport(h.ctx, h.domain, exp.ID)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(exp.Content, &doc))
	require.Contains(t, string(doc.Data["discount_codes"]), known.Code)
	require.Contains(t, string(doc.Data["discount_codes"]), `"order_id": 7001`)

	require.NoError(t, p.RedactCustomer(h.ctx, h.domain, shop.CustomerRef{ShopifyID: 321, Email: "anna@example.test"}))
	require.Nil(t, export(shop.CustomerRef{ShopifyID: 321}))
	require.Nil(t, export(shop.CustomerRef{Email: "anna@example.test"}))
	require.Equal(t, []string{other.Code}, export(shop.CustomerRef{OrderIDs: []int64{7002}}))
	count := func(table string) int64 {
		var n int64
		require.NoError(t, h.db.Raw(`SELECT count(*) FROM `+table+` WHERE shop_id = ?`, h.shopID).Scan(&n).Error)
		return n
	}
	require.Equal(t, int64(1), count("discount_codes"))
	require.Equal(t, int64(1), count("discount_redemptions"))

	// Redacting by order alone removes that redemption and its code.
	require.NoError(t, p.RedactCustomer(h.ctx, h.domain, shop.CustomerRef{OrderIDs: []int64{7002}}))
	require.Equal(t, int64(0), count("discount_codes"))
	require.Equal(t, int64(0), count("discount_redemptions"))

	// shop/redact takes everything, tier tables included.
	_, err = h.svc.CodeFor(h.ctx, h.req(303, step, scaled))
	require.NoError(t, err)
	require.NoError(t, h.db.Exec(`UPDATE shops SET uninstalled_at = now() WHERE id = ?`, h.shopID).Error)
	require.NoError(t, p.EraseShop(h.ctx, h.domain))
	for _, table := range []string{"discount_codes", "discount_redemptions", "discount_tables"} {
		require.Equal(t, int64(0), count(table), table)
	}
}

func TestPermanent(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{ErrBusy, false},
		{fmt.Errorf("x: %w", shopify.ErrThrottled), false},
		{&shopify.HTTPError{Status: 503}, false},
		{&shopify.GraphQLError{Messages: []string{"Internal error"}, Codes: []string{"INTERNAL_SERVER_ERROR"}}, false},
		{context.DeadlineExceeded, false},
		{&shopify.GraphQLError{Messages: []string{"Access denied"}, Codes: []string{"ACCESS_DENIED"}}, true},
		{&RejectedError{Op: "x", Errors: shopify.UserErrors{{Message: "bad"}}}, true},
		{ValidationError{{Field: "tiers", Message: "x"}}, true},
		{fmt.Errorf("x: %w", shop.ErrNotInstalled), true},
		{fmt.Errorf("x: %w", shopify.ErrShopUnavailable), true},
		{ErrExpired, true},
	} {
		require.Equal(t, c.want, Permanent(c.err), "%v", c.err)
	}
}
