package shopify

import (
	"crypto/hmac"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const fuzzSecret = "fuzz-secret"

var fuzzNow = time.Unix(1_700_000_000, 0)

// FuzzVerifyWebhook: a body signed with the secret verifies, any other
// header verifies only if it is byte-for-byte the correct HMAC.
func FuzzVerifyWebhook(f *testing.F) {
	f.Add([]byte(`"my secret message"`), "hMTq0K2x7oyOjoBwGYeTj5oxfnaVYXzbanUG9aajpKI=")
	f.Add([]byte(`{"id":1}`), "wronghash")
	f.Add([]byte{}, "")
	f.Add([]byte("x"), "====")
	f.Fuzz(func(t *testing.T, body []byte, header string) {
		s := Secrets{Current: fuzzSecret}
		want := SignWebhook(fuzzSecret, body)
		if len(body) > 0 {
			require.NoError(t, s.VerifyWebhook(body, want))
		}
		err := s.VerifyWebhook(body, header)
		if err == nil {
			// Decoding is canonical up to trailing bits, so compare MACs, not strings.
			require.NotEmpty(t, body)
			require.True(t, hmac.Equal(mac(fuzzSecret, body), mustB64(t, header)))
		} else {
			require.ErrorIs(t, err, ErrBadSignature)
		}
	})
}

func mustB64(t *testing.T, s string) []byte {
	b, err := base64.StdEncoding.DecodeString(s)
	require.NoError(t, err)
	return b
}

// FuzzVerifyQuery: a query signed with SignQuery (and fresh) verifies;
// an arbitrary one verifies only if its hmac is the query's true MAC.
func FuzzVerifyQuery(f *testing.F) {
	f.Add("code=0907a61c0c8d55e99db179b68161bc00&hmac=700e2dadb827fcc8609e9d5ce208b2e9cdaab9df07390d2cbca10d7c328fc4bf&shop=some-shop.myshopify.com&state=0.6784241404160823&timestamp=1337178173", int64(0))
	f.Add("a=b%20c&a=d&timestamp=1700000000", int64(5))
	f.Add("hmac=zz&timestamp=x", int64(-100))
	f.Add("%zz", int64(0))
	f.Fuzz(func(t *testing.T, raw string, skew int64) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		s := Secrets{Current: fuzzSecret}
		ts := fuzzNow.Unix() + skew%200
		// Signing what we generated must verify iff fresh.
		gen := url.Values{}
		for k, v := range q {
			gen[k] = append([]string(nil), v...)
		}
		gen.Set("timestamp", strconv.FormatInt(ts, 10))
		gen.Del("hmac")
		gen.Set("hmac", SignQuery(fuzzSecret, gen))
		err = s.VerifyQuery(gen, fuzzNow)
		if d := skew % 200; d >= -90 && d <= 90 {
			require.NoError(t, err)
		} else {
			require.ErrorIs(t, err, ErrStaleRequest)
		}

		// The raw input verifies only if correctly signed.
		if err := s.VerifyQuery(q, fuzzNow); err == nil {
			got, herr := hex.DecodeString(q.Get("hmac"))
			require.NoError(t, herr)
			require.True(t, hmac.Equal(mac(fuzzSecret, queryMessage(q)), got))
		}
	})
}

// FuzzVerifyProxy: same property for app proxy signatures.
func FuzzVerifyProxy(f *testing.F) {
	f.Add("extra=1&extra=2&shop=shop-name.myshopify.com&path_prefix=%2Fapps%2Fawesome_reviews&timestamp=1317327555&signature=a9718877bea71c2484f91608a7eaea1532bdf71f5c56825065fa4ccabe549ef3", int64(0))
	f.Add("shop=a.myshopify.com&shop=b.myshopify.com", int64(1))
	f.Add("signature=&timestamp=", int64(500))
	f.Fuzz(func(t *testing.T, raw string, skew int64) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		s := Secrets{Current: fuzzSecret}
		gen := url.Values{}
		for k, v := range q {
			gen[k] = append([]string(nil), v...)
		}
		gen.Set("shop", "shop.myshopify.com")
		gen.Set("timestamp", strconv.FormatInt(fuzzNow.Unix()+skew%200, 10))
		gen.Del("hmac")
		gen.Set("signature", SignProxy(fuzzSecret, gen))
		err = s.VerifyProxy(gen, fuzzNow)
		if d := skew % 200; d >= -90 && d <= 90 {
			require.NoError(t, err)
		} else {
			require.ErrorIs(t, err, ErrStaleRequest)
		}

		if err := s.VerifyProxy(q, fuzzNow); err == nil {
			got, herr := hex.DecodeString(q.Get("signature"))
			require.NoError(t, herr)
			require.True(t, hmac.Equal(mac(fuzzSecret, proxyMessage(q)), got))
			require.Len(t, q["shop"], 1)
		}
	})
}

// FuzzSessionToken: arbitrary strings never verify unless they are exactly a
// token we signed; a token we sign for a fuzzed shop verifies iff the shop is valid.
func FuzzSessionToken(f *testing.F) {
	f.Add("eyJhbGciOiJub25lIn0.e30.", "some-shop.myshopify.com", int64(60))
	f.Add("a.b.c", "evil.com", int64(-60))
	f.Add("", "-x.myshopify.com", int64(0))
	f.Fuzz(func(t *testing.T, token, shop string, ttl int64) {
		v := &SessionVerifier{APIKey: "key", Secrets: Secrets{Current: fuzzSecret}, Now: func() time.Time { return fuzzNow }}
		if c, err := v.Verify(token); err == nil {
			// Only a correctly signed token can pass: its signature must be
			// the HMAC of its first two parts under the secret.
			parts := strings.Split(token, ".")
			require.Len(t, parts, 3)
			sig, derr := base64.RawURLEncoding.DecodeString(parts[2])
			require.NoError(t, derr)
			require.True(t, hmac.Equal(mac(fuzzSecret, []byte(parts[0]+"."+parts[1])), sig))
			require.True(t, ValidShopDomain(c.Shop))
		} else {
			require.ErrorIs(t, err, ErrInvalidToken)
		}

		ttl %= 3600
		signed := SignSessionToken(fuzzSecret, SessionClaims{
			Shop: shop, Audience: "key", ExpiresAt: fuzzNow.Add(time.Duration(ttl) * time.Second),
		})
		c, err := v.Verify(signed)
		if ValidShopDomain(shop) && ttl > -10 {
			require.NoError(t, err)
			require.Equal(t, strings.ToLower(shop), c.Shop)
		} else {
			require.ErrorIs(t, err, ErrInvalidToken)
		}
		_, err = v.Verify(SignSessionToken("other", SessionClaims{Shop: shop, Audience: "key", ExpiresAt: fuzzNow.Add(time.Hour)}))
		require.ErrorIs(t, err, ErrInvalidToken)
	})
}

// FuzzParseWebhookHeaders: never panics; success implies the required
// fields are present and the shop is valid.
func FuzzParseWebhookHeaders(f *testing.F) {
	f.Add("orders/create", "some-shop.myshopify.com", "id-1", "hmac", "2023-03-29T18:00:27.877041743Z", true)
	f.Add("", "evil.com", "", "", "garbage", false)
	f.Fuzz(func(t *testing.T, topic, shop, id, mac, triggered string, prefixed bool) {
		prefix := "Shopify-"
		if prefixed {
			prefix = "X-Shopify-"
		}
		h := http.Header{}
		h.Set(prefix+"Topic", topic)
		h.Set(prefix+"Shop-Domain", shop)
		h.Set(prefix+"Webhook-Id", id)
		h.Set(prefix+"Hmac-Sha256", mac)
		h.Set(prefix+"Triggered-At", triggered)
		w, err := ParseWebhookHeaders(h)
		if err != nil {
			require.ErrorIs(t, err, ErrMalformed)
			return
		}
		require.NotEmpty(t, w.Topic)
		require.NotEmpty(t, w.WebhookID)
		require.NotEmpty(t, w.HMAC)
		require.True(t, ValidShopDomain(w.ShopDomain))
		require.Equal(t, strings.ToLower(strings.TrimSpace(shop)), w.ShopDomain)
	})
}
