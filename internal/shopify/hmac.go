package shopify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// MaxClockSkew is how far a signed query's timestamp may be from now, as in
// Shopify's own libraries.
const MaxClockSkew = 90 * time.Second

func mac(secret string, msg []byte) []byte {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write(msg)
	return h.Sum(nil)
}

// matchAny compares got against the MAC under every secret, in constant time
// and without short-circuiting, so timing reveals neither the match nor
// which secret matched.
func (s Secrets) matchAny(msg, got []byte) bool {
	ok := false
	for _, secret := range s.each() {
		if secret == "" {
			continue
		}
		if hmac.Equal(mac(secret, msg), got) {
			ok = true
		}
	}
	return ok
}

// SignWebhook returns base64(HMAC-SHA256(secret, body)), the value of
// X-Shopify-Hmac-Sha256.
func SignWebhook(secret string, body []byte) string {
	return base64.StdEncoding.EncodeToString(mac(secret, body))
}

// VerifyWebhook checks the X-Shopify-Hmac-Sha256 header against the raw body
// (before any JSON decoding).
func (s Secrets) VerifyWebhook(body []byte, header string) error {
	if len(body) == 0 || header == "" {
		return fmt.Errorf("shopify: verifying webhook: %w", ErrBadSignature)
	}
	got, err := base64.StdEncoding.DecodeString(header)
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("shopify: verifying webhook: %w", ErrBadSignature)
	}
	if !s.matchAny(body, got) {
		return fmt.Errorf("shopify: verifying webhook: %w", ErrBadSignature)
	}
	return nil
}

// formEscape encodes like the WHATWG application/x-www-form-urlencoded
// serializer (URLSearchParams) with spaces as %20, which is what Shopify's JS
// library signs: only ASCII alphanumerics and *-._ are left as they are.
func formEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '*' || c == '-' || c == '.' || c == '_' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte("0123456789ABCDEF"[c>>4])
		b.WriteByte("0123456789ABCDEF"[c&15])
	}
	return b.String()
}

func sortedKeys(q url.Values, drop ...string) []string {
	keys := make([]string, 0, len(q))
outer:
	for k := range q {
		for _, d := range drop {
			if k == d {
				continue outer
			}
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// queryMessage is the canonical admin/OAuth message: hmac and signature
// dropped, keys sorted, key=value joined by "&"; a repeated key is signed
// as repeated "key[]=value" pairs, as the JS library does.
func queryMessage(q url.Values) []byte {
	var parts []string
	for _, k := range sortedKeys(q, "hmac", "signature") {
		vs := q[k]
		if len(vs) == 1 {
			parts = append(parts, formEscape(k)+"="+formEscape(vs[0]))
			continue
		}
		for _, v := range vs {
			parts = append(parts, formEscape(k+"[]")+"="+formEscape(v))
		}
	}
	return []byte(strings.Join(parts, "&"))
}

// SignQuery returns the hex hmac Shopify puts on install requests, OAuth
// callbacks and admin links.
func SignQuery(secret string, q url.Values) string {
	return hex.EncodeToString(mac(secret, queryMessage(q)))
}

// VerifyQuery checks the hmac parameter of an install request, OAuth callback
// or admin link, then that its timestamp is within MaxClockSkew of now.
func (s Secrets) VerifyQuery(q url.Values, now time.Time) error {
	if len(q["hmac"]) != 1 {
		return fmt.Errorf("shopify: verifying query: %w", ErrBadSignature)
	}
	ts, err := singleTimestamp(q)
	if err != nil {
		return fmt.Errorf("shopify: verifying query: %w", err)
	}
	got, err := hex.DecodeString(q.Get("hmac"))
	if err != nil || len(got) != sha256.Size || !s.matchAny(queryMessage(q), got) {
		return fmt.Errorf("shopify: verifying query: %w", ErrBadSignature)
	}
	if err := fresh(ts, now); err != nil {
		return fmt.Errorf("shopify: verifying query: %w", err)
	}
	return nil
}

// proxyMessage is the canonical app proxy message: signature dropped,
// repeated values joined with ",", keys sorted, key=value concatenated with
// no separator, values decoded.
func proxyMessage(q url.Values) []byte {
	var b strings.Builder
	for _, k := range sortedKeys(q, "signature") {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(strings.Join(q[k], ","))
	}
	return []byte(b.String())
}

// SignProxy returns the hex signature Shopify adds to app proxy requests.
func SignProxy(secret string, q url.Values) string {
	return hex.EncodeToString(mac(secret, proxyMessage(q)))
}

// VerifyProxy checks the signature parameter of an app proxy request. shop,
// timestamp and signature must appear exactly once (hmac at most once), since
// joining repeated values would otherwise let "shop=a&shop=b" pass as signed.
func (s Secrets) VerifyProxy(q url.Values, now time.Time) error {
	if len(q["signature"]) != 1 {
		return fmt.Errorf("shopify: verifying app proxy: %w", ErrBadSignature)
	}
	if len(q["shop"]) != 1 || len(q["hmac"]) > 1 {
		return fmt.Errorf("shopify: verifying app proxy: %w", ErrMalformed)
	}
	ts, err := singleTimestamp(q)
	if err != nil {
		return fmt.Errorf("shopify: verifying app proxy: %w", err)
	}
	got, err := hex.DecodeString(q.Get("signature"))
	if err != nil || len(got) != sha256.Size || !s.matchAny(proxyMessage(q), got) {
		return fmt.Errorf("shopify: verifying app proxy: %w", ErrBadSignature)
	}
	if err := fresh(ts, now); err != nil {
		return fmt.Errorf("shopify: verifying app proxy: %w", err)
	}
	return nil
}

func singleTimestamp(q url.Values) (int64, error) {
	vs := q["timestamp"]
	if len(vs) != 1 {
		return 0, ErrMalformed
	}
	ts, err := strconv.ParseInt(vs[0], 10, 64)
	if err != nil {
		return 0, ErrMalformed
	}
	return ts, nil
}

func fresh(ts int64, now time.Time) error {
	// Compare against bounds rather than subtracting, which could overflow
	// on a hostile timestamp.
	skew := int64(MaxClockSkew / time.Second)
	if n := now.Unix(); ts < n-skew || ts > n+skew {
		return ErrStaleRequest
	}
	return nil
}
