package shopify

import (
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Vectors from /work/shared/fixtures/shopify/signature-vectors.md (secret "hush").
const vectorSecret = "hush"

func TestVerifyWebhookVectors(t *testing.T) {
	s := Secrets{Current: vectorSecret}
	tests := []struct {
		name   string
		body   string
		header string
		ok     bool
	}{
		{"valid", `"my secret message"`, "hMTq0K2x7oyOjoBwGYeTj5oxfnaVYXzbanUG9aajpKI=", true},
		{"wrong hash", `"my secret message"`, "wronghash", false},
		{"empty body", ``, "hMTq0K2x7oyOjoBwGYeTj5oxfnaVYXzbanUG9aajpKI=", false},
		// Two bytes of quotes are a real body here; the HMAC matches.
		{"quoted empty string", `""`, "ZAZ6P4c14f6v798OCPYCodtdf9g8Z+GfthdfCgyhUYg=", true},
		{"other message", `"my invalid message"`, "hMTq0K2x7oyOjoBwGYeTj5oxfnaVYXzbanUG9aajpKI=", false},
		{"too long", `"my secret message"`, "hMTq0K2x7oyOjoBwGYeTj5oxfnaVYXzbanUG9aajpKIthissignatureisnowwaytoolongitshouldfailbecausethelengthisnot32=", false},
		{"unquoted derived", `my secret message`, "7/WDe43pNWxHoCMD7ukeWbZMtWEMfYQy8wPrdA6jiwc=", true},
		{"empty header", `"my secret message"`, "", false},
		{"truncated mac", `"my secret message"`, "hMTq0K2x7oyOjoBwGYeTj5oxfnaVYXzbanUG9aajp==", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.VerifyWebhook([]byte(tt.body), tt.header)
			if tt.ok {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, ErrBadSignature)
			}
		})
	}
	require.Equal(t, "hMTq0K2x7oyOjoBwGYeTj5oxfnaVYXzbanUG9aajpKI=", SignWebhook(vectorSecret, []byte(`"my secret message"`)))
	require.Equal(t, "Knm8rWjeSXNIt2H0AOMT7DQ8/YSy8sQi/pEjbuUmGMs=", SignWebhook(vectorSecret, nil))
}

func TestWebhookSecretRotation(t *testing.T) {
	body := []byte(`{"id":1}`)
	oldSig := SignWebhook("old", body)
	newSig := SignWebhook("new", body)
	rotating := Secrets{Current: "new", Previous: "old"}
	require.NoError(t, rotating.VerifyWebhook(body, oldSig))
	require.NoError(t, rotating.VerifyWebhook(body, newSig))
	require.ErrorIs(t, rotating.VerifyWebhook(body, SignWebhook("unknown", body)), ErrBadSignature)
	require.ErrorIs(t, Secrets{Current: "new"}.VerifyWebhook(body, oldSig), ErrBadSignature)
	require.ErrorIs(t, Secrets{}.VerifyWebhook(body, SignWebhook("", body)), ErrBadSignature, "an empty secret must never verify")
}

func mustQuery(t *testing.T, raw string) url.Values {
	t.Helper()
	q, err := url.ParseQuery(raw)
	require.NoError(t, err)
	return q
}

func TestVerifyQueryVectors(t *testing.T) {
	s := Secrets{Current: vectorSecret}
	tests := []struct {
		name  string
		query string
		ok    bool
	}{
		{"A1", "code=0907a61c0c8d55e99db179b68161bc00&hmac=4712bf92ffc2917d15a2f5a273e39f0116667419aa4b6ac0b3baaf26fa3c4d20&shop=some-shop.myshopify.com&signature=11813d1e7bbf4629edcda0628a3f7a20&timestamp=1337178173", true},
		{"A2", "code=0907a61c0c8d55e99db179b68161bc00&hmac=7db6973c2aff68295ebcf354c2ce528a6b09aef1146baafccc2e0b369fff5f6d&shop=some-shop.myshopify.com&signature=11813d1e7bbf4629edcda0628a3f7a20&timestamp=1337178173&state=abcd", true},
		{"A3", "code=0907a61c0c8d55e99db179b68161bc00&hmac=4712bf92ffc2917d15a2f5a273e39f0116667419aa4b6ac0b3baaf26fa3c4d20&shop=some-shop.myshopify.com&signature=11813d1e7bbf4629edcda0628a3f7a20&timestamp=133717817", false},
		{"A4", "code=0907a61c0c8d55e99db179b68161bc00&hmac=700e2dadb827fcc8609e9d5ce208b2e9cdaab9df07390d2cbca10d7c328fc4bf&shop=some-shop.myshopify.com&state=0.6784241404160823&timestamp=1337178173", true},
		{"A4 uppercase hex", "code=0907a61c0c8d55e99db179b68161bc00&hmac=700E2DADB827FCC8609E9D5CE208B2E9CDAAB9DF07390D2CBCA10D7C328FC4BF&shop=some-shop.myshopify.com&state=0.6784241404160823&timestamp=1337178173", true},
		{"A4 extra param", "code=0907a61c0c8d55e99db179b68161bc00&hmac=700e2dadb827fcc8609e9d5ce208b2e9cdaab9df07390d2cbca10d7c328fc4bf&shop=some-shop.myshopify.com&state=0.6784241404160823&timestamp=1337178173&embedded=1", false},
		{"A4 other shop", "code=0907a61c0c8d55e99db179b68161bc00&hmac=700e2dadb827fcc8609e9d5ce208b2e9cdaab9df07390d2cbca10d7c328fc4bf&shop=evil.myshopify.com&state=0.6784241404160823&timestamp=1337178173", false},
		{"no hmac", "code=0907a61c0c8d55e99db179b68161bc00&shop=some-shop.myshopify.com&timestamp=1337178173", false},
		{"non-hex hmac", "code=x&hmac=zz&shop=some-shop.myshopify.com&timestamp=1337178173", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := mustQuery(t, tt.query)
			ts, err := strconv.ParseInt(q.Get("timestamp"), 10, 64)
			require.NoError(t, err)
			err = s.VerifyQuery(q, time.Unix(ts, 0))
			if tt.ok {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, ErrBadSignature)
			}
		})
	}
	require.Equal(t, "700e2dadb827fcc8609e9d5ce208b2e9cdaab9df07390d2cbca10d7c328fc4bf",
		SignQuery(vectorSecret, mustQuery(t, "code=0907a61c0c8d55e99db179b68161bc00&shop=some-shop.myshopify.com&state=0.6784241404160823&timestamp=1337178173")))
	require.Equal(t, "code=0907a61c0c8d55e99db179b68161bc00&shop=some-shop.myshopify.com&state=abcd&timestamp=1337178173",
		string(queryMessage(mustQuery(t, "code=0907a61c0c8d55e99db179b68161bc00&hmac=x&shop=some-shop.myshopify.com&signature=y&timestamp=1337178173&state=abcd"))))
}

func TestQueryMessageEncoding(t *testing.T) {
	tests := []struct {
		name  string
		query url.Values
		want  string
	}{
		{"space is %20", url.Values{"a": {"b c"}}, "a=b%20c"},
		{"plus is escaped", url.Values{"a": {"b+c"}}, "a=b%2Bc"},
		{"URLSearchParams safe set", url.Values{"a": {"*-._~"}}, "a=*-._%7E"},
		{"utf-8", url.Values{"a": {"é"}}, "a=%C3%A9"},
		{"key escaped", url.Values{"a b": {"1"}}, "a%20b=1"},
		{"arrays", url.Values{"ids": {"1", "2"}, "b": {"x"}}, "b=x&ids%5B%5D=1&ids%5B%5D=2"},
		{"sorted by key", url.Values{"z": {"1"}, "a": {"2"}, "m": {"3"}}, "a=2&m=3&z=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, string(queryMessage(tt.query)))
		})
	}
}

func TestVerifyQueryTimestamp(t *testing.T) {
	s := Secrets{Current: "secret"}
	now := time.Unix(1_700_000_000, 0)
	signed := func(q url.Values) url.Values {
		q.Set("hmac", SignQuery("secret", q))
		return q
	}
	base := func(ts string) url.Values {
		return url.Values{"shop": {"a.myshopify.com"}, "timestamp": {ts}, "code": {"c"}}
	}
	require.NoError(t, s.VerifyQuery(signed(base("1700000000")), now))
	require.NoError(t, s.VerifyQuery(signed(base("1699999910")), now))
	require.NoError(t, s.VerifyQuery(signed(base("1700000090")), now))
	require.ErrorIs(t, s.VerifyQuery(signed(base("1699999909")), now), ErrStaleRequest)
	require.ErrorIs(t, s.VerifyQuery(signed(base("1700000091")), now), ErrStaleRequest)
	require.ErrorIs(t, s.VerifyQuery(signed(base("-9223372036854775808")), now), ErrStaleRequest)
	require.ErrorIs(t, s.VerifyQuery(signed(base("17e8")), now), ErrMalformed)
	require.ErrorIs(t, s.VerifyQuery(signed(base("")), now), ErrMalformed)
	missing := url.Values{"shop": {"a.myshopify.com"}}
	require.ErrorIs(t, s.VerifyQuery(signed(missing), now), ErrMalformed)
	twice := url.Values{"shop": {"a.myshopify.com"}, "timestamp": {"1700000000", "1700000000"}}
	require.ErrorIs(t, s.VerifyQuery(signed(twice), now), ErrMalformed)

	rotating := Secrets{Current: "new", Previous: "secret"}
	require.NoError(t, rotating.VerifyQuery(signed(base("1700000000")), now))
	require.ErrorIs(t, Secrets{Current: "new", Previous: "older"}.VerifyQuery(signed(base("1700000000")), now), ErrBadSignature)
}

func TestVerifyProxyVectors(t *testing.T) {
	s := Secrets{Current: vectorSecret}
	const p1 = "extra=1&extra=2&shop=shop-name.myshopify.com&path_prefix=%2Fapps%2Fawesome_reviews&timestamp=1317327555&signature=a9718877bea71c2484f91608a7eaea1532bdf71f5c56825065fa4ccabe549ef3"
	const p2 = "extra=1&extra=2&shop=shop-name.myshopify.com&logged_in_customer_id=1&path_prefix=%2Fapps%2Fawesome_reviews&timestamp=1317327555&signature=4c68c8624d737112c91818c11017d24d334b524cb5c2b8ba08daa056f7395ddb"
	now := time.Unix(1317327555, 0)
	tests := []struct {
		name  string
		query string
		err   error
	}{
		{"P1", p1, nil},
		{"P1 extra param", p1 + "&notok=true", ErrBadSignature},
		{"P2", p2, nil},
		{"P1 shop twice", p1 + "&shop=shop-name.myshopify.com", ErrMalformed},
		{"P1 timestamp twice", p1 + "&timestamp=1317327555", ErrMalformed},
		{"P1 signature twice", p1 + "&signature=a9718877bea71c2484f91608a7eaea1532bdf71f5c56825065fa4ccabe549ef3", ErrBadSignature},
		{"P1 hmac twice", p1 + "&hmac=1&hmac=2", ErrMalformed},
		{"P1 without signature", "extra=1&extra=2&shop=shop-name.myshopify.com&path_prefix=%2Fapps%2Fawesome_reviews&timestamp=1317327555", ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.VerifyProxy(mustQuery(t, tt.query), now)
			if tt.err == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, tt.err)
			}
		})
	}
	require.Equal(t, "extra=1,2path_prefix=/apps/awesome_reviewsshop=shop-name.myshopify.comtimestamp=1317327555", string(proxyMessage(mustQuery(t, p1))))
	require.Equal(t, "4c68c8624d737112c91818c11017d24d334b524cb5c2b8ba08daa056f7395ddb", SignProxy(vectorSecret, mustQuery(t, p2)))

	// Freshness is checked on the real clock too.
	require.ErrorIs(t, s.VerifyProxy(mustQuery(t, p1), now.Add(91*time.Second)), ErrStaleRequest)
	require.NoError(t, s.VerifyProxy(mustQuery(t, p1), now.Add(-90*time.Second)))

	// Rotation.
	require.NoError(t, Secrets{Current: "new", Previous: vectorSecret}.VerifyProxy(mustQuery(t, p1), now))
	require.ErrorIs(t, Secrets{Current: "new"}.VerifyProxy(mustQuery(t, p1), now), ErrBadSignature)
}
