package mail

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
)

// Shopper links (/u/:token) are signed tokens: a shopper can act on their own
// subscription from an email without an account, and nobody can forge a link
// for someone else or reuse one for another purpose or shop.
//
// A token is base64url (no padding) of
//
//	version(1) | purpose(1) | uvarint shop id | uvarint contact id | uvarint enrollment id | MAC(16)
//
// where MAC is HMAC-SHA256 under a key derived from the app secret
// (HMAC(SHOPIFY_API_SECRET, "relance/shopper-link")), truncated to 128 bits.
// Deriving the key keeps a link from ever doubling as a webhook or OAuth
// signature. Tokens do not expire: an unsubscribe link must keep working in
// an email read months later. They survive one secret rotation (the previous
// secret is accepted while SHOPIFY_API_SECRET_PREVIOUS is set).

// Purpose says what a shopper link does; a token for one purpose is invalid
// for any other.
type Purpose byte

// Link purposes.
const (
	// PurposeUnsubscribe: stop marketing email from the shop (GET page and
	// RFC 8058 one-click POST).
	PurposeUnsubscribe Purpose = 1
	// PurposeNotInterested: leave one enrollment (the cart in this email),
	// nothing else.
	PurposeNotInterested Purpose = 2
	// PurposeClick: a tracked link of an email (/r/:token), signed with
	// SignClick; it carries the message and the storefront path.
	PurposeClick Purpose = 3
	// PurposeIdentify: the short contact token a click hands the
	// storefront (?rl=) so the web pixel can tie its client id to the
	// contact; it grants nothing else.
	PurposeIdentify Purpose = 4
	// PurposePreferences: the shopper's email preferences page (GET shows
	// it, POST applies the explicit choice of a button); unlike
	// PurposeUnsubscribe it is never in List-Unsubscribe and never acts on
	// a one-click POST.
	PurposePreferences Purpose = 5
)

func (p Purpose) String() string {
	switch p {
	case PurposeUnsubscribe:
		return "unsubscribe"
	case PurposeNotInterested:
		return "not_interested"
	case PurposeClick:
		return "click"
	case PurposeIdentify:
		return "identify"
	case PurposePreferences:
		return "preferences"
	}
	return "unknown"
}

// LinkClaims is what a shopper link carries.
type LinkClaims struct {
	Purpose      Purpose
	ShopID       int64
	ContactID    int64
	EnrollmentID int64 // 0 when the link is not about one enrollment
}

// ErrInvalidToken is returned for a malformed, tampered or foreign token.
var ErrInvalidToken = errors.New("mail: invalid shopper link")

const (
	tokenVersion = 1
	tokenMACSize = 16
	// maxTokenLen bounds what Verify decodes (3 uvarints of at most 10
	// bytes, header and MAC, in base64).
	maxTokenLen = 64
)

// LinkSigner signs and verifies shopper links. Safe for concurrent use.
type LinkSigner struct {
	keys [][]byte // keys[0] signs; every key verifies
}

// NewLinkSigner derives the link key from the app secret; previous, when
// not empty, is the secret being rotated out, still accepted for
// verification.
func NewLinkSigner(secret string, previous ...string) (*LinkSigner, error) {
	if secret == "" {
		return nil, errors.New("mail: shopper links need the app secret")
	}
	s := &LinkSigner{keys: [][]byte{deriveLinkKey(secret)}}
	for _, p := range previous {
		if p != "" && p != secret {
			s.keys = append(s.keys, deriveLinkKey(p))
		}
	}
	return s, nil
}

func deriveLinkKey(secret string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("relance/shopper-link"))
	return m.Sum(nil)
}

func linkMAC(key, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return m.Sum(nil)[:tokenMACSize]
}

// Sign returns the token for c. Ids must be positive (EnrollmentID may be
// 0); Sign panics otherwise, as that is a programming error.
func (s *LinkSigner) Sign(c LinkClaims) string {
	if c.ShopID <= 0 || c.ContactID <= 0 || c.EnrollmentID < 0 || c.Purpose == 0 {
		panic("mail: shopper link with invalid claims")
	}
	body := make([]byte, 0, 2+3*binary.MaxVarintLen64+tokenMACSize)
	body = append(body, tokenVersion, byte(c.Purpose))
	body = binary.AppendUvarint(body, uint64(c.ShopID))
	body = binary.AppendUvarint(body, uint64(c.ContactID))
	body = binary.AppendUvarint(body, uint64(c.EnrollmentID))
	body = append(body, linkMAC(s.keys[0], body)...)
	return base64.RawURLEncoding.EncodeToString(body)
}

// Verify checks token in constant time and returns its claims when it was
// signed by us for want. Anything else is ErrInvalidToken.
func (s *LinkSigner) Verify(token string, want Purpose) (LinkClaims, error) {
	if len(token) == 0 || len(token) > maxTokenLen {
		return LinkClaims{}, ErrInvalidToken
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) < 2+3+tokenMACSize {
		return LinkClaims{}, ErrInvalidToken
	}
	body, mac := raw[:len(raw)-tokenMACSize], raw[len(raw)-tokenMACSize:]
	ok := false
	for _, k := range s.keys {
		// Every key is tried, so timing does not tell which one matched.
		if hmac.Equal(mac, linkMAC(k, body)) {
			ok = true
		}
	}
	if !ok || body[0] != tokenVersion {
		return LinkClaims{}, ErrInvalidToken
	}
	c := LinkClaims{Purpose: Purpose(body[1])}
	rest := body[2:]
	ids := make([]int64, 3)
	for i := range ids {
		v, n := binary.Uvarint(rest)
		if n <= 0 || v > 1<<62 {
			return LinkClaims{}, ErrInvalidToken
		}
		ids[i], rest = int64(v), rest[n:]
	}
	if len(rest) != 0 {
		return LinkClaims{}, ErrInvalidToken
	}
	c.ShopID, c.ContactID, c.EnrollmentID = ids[0], ids[1], ids[2]
	if c.Purpose != want || c.ShopID <= 0 || c.ContactID <= 0 {
		return LinkClaims{}, ErrInvalidToken
	}
	return c, nil
}
