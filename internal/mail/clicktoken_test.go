package mail

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestClickToken(t *testing.T) {
	s, err := NewLinkSigner("secret")
	require.NoError(t, err)
	c := ClickClaims{ShopID: 7, ContactID: 42, MessageID: 1234567, Target: "/products/chemise?variant=1&x=é"}
	tok := s.SignClick(c)
	got, err := s.VerifyClick(tok)
	require.NoError(t, err)
	require.Equal(t, c, got)
	shop, ok := ClickShopHint(tok)
	require.True(t, ok)
	require.Equal(t, int64(7), shop)

	// Tampering with any byte breaks it; other purposes are refused both ways.
	raw := []byte(tok)
	raw[10] ^= 1
	_, err = s.VerifyClick(string(raw))
	require.ErrorIs(t, err, ErrInvalidToken)
	_, err = s.Verify(tok, PurposeClick)
	require.ErrorIs(t, err, ErrInvalidToken, "a click token is not a shopper link")
	_, err = s.VerifyClick(s.Sign(LinkClaims{Purpose: PurposeIdentify, ShopID: 7, ContactID: 42}))
	require.ErrorIs(t, err, ErrInvalidToken, "a shopper link is not a click token")
	other, _ := NewLinkSigner("other")
	_, err = other.VerifyClick(tok)
	require.ErrorIs(t, err, ErrInvalidToken)
	_, err = s.VerifyClick(strings.Repeat("A", 5000))
	require.ErrorIs(t, err, ErrInvalidToken)

	// Rotation: a link signed before keeps working.
	rotated, _ := NewLinkSigner("new", "secret")
	_, err = rotated.VerifyClick(tok)
	require.NoError(t, err)
}

func TestClickTarget(t *testing.T) {
	for _, bad := range []string{"//evil.com", "/\\evil.com", "\\\\evil.com", "https://evil.com", "evil.com", "/a\nb", "/a\\b",
		"/" + strings.Repeat("a", MaxClickTarget)} {
		_, ok := ClickTarget(bad)
		require.False(t, ok, bad)
		require.Panics(t, func() {
			s, _ := NewLinkSigner("secret")
			s.SignClick(ClickClaims{ShopID: 1, ContactID: 1, MessageID: 1, Target: bad})
		}, bad)
	}
	for in, want := range map[string]string{"": "/", "/": "/", "/cart?x=1#top": "/cart?x=1", "/%2F%2Fevil.com": "/%2F%2Fevil.com"} {
		got, ok := ClickTarget(in)
		require.True(t, ok, in)
		require.Equal(t, want, got)
	}
}
