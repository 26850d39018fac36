package mail

import (
	"crypto/hmac"
	"encoding/base64"
	"encoding/binary"
	"strings"
)

// Click links (/r/:token) carry more than shopper links: the message
// clicked and where in the store to go. A click token is base64url (no
// padding) of
//
//	version(2) | purpose(3) | uvarint shop id | uvarint contact id | uvarint message id | target | MAC(16)
//
// under the same derived key as shopper links. target is a path on the
// shop's storefront ("/products/x?variant=1"), never a host: whatever a
// token says, the redirect goes to the shop's own domain.

// ClickClaims is what a click link carries.
type ClickClaims struct {
	ShopID    int64
	ContactID int64
	MessageID int64
	// Target is the storefront path with its query, starting with a single
	// "/"; see ClickTarget.
	Target string
}

const (
	clickVersion = 2
	// MaxClickTarget bounds the path a click link carries.
	MaxClickTarget = 1024
	maxClickToken  = (2+3*binary.MaxVarintLen64+MaxClickTarget+tokenMACSize)*4/3 + 4
)

// ClickTarget reduces a storefront path to what a click link may carry: a
// path starting with exactly one "/" (never "//" or "/\", which browsers
// read as another host), without control characters, at most
// MaxClickTarget bytes. ok is false when nothing safe remains.
func ClickTarget(path string) (string, bool) {
	if path == "" {
		return "/", true
	}
	if len(path) > MaxClickTarget || path[0] != '/' {
		return "", false
	}
	if len(path) > 1 && (path[1] == '/' || path[1] == '\\') {
		return "", false
	}
	for i := 0; i < len(path); i++ {
		if c := path[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return "", false
		}
	}
	if strings.Contains(path, "#") {
		path = path[:strings.IndexByte(path, '#')]
	}
	return path, true
}

// SignClick returns the click token for c. Ids must be positive and
// Target acceptable to ClickTarget; SignClick panics otherwise, as that is
// a programming error.
func (s *LinkSigner) SignClick(c ClickClaims) string {
	target, ok := ClickTarget(c.Target)
	if c.ShopID <= 0 || c.ContactID <= 0 || c.MessageID <= 0 || !ok {
		panic("mail: click link with invalid claims")
	}
	body := make([]byte, 0, 2+3*binary.MaxVarintLen64+len(target)+tokenMACSize)
	body = append(body, clickVersion, byte(PurposeClick))
	body = binary.AppendUvarint(body, uint64(c.ShopID))
	body = binary.AppendUvarint(body, uint64(c.ContactID))
	body = binary.AppendUvarint(body, uint64(c.MessageID))
	body = append(body, target...)
	body = append(body, linkMAC(s.keys[0], body)...)
	return base64.RawURLEncoding.EncodeToString(body)
}

// VerifyClick checks a click token in constant time and returns its
// claims. Anything else (a shopper link, a tampered token) is
// ErrInvalidToken.
func (s *LinkSigner) VerifyClick(token string) (ClickClaims, error) {
	raw, ok := decodeClick(token)
	if !ok {
		return ClickClaims{}, ErrInvalidToken
	}
	body, mac := raw[:len(raw)-tokenMACSize], raw[len(raw)-tokenMACSize:]
	valid := false
	for _, k := range s.keys {
		if hmac.Equal(mac, linkMAC(k, body)) {
			valid = true
		}
	}
	if !valid {
		return ClickClaims{}, ErrInvalidToken
	}
	c, ok := parseClick(body)
	if !ok {
		return ClickClaims{}, ErrInvalidToken
	}
	return c, nil
}

// ClickShopHint returns the shop id a click token claims, WITHOUT checking
// its signature: only to choose which known shop's home page an invalid
// link falls back to.
func ClickShopHint(token string) (int64, bool) {
	raw, ok := decodeClick(token)
	if !ok {
		return 0, false
	}
	c, ok := parseClick(raw[:len(raw)-tokenMACSize])
	return c.ShopID, ok
}

func decodeClick(token string) ([]byte, bool) {
	if len(token) == 0 || len(token) > maxClickToken {
		return nil, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) < 2+3+1+tokenMACSize {
		return nil, false
	}
	return raw, true
}

func parseClick(body []byte) (ClickClaims, bool) {
	if body[0] != clickVersion || Purpose(body[1]) != PurposeClick {
		return ClickClaims{}, false
	}
	rest := body[2:]
	var ids [3]int64
	for i := range ids {
		v, n := binary.Uvarint(rest)
		if n <= 0 || v == 0 || v > 1<<62 {
			return ClickClaims{}, false
		}
		ids[i], rest = int64(v), rest[n:]
	}
	target, ok := ClickTarget(string(rest))
	if !ok || target != string(rest) {
		return ClickClaims{}, false
	}
	return ClickClaims{ShopID: ids[0], ContactID: ids[1], MessageID: ids[2], Target: target}, true
}
