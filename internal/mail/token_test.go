package mail

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestShopperLinkRoundTrip(t *testing.T) {
	t.Parallel()
	s, err := NewLinkSigner("app-secret")
	require.NoError(t, err)
	for _, c := range []LinkClaims{
		{Purpose: PurposeUnsubscribe, ShopID: 1, ContactID: 2},
		{Purpose: PurposeNotInterested, ShopID: 1 << 40, ContactID: 1<<62 - 1, EnrollmentID: 987654321},
	} {
		tok := s.Sign(c)
		require.LessOrEqual(t, len(tok), maxTokenLen)
		require.NotContains(t, tok, "=", "no padding")
		require.NotContainsf(t, tok, "/", "url-safe")
		got, err := s.Verify(tok, c.Purpose)
		require.NoError(t, err)
		require.Equal(t, c, got)
	}
	// Compact: an unsubscribe link is well under 60 characters.
	require.Less(t, len(s.Sign(LinkClaims{Purpose: PurposeUnsubscribe, ShopID: 123456, ContactID: 987654321})), 40)
}

func TestShopperLinkRejects(t *testing.T) {
	t.Parallel()
	s, _ := NewLinkSigner("app-secret")
	claims := LinkClaims{Purpose: PurposeUnsubscribe, ShopID: 7, ContactID: 42}
	tok := s.Sign(claims)

	// Wrong purpose: an unsubscribe link is not a "not interested" link.
	_, err := s.Verify(tok, PurposeNotInterested)
	require.ErrorIs(t, err, ErrInvalidToken)
	notInterested := s.Sign(LinkClaims{Purpose: PurposeNotInterested, ShopID: 7, ContactID: 42, EnrollmentID: 3})
	_, err = s.Verify(notInterested, PurposeUnsubscribe)
	require.ErrorIs(t, err, ErrInvalidToken)

	// Wrong shop: changing the shop id inside the token breaks the MAC.
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	require.NoError(t, err)
	require.Equal(t, byte(7), raw[2])
	raw[2] = 8
	_, err = s.Verify(base64.RawURLEncoding.EncodeToString(raw), PurposeUnsubscribe)
	require.ErrorIs(t, err, ErrInvalidToken)

	// Every single-bit flip anywhere is refused.
	raw, _ = base64.RawURLEncoding.DecodeString(tok)
	for i := range raw {
		for bit := 0; bit < 8; bit++ {
			b := append([]byte(nil), raw...)
			b[i] ^= 1 << bit
			_, err := s.Verify(base64.RawURLEncoding.EncodeToString(b), PurposeUnsubscribe)
			require.ErrorIs(t, err, ErrInvalidToken, "byte %d bit %d", i, bit)
		}
	}

	// Another app (another secret) cannot mint links for ours.
	other, _ := NewLinkSigner("other-secret")
	_, err = s.Verify(other.Sign(claims), PurposeUnsubscribe)
	require.ErrorIs(t, err, ErrInvalidToken)

	// Garbage, truncation, padding, oversize.
	for _, bad := range []string{"", "x", "!!!!", tok[:len(tok)-1], tok + "A", tok + "==", strings.Repeat("A", 200), "../../etc/passwd"} {
		_, err := s.Verify(bad, PurposeUnsubscribe)
		require.ErrorIs(t, err, ErrInvalidToken, "%q", bad)
	}
}

func TestShopperLinkSurvivesSecretRotation(t *testing.T) {
	t.Parallel()
	old, _ := NewLinkSigner("old-secret")
	tok := old.Sign(LinkClaims{Purpose: PurposeUnsubscribe, ShopID: 1, ContactID: 1})
	rotated, err := NewLinkSigner("new-secret", "old-secret")
	require.NoError(t, err)
	_, err = rotated.Verify(tok, PurposeUnsubscribe)
	require.NoError(t, err, "links already sent keep working during a rotation")
	fresh, _ := NewLinkSigner("new-secret")
	_, err = fresh.Verify(tok, PurposeUnsubscribe)
	require.ErrorIs(t, err, ErrInvalidToken)
	// The key is derived, never the raw secret.
	require.NotEqual(t, []byte("new-secret"), fresh.keys[0])
}
