package shopify

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"
)

const (
	testAPIKey = "api-key-123"
	testSecret = "app-secret"
)

var tokenNow = time.Unix(1_700_000_000, 0)

func testVerifier() *SessionVerifier {
	return &SessionVerifier{APIKey: testAPIKey, Secrets: Secrets{Current: testSecret}, Now: func() time.Time { return tokenNow }}
}

func validClaims() jwt.MapClaims {
	return jwt.MapClaims{
		"iss":  "https://some-shop.myshopify.com/admin",
		"dest": "https://some-shop.myshopify.com",
		"aud":  testAPIKey,
		"sub":  "42",
		"exp":  tokenNow.Add(time.Minute).Unix(),
		"nbf":  tokenNow.Add(-time.Second).Unix(),
		"iat":  tokenNow.Add(-time.Second).Unix(),
		"jti":  "jti-1",
		"sid":  "sid-1",
	}
}

func signMap(t *testing.T, method jwt.SigningMethod, secret string, c jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, c).SignedString([]byte(secret))
	require.NoError(t, err)
	return s
}

func with(c jwt.MapClaims, k string, v any) jwt.MapClaims {
	out := jwt.MapClaims{}
	for kk, vv := range c {
		out[kk] = vv
	}
	if v == nil {
		delete(out, k)
	} else {
		out[k] = v
	}
	return out
}

func b64(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestSessionVerifier(t *testing.T) {
	hs256 := jwt.SigningMethodHS256
	valid := signMap(t, hs256, testSecret, validClaims())
	parts := strings.Split(valid, ".")
	noneToken := b64(map[string]string{"alg": "none", "typ": "JWT"}) + "." + parts[1] + "."
	tampered := parts[0] + "." + b64(with(validClaims(), "dest", "https://other.myshopify.com")) + "." + parts[2]

	tests := []struct {
		name  string
		token string
		ok    bool
	}{
		{"valid", valid, true},
		{"aud as array", signMap(t, hs256, testSecret, with(validClaims(), "aud", []string{testAPIKey})), true},
		{"fractional exp and nbf", signMap(t, hs256, testSecret, with(with(validClaims(), "exp", 1700000000.5), "nbf", 1699999999.5)), true},
		{"expired within leeway", signMap(t, hs256, testSecret, with(validClaims(), "exp", tokenNow.Add(-5*time.Second).Unix())), true},
		{"expired", signMap(t, hs256, testSecret, with(validClaims(), "exp", tokenNow.Add(-11*time.Second).Unix())), false},
		{"fractional exp expired", signMap(t, hs256, testSecret, with(validClaims(), "exp", 1699999989.5)), false},
		{"no exp", signMap(t, hs256, testSecret, with(validClaims(), "exp", nil)), false},
		{"not yet valid", signMap(t, hs256, testSecret, with(validClaims(), "nbf", tokenNow.Add(time.Minute).Unix())), false},
		{"wrong audience", signMap(t, hs256, testSecret, with(validClaims(), "aud", "other-app")), false},
		{"no audience", signMap(t, hs256, testSecret, with(validClaims(), "aud", nil)), false},
		{"iss shop differs from dest", signMap(t, hs256, testSecret, with(validClaims(), "iss", "https://other-shop.myshopify.com/admin")), false},
		{"iss without /admin", signMap(t, hs256, testSecret, with(validClaims(), "iss", "https://some-shop.myshopify.com")), false},
		{"dest not myshopify", signMap(t, hs256, testSecret, with(with(validClaims(), "dest", "https://evil.com"), "iss", "https://evil.com/admin")), false},
		{"dest http", signMap(t, hs256, testSecret, with(with(validClaims(), "dest", "http://some-shop.myshopify.com"), "iss", "http://some-shop.myshopify.com/admin")), false},
		{"dest with path", signMap(t, hs256, testSecret, with(validClaims(), "dest", "https://some-shop.myshopify.com/x")), false},
		{"dest without scheme", signMap(t, hs256, testSecret, with(validClaims(), "dest", "some-shop.myshopify.com")), false},
		{"wrong secret", signMap(t, hs256, "other-secret", validClaims()), false},
		{"tampered payload", tampered, false},
		{"alg none", noneToken, false},
		{"alg HS512", signMap(t, jwt.SigningMethodHS512, testSecret, validClaims()), false},
		{"alg RS256 header", b64(map[string]string{"alg": "RS256", "typ": "JWT"}) + "." + parts[1] + "." + parts[2], false},
		{"malformed", "not.a.jwt", false},
		{"two parts", parts[0] + "." + parts[1], false},
		{"empty", "", false},
		{"huge", strings.Repeat("a", 10000), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := testVerifier().Verify(tt.token)
			if !tt.ok {
				require.ErrorIs(t, err, ErrInvalidToken)
				require.Nil(t, c)
				require.NotContains(t, err.Error(), testSecret)
				return
			}
			require.NoError(t, err)
			require.Equal(t, "some-shop.myshopify.com", c.Shop)
		})
	}
}

func TestSessionVerifierClaims(t *testing.T) {
	c, err := testVerifier().Verify(signMap(t, jwt.SigningMethodHS256, testSecret, validClaims()))
	require.NoError(t, err)
	require.Equal(t, &SessionClaims{
		Shop: "some-shop.myshopify.com", UserID: "42", SessionID: "sid-1",
		Issuer: "https://some-shop.myshopify.com/admin", Dest: "https://some-shop.myshopify.com", Audience: testAPIKey,
		ExpiresAt: tokenNow.Add(time.Minute), NotBefore: tokenNow.Add(-time.Second), IssuedAt: tokenNow.Add(-time.Second),
		ID: "jti-1",
	}, c)
}

func TestSessionVerifierRotation(t *testing.T) {
	token := signMap(t, jwt.SigningMethodHS256, "old-secret", validClaims())
	v := testVerifier()
	v.Secrets = Secrets{Current: "new-secret", Previous: "old-secret"}
	_, err := v.Verify(token)
	require.NoError(t, err)
	v.Secrets = Secrets{Current: "new-secret", Previous: "older-secret"}
	_, err = v.Verify(token)
	require.ErrorIs(t, err, ErrInvalidToken)
}

func TestSessionVerifierConfig(t *testing.T) {
	token := signMap(t, jwt.SigningMethodHS256, testSecret, validClaims())
	_, err := (&SessionVerifier{Secrets: Secrets{Current: testSecret}}).Verify(token)
	require.ErrorIs(t, err, ErrInvalidToken, "no API key")
	_, err = (&SessionVerifier{APIKey: testAPIKey}).Verify(signMap(t, jwt.SigningMethodHS256, "", validClaims()))
	require.ErrorIs(t, err, ErrInvalidToken, "no secret")
	// Default clock: the fixed-time token is long expired.
	_, err = (&SessionVerifier{APIKey: testAPIKey, Secrets: Secrets{Current: testSecret}}).Verify(token)
	require.ErrorIs(t, err, ErrInvalidToken)
}

func TestSignSessionTokenRoundTrip(t *testing.T) {
	in := SessionClaims{
		Shop: "some-shop.myshopify.com", UserID: "7", SessionID: "s", Audience: testAPIKey,
		ExpiresAt: tokenNow.Add(time.Minute), NotBefore: tokenNow, IssuedAt: tokenNow, ID: "j",
	}
	got, err := testVerifier().Verify(SignSessionToken(testSecret, in))
	require.NoError(t, err)
	in.Issuer = "https://some-shop.myshopify.com/admin"
	in.Dest = "https://some-shop.myshopify.com"
	require.Equal(t, &in, got)

	_, err = testVerifier().Verify(SignSessionToken("wrong", in))
	require.ErrorIs(t, err, ErrInvalidToken)
}
