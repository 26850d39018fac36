package shop

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/relance/relance/internal/platform/testenv"
	"github.com/relance/relance/internal/shopify"
)

func mustStore(t *testing.T) *Store {
	t.Helper()
	st, err := NewStore(testenv.DB(t), mustKey(t))
	require.NoError(t, err)
	return st
}

func testToken(suffix string) *shopify.Token {
	now := time.Now().UTC()
	return &shopify.Token{
		AccessToken:      "shpat_access_" + suffix,
		Scopes:           []string{"read_orders", "write_customers"},
		ExpiresAt:        now.Add(time.Hour),
		RefreshToken:     "shprt_refresh_" + suffix,
		RefreshExpiresAt: now.Add(90 * 24 * time.Hour),
	}
}

var testInfo = Info{ShopifyID: 42, Name: "Alpha", Email: "owner@alpha.test", Timezone: "Europe/Paris", Currency: "EUR"}

func TestStoreSaveInstall(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := mustStore(t)
	const domain = "alpha.myshopify.com"

	_, err := st.Get(ctx, domain)
	require.ErrorIs(t, err, ErrNotFound)
	_, err = st.Installed(ctx, domain)
	require.ErrorIs(t, err, ErrNotInstalled)

	tok := testToken("1")
	s, err := st.SaveInstall(ctx, domain, tok, testInfo)
	require.NoError(t, err)
	require.Equal(t, domain, s.Domain)
	require.Equal(t, int64(42), *s.ShopifyID)
	require.Equal(t, "Alpha", s.Name)
	require.Equal(t, "Europe/Paris", s.Timezone)
	require.Equal(t, Scopes{"read_orders", "write_customers"}, s.Scopes)
	require.Nil(t, s.UninstalledAt)
	require.True(t, s.Installed())

	got, err := st.Installed(ctx, domain)
	require.NoError(t, err)
	access, err := st.AccessToken(got)
	require.NoError(t, err)
	require.Equal(t, tok.AccessToken, access)
	refresh, err := st.Cipher.Open(domain, got.RefreshTokenEnc)
	require.NoError(t, err)
	require.Equal(t, tok.RefreshToken, refresh)
	require.WithinDuration(t, tok.ExpiresAt, *got.AccessTokenExpiresAt, time.Millisecond)

	// The raw columns hold no plaintext.
	var raw struct{ A, R []byte }
	require.NoError(t, st.DB.Raw(`SELECT access_token_enc AS a, refresh_token_enc AS r FROM shops WHERE domain = ?`, domain).Scan(&raw).Error)
	require.False(t, bytes.Contains(raw.A, []byte(tok.AccessToken)))
	require.False(t, bytes.Contains(raw.R, []byte(tok.RefreshToken)))
}

func TestStoreUninstallAndReinstall(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := mustStore(t)
	const domain = "alpha.myshopify.com"
	clock := time.Now().UTC().Truncate(time.Microsecond)
	st.Now = func() time.Time { return clock }

	first, err := st.SaveInstall(ctx, domain, testToken("1"), testInfo)
	require.NoError(t, err)

	// Uninstall one minute after install.
	clock = clock.Add(time.Minute)
	changed, err := st.MarkUninstalled(ctx, domain, clock)
	require.NoError(t, err)
	require.True(t, changed)
	s, err := st.Get(ctx, domain)
	require.NoError(t, err)
	require.NotNil(t, s.UninstalledAt)
	require.Nil(t, s.AccessTokenEnc)
	require.Nil(t, s.RefreshTokenEnc)
	_, err = st.Installed(ctx, domain)
	require.ErrorIs(t, err, ErrNotInstalled)

	// Reinstall clears uninstalled_at and moves installed_at.
	clock = clock.Add(time.Minute)
	re, err := st.SaveInstall(ctx, domain, testToken("2"), testInfo)
	require.NoError(t, err)
	require.Nil(t, re.UninstalledAt)
	require.Equal(t, first.ID, re.ID)
	require.True(t, re.InstalledAt.After(first.InstalledAt))
	reinstalledAt := clock

	tests := []struct {
		desc        string
		triggeredAt time.Time
		wantChanged bool
	}{
		{desc: "uninstall of the first install delivered late is ignored", triggeredAt: reinstalledAt.Add(-30 * time.Second)},
		{desc: "uninstall after the reinstall applies", triggeredAt: reinstalledAt.Add(time.Second), wantChanged: true},
		{desc: "duplicate delivery changes nothing", triggeredAt: reinstalledAt.Add(time.Second)},
	}
	for _, tt := range tests {
		changed, err := st.MarkUninstalled(ctx, domain, tt.triggeredAt)
		require.NoError(t, err, tt.desc)
		require.Equal(t, tt.wantChanged, changed, tt.desc)
	}

	changed, err = st.MarkUninstalled(ctx, "unknown.myshopify.com", clock)
	require.NoError(t, err)
	require.False(t, changed)
}

func TestStoreUpdateScopes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := mustStore(t)
	const domain = "alpha.myshopify.com"
	installedAt := time.Now().UTC().Truncate(time.Microsecond)
	st.Now = func() time.Time { return installedAt }
	_, err := st.SaveInstall(ctx, domain, testToken("1"), testInfo)
	require.NoError(t, err)

	tests := []struct {
		desc        string
		scopes      []string
		triggeredAt time.Time
		wantChanged bool
		want        Scopes
	}{
		{desc: "older than the install", scopes: []string{"read_orders"}, triggeredAt: installedAt.Add(-time.Minute),
			want: Scopes{"read_orders", "write_customers"}},
		{desc: "newer applies", scopes: []string{"read_orders", "write_customers", "write_discounts"},
			triggeredAt: installedAt.Add(2 * time.Minute), wantChanged: true,
			want: Scopes{"read_orders", "write_customers", "write_discounts"}},
		{desc: "out of order older delivery is ignored", scopes: []string{"read_orders"},
			triggeredAt: installedAt.Add(time.Minute), want: Scopes{"read_orders", "write_customers", "write_discounts"}},
		{desc: "empty scopes", scopes: nil, triggeredAt: installedAt.Add(3 * time.Minute), wantChanged: true, want: Scopes{}},
	}
	for _, tt := range tests {
		changed, err := st.UpdateScopes(ctx, domain, tt.scopes, tt.triggeredAt)
		require.NoError(t, err, tt.desc)
		require.Equal(t, tt.wantChanged, changed, tt.desc)
		s, err := st.Get(ctx, domain)
		require.NoError(t, err)
		require.Equal(t, tt.want, s.Scopes, tt.desc)
	}
}

func TestStoreTokenMovedToAnotherShop(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := mustStore(t)
	_, err := st.SaveInstall(ctx, "alpha.myshopify.com", testToken("a"), testInfo)
	require.NoError(t, err)
	_, err = st.SaveInstall(ctx, "beta.myshopify.com", testToken("b"), testInfo)
	require.NoError(t, err)
	// Someone with database access copies alpha's ciphertext onto beta's row.
	require.NoError(t, st.DB.Exec(`UPDATE shops SET access_token_enc = (SELECT access_token_enc FROM shops WHERE domain = 'alpha.myshopify.com') WHERE domain = 'beta.myshopify.com'`).Error)
	s, err := st.Installed(ctx, "beta.myshopify.com")
	require.NoError(t, err)
	_, err = st.AccessToken(s)
	require.ErrorIs(t, err, ErrDecrypt)
}
