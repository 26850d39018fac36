package shop

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/relance/relance/internal/platform"
	"github.com/relance/relance/internal/platform/testenv"
	"github.com/relance/relance/internal/shopify"
	"github.com/relance/relance/internal/shopify/devstore"
)

const (
	testAPIKey    = "relance-test-key"
	testAPISecret = "relance-test-secret"
	testShop      = "alpha.myshopify.com"
)

type tokensBundle struct {
	dev       *devstore.Server
	adminBase *url.URL
	refreshes *atomic.Int64 // refresh grants that reached the stand-in
	dbURL     string
	key       []byte
	store     *Store
	tokens    *Tokens
}

// setupTokens starts a stand-in Shopify with one shop and a fresh database
// holding that shop's install, done with a real token from the stand-in.
func setupTokens(t *testing.T, o devstore.Options) *tokensBundle {
	t.Helper()
	o.APIKey, o.APISecret = testAPIKey, testAPISecret
	dev := devstore.New(o)
	dev.AddShop(testShop, "Alpha", "owner@alpha.test", "Europe/Paris", "EUR")
	refreshes := &atomic.Int64{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.Body != nil {
			body, _ := io.ReadAll(r.Body)
			if bytes.Contains(body, []byte(`"grant_type":"refresh_token"`)) {
				refreshes.Add(1)
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		dev.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	base, err := url.Parse(srv.URL + "/store/{shop}")
	require.NoError(t, err)

	b := &tokensBundle{dev: dev, adminBase: base, refreshes: refreshes, dbURL: testenv.DatabaseURL(t), key: mustKey(t)}
	b.store, b.tokens = b.process(t)
	tok, err := dev.IssueToken(testShop)
	require.NoError(t, err)
	_, err = b.store.SaveInstall(context.Background(), testShop, tok, testInfo)
	require.NoError(t, err)
	return b
}

// process builds what one relance process has: its own connection pool,
// Store and Tokens.
func (b *tokensBundle) process(t *testing.T) (*Store, *Tokens) {
	t.Helper()
	db, err := platform.OpenDB(context.Background(), b.dbURL)
	require.NoError(t, err)
	t.Cleanup(func() { _ = platform.CloseDB(db) })
	st, err := NewStore(db, b.key)
	require.NoError(t, err)
	oauth := &shopify.OAuth{APIKey: testAPIKey, Secrets: shopify.Secrets{Current: testAPISecret}, AdminBase: b.adminBase}
	return st, NewTokens(st, oauth)
}

func (b *tokensBundle) stored(t *testing.T) (access, refresh string, s *Shop) {
	t.Helper()
	s, err := b.store.Get(context.Background(), testShop)
	require.NoError(t, err)
	if len(s.AccessTokenEnc) > 0 {
		access, err = b.store.Cipher.Open(testShop, s.AccessTokenEnc)
		require.NoError(t, err)
	}
	if len(s.RefreshTokenEnc) > 0 {
		refresh, err = b.store.Cipher.Open(testShop, s.RefreshTokenEnc)
		require.NoError(t, err)
	}
	return access, refresh, s
}

func TestTokensConcurrentRefreshCallsShopifyOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupTokens(t, devstore.Options{})
	_, otherTokens := b.process(t) // a second "process" on the same database
	oldAccess, oldRefresh, _ := b.stored(t)

	const n = 20
	got := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		src := b.tokens
		if i%2 == 1 {
			src = otherTokens
		}
		wg.Go(func() {
			<-start
			got[i], errs[i] = src.RefreshAccessToken(ctx, testShop, oldAccess)
		})
	}
	close(start)
	wg.Wait()

	require.Equal(t, int64(1), b.refreshes.Load(), "Shopify's refresh endpoint must be called exactly once")
	newAccess, newRefresh, _ := b.stored(t)
	require.NotEqual(t, oldAccess, newAccess)
	require.NotEqual(t, oldRefresh, newRefresh, "the rotated refresh token must be stored")
	for i := range n {
		require.NoError(t, errs[i])
		require.Equal(t, newAccess, got[i])
	}

	// The stored pair is live: the new access token reads the shop, and the
	// rotated refresh token refreshes again.
	client := &shopify.Client{AdminBase: b.adminBase, Tokens: b.tokens}
	info, err := FetchInfo(ctx, client, testShop)
	require.NoError(t, err)
	require.Equal(t, "Alpha", info.Name)
	again, err := b.tokens.RefreshAccessToken(ctx, testShop, newAccess)
	require.NoError(t, err)
	require.NotEqual(t, newAccess, again)
	require.Equal(t, int64(2), b.refreshes.Load())
}

func TestTokensAccessToken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("fresh token is returned as is", func(t *testing.T) {
		t.Parallel()
		b := setupTokens(t, devstore.Options{})
		access, _, _ := b.stored(t)
		got, err := b.tokens.AccessToken(ctx, testShop)
		require.NoError(t, err)
		require.Equal(t, access, got)
		require.Zero(t, b.refreshes.Load())
	})

	t.Run("token expiring within five minutes is refreshed first", func(t *testing.T) {
		t.Parallel()
		b := setupTokens(t, devstore.Options{AccessTokenTTL: 2 * time.Minute})
		oldAccess, oldRefresh, _ := b.stored(t)
		got, err := b.tokens.AccessToken(ctx, testShop)
		require.NoError(t, err)
		require.NotEqual(t, oldAccess, got)
		require.Equal(t, int64(1), b.refreshes.Load())
		access, refresh, s := b.stored(t)
		require.Equal(t, got, access)
		require.NotEqual(t, oldRefresh, refresh)
		require.WithinDuration(t, time.Now().Add(2*time.Minute), *s.AccessTokenExpiresAt, 10*time.Second)
	})

	t.Run("revoked token is refreshed through the Admin API client", func(t *testing.T) {
		t.Parallel()
		b := setupTokens(t, devstore.Options{})
		oldAccess, _, _ := b.stored(t)
		b.dev.RevokeAccessTokens(testShop)
		client := &shopify.Client{AdminBase: b.adminBase, Tokens: b.tokens}
		info, err := FetchInfo(ctx, client, testShop)
		require.NoError(t, err)
		require.Equal(t, int64(1), info.ShopifyID)
		require.Equal(t, int64(1), b.refreshes.Load())
		access, _, _ := b.stored(t)
		require.NotEqual(t, oldAccess, access)
	})

	t.Run("not installed", func(t *testing.T) {
		t.Parallel()
		b := setupTokens(t, devstore.Options{})
		_, err := b.store.MarkUninstalled(ctx, testShop, time.Now().Add(time.Second))
		require.NoError(t, err)
		_, err = b.tokens.AccessToken(ctx, testShop)
		require.ErrorIs(t, err, ErrNotInstalled)
		_, err = b.tokens.RefreshAccessToken(ctx, testShop, "whatever")
		require.ErrorIs(t, err, ErrNotInstalled)
	})
}

func TestTokensStoredTokenAlreadyReplaced(t *testing.T) {
	t.Parallel()
	b := setupTokens(t, devstore.Options{})
	access, _, _ := b.stored(t)
	got, err := b.tokens.RefreshAccessToken(context.Background(), testShop, "shpat_an_older_token")
	require.NoError(t, err)
	require.Equal(t, access, got)
	require.Zero(t, b.refreshes.Load())
}

func TestTokensReauthorize(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		desc          string
		spoil         func(t *testing.T, b *tokensBundle)
		wantRefreshes int64
	}{
		{
			desc: "refresh token refused by Shopify",
			spoil: func(t *testing.T, b *tokensBundle) {
				bogus, err := b.store.Cipher.Seal(testShop, "shprt_unknown")
				require.NoError(t, err)
				require.NoError(t, b.store.DB.Exec(`UPDATE shops SET refresh_token_enc = ? WHERE domain = ?`, bogus, testShop).Error)
			},
			wantRefreshes: 1,
		},
		{
			desc: "refresh token expired",
			spoil: func(t *testing.T, b *tokensBundle) {
				require.NoError(t, b.store.DB.Exec(`UPDATE shops SET refresh_token_expires_at = now() - interval '1 minute' WHERE domain = ?`, testShop).Error)
			},
		},
		{
			desc: "no refresh token (legacy token refused)",
			spoil: func(t *testing.T, b *tokensBundle) {
				require.NoError(t, b.store.DB.Exec(`UPDATE shops SET refresh_token_enc = NULL, refresh_token_expires_at = NULL WHERE domain = ?`, testShop).Error)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			t.Parallel()
			b := setupTokens(t, devstore.Options{})
			access, _, _ := b.stored(t)
			tt.spoil(t, b)
			_, err := b.tokens.RefreshAccessToken(ctx, testShop, access)
			require.ErrorIs(t, err, ErrReauthorize)
			require.Equal(t, tt.wantRefreshes, b.refreshes.Load())
			_, _, s := b.stored(t)
			require.Nil(t, s.AccessTokenEnc)
			require.Nil(t, s.RefreshTokenEnc)
			require.Nil(t, s.UninstalledAt, "a lost grant is not an uninstall")
			_, err = b.store.Installed(ctx, testShop)
			require.ErrorIs(t, err, ErrNotInstalled)
		})
	}
}
