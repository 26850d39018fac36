package shop_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/relance/relance/internal/platform/testenv"
	"github.com/relance/relance/internal/shop"
)

func TestCustomerMatching(t *testing.T) {
	t.Parallel()
	db := testenv.DB(t)
	ref := shop.CustomerRef{ShopifyID: 9007199254740993, Email: "Redact-Me@Example.com", Phone: "+33 6 12 34 56 78", OrderIDs: []int64{820982911946154508}}
	cases := []struct {
		name     string
		doc      string
		mentions bool // precise: exports
		text     bool // broad: redaction
	}{
		{"customer object", `{"customer": {"id": 9007199254740993}}`, true, true},
		{"customer id as string", `{"customer": {"id": "9007199254740993"}}`, true, true},
		{"nested customer_id", `{"default_address": {"customer_id": 9007199254740993}}`, true, true},
		{"customer gid", `{"admin_graphql_api_id": "gid://shopify/Customer/9007199254740993"}`, true, true},
		{"email other case", `{"email": "REDACT-ME@example.COM"}`, true, true},
		{"email in an array", `{"emails": [" redact-me@example.com "]}`, true, true},
		{"phone national", `{"billing_address": {"phone": "06 12 34 56 78"}}`, true, true},
		{"phone e164", `{"phone": "+33612345678"}`, true, true},
		{"order id", `{"order_id": 820982911946154508}`, true, true},
		{"order gid", `{"admin_graphql_api_id": "gid://shopify/Order/820982911946154508"}`, true, true},
		// Not her, precisely; some are still redacted (better too much).
		{"float-rounded id", `{"customer": {"id": 9007199254740992}}`, false, false},
		{"longer id", `{"customer_id": 90071992547409931}`, false, false},
		{"id under another key", `{"product_id": 9007199254740993}`, false, true},
		{"email inside a longer one", `{"email": "xredact-me@example.com"}`, false, true},
		{"email in a note", `{"note": "call redact-me@example.com"}`, false, true},
		{"other phone", `{"phone": "+33 6 98 76 54 32"}`, false, false},
		{"phone digits in a gid", `{"id": "gid://shopify/Customer/612345678"}`, false, true},
		{"nobody", `{"email": "keep-me@example.com", "customer": {"id": 42}}`, false, false},
	}
	for _, c := range cases {
		got, err := ref.Mentions([]byte(c.doc))
		require.NoError(t, err, c.name)
		require.Equal(t, c.mentions, got, "Mentions: %s", c.name)

		cond, args := ref.TextMatchSQL("d.doc")
		var text bool
		require.NoError(t, db.Raw(`WITH d AS (SELECT ?::text AS doc) SELECT `+cond+` FROM d`, append([]any{c.doc}, args...)...).Scan(&text).Error, c.name)
		require.Equal(t, c.text, text, "TextMatchSQL: %s", c.name)
		if c.mentions {
			require.True(t, text, "the SQL prefilter must cover every precise match: %s", c.name)
		}
	}

	cond, args := shop.CustomerRef{}.TextMatchSQL("x")
	require.Equal(t, "FALSE", cond)
	require.Empty(t, args)
	require.True(t, shop.CustomerRef{Phone: "12"}.Empty(), "too short to be a phone")
}

func TestCustomerMatchingEscapedEmail(t *testing.T) {
	t.Parallel()
	db := testenv.DB(t)
	ref := shop.CustomerRef{Email: "josé@example.com"}
	doc := `{"email": "jos\u00e9@example.com"}`
	got, err := ref.Mentions([]byte(doc))
	require.NoError(t, err)
	require.True(t, got)
	cond, args := ref.TextMatchSQL("d.doc")
	var text bool
	require.NoError(t, db.Raw(`WITH d AS (SELECT ?::text AS doc) SELECT `+cond+` FROM d`, append([]any{doc}, args...)...).Scan(&text).Error)
	require.True(t, text)
}
