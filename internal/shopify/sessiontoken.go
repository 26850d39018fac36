package shopify

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// SessionClaims are the verified claims of an App Bridge session token.
type SessionClaims struct {
	Shop      string // host of dest, lowercased
	UserID    string // sub
	SessionID string // sid
	Issuer    string
	Dest      string
	Audience  string // the app's API key
	ExpiresAt time.Time
	NotBefore time.Time
	IssuedAt  time.Time
	ID        string // jti
}

// SessionVerifier verifies App Bridge session tokens (ID tokens).
type SessionVerifier struct {
	APIKey  string
	Secrets Secrets
	Leeway  time.Duration    // clock tolerance; 10s when zero, as in Shopify's libraries
	Now     func() time.Time // nil => time.Now
}

// maxTokenLen bounds the work spent on a hostile Authorization header.
const maxTokenLen = 8 << 10

type sessionJWT struct {
	jwt.RegisteredClaims
	Dest string `json:"dest"`
	Sid  string `json:"sid,omitempty"`
}

func invalidToken(why string) error {
	return fmt.Errorf("shopify: verifying session token: %w: %s", ErrInvalidToken, why)
}

// Verify checks signature (HS256 only, current or previous secret),
// audience, issuer/destination and validity times, and returns the claims.
func (v *SessionVerifier) Verify(token string) (*SessionClaims, error) {
	if v.APIKey == "" || v.Secrets.Current == "" {
		return nil, invalidToken("verifier not configured")
	}
	if token == "" || len(token) > maxTokenLen {
		return nil, invalidToken("malformed")
	}
	leeway := v.Leeway
	if leeway == 0 {
		leeway = 10 * time.Second
	}
	now := v.Now
	if now == nil {
		now = time.Now
	}
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithLeeway(leeway),
		jwt.WithTimeFunc(now),
		jwt.WithAudience(v.APIKey),
		jwt.WithExpirationRequired(),
	)
	var c sessionJWT
	_, err := parser.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		set := jwt.VerificationKeySet{}
		for _, s := range v.Secrets.each() {
			if s != "" {
				set.Keys = append(set.Keys, []byte(s))
			}
		}
		return set, nil
	})
	if err != nil {
		return nil, invalidToken(jwtReason(err))
	}
	dest, err := url.Parse(c.Dest)
	if err != nil || dest.Scheme != "https" || dest.User != nil || dest.RawQuery != "" || dest.Fragment != "" ||
		(dest.Path != "" && dest.Path != "/") || !ValidShopDomain(dest.Host) {
		return nil, invalidToken("bad dest")
	}
	shop := dest.Host
	if c.Issuer != "https://"+shop+"/admin" {
		return nil, invalidToken("issuer does not match dest")
	}
	out := &SessionClaims{
		Shop:      strings.ToLower(shop),
		UserID:    c.Subject,
		SessionID: c.Sid,
		Issuer:    c.Issuer,
		Dest:      c.Dest,
		Audience:  v.APIKey,
		ID:        c.ID,
	}
	if c.ExpiresAt != nil {
		out.ExpiresAt = c.ExpiresAt.Time
	}
	if c.NotBefore != nil {
		out.NotBefore = c.NotBefore.Time
	}
	if c.IssuedAt != nil {
		out.IssuedAt = c.IssuedAt.Time
	}
	return out, nil
}

// jwtReason names the failed check without echoing token contents.
func jwtReason(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return "expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "not valid yet"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "wrong audience"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "missing required claim"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return "bad signature or algorithm"
	default:
		return "malformed"
	}
}

// SignSessionToken mints an HS256 session token shaped like App Bridge's.
// Empty Issuer/Dest are derived from Shop; zero times are omitted. It is for
// tests, the dev store and the dev-only admin session, never for production
// authentication.
func SignSessionToken(secret string, c SessionClaims) string {
	claims := sessionJWT{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:  c.Issuer,
			Subject: c.UserID,
			ID:      c.ID,
		},
		Dest: c.Dest,
		Sid:  c.SessionID,
	}
	if claims.Dest == "" && c.Shop != "" {
		claims.Dest = "https://" + c.Shop
	}
	if claims.Issuer == "" && c.Shop != "" {
		claims.Issuer = "https://" + c.Shop + "/admin"
	}
	if c.Audience != "" {
		claims.Audience = jwt.ClaimStrings{c.Audience}
	}
	if !c.ExpiresAt.IsZero() {
		claims.ExpiresAt = jwt.NewNumericDate(c.ExpiresAt)
	}
	if !c.NotBefore.IsZero() {
		claims.NotBefore = jwt.NewNumericDate(c.NotBefore)
	}
	if !c.IssuedAt.IsZero() {
		claims.IssuedAt = jwt.NewNumericDate(c.IssuedAt)
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
	if err != nil {
		// HS256 signing only fails for a non-[]byte key, which cannot happen here.
		panic("shopify: signing session token: " + err.Error())
	}
	return s
}
