package pixel_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/relance/relance/internal/pixel"
	"github.com/relance/relance/internal/platform/testenv"
	"github.com/relance/relance/internal/shop"
	"github.com/relance/relance/internal/shopify"
	"github.com/relance/relance/internal/shopify/devstore"
)

// standIn is the Shopify stand-in with shops whose tokens the client gets
// straight from it.
type standIn struct {
	store  *devstore.Server
	client *shopify.Client
	mu     sync.Mutex
	tokens map[string]string
}

func (s *standIn) AccessToken(_ context.Context, shop string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if tok, ok := s.tokens[shop]; ok {
		return tok, nil
	}
	tok, err := s.store.IssueToken(shop)
	if err != nil {
		return "", err
	}
	s.tokens[shop] = tok.AccessToken
	return tok.AccessToken, nil
}

func (s *standIn) RefreshAccessToken(context.Context, string, string) (string, error) {
	return "", errors.New("no refresh in these tests")
}

func newStandIn(t *testing.T) *standIn {
	t.Helper()
	s := &standIn{store: devstore.New(devstore.Options{}), tokens: map[string]string{}}
	srv := httptest.NewServer(s.store)
	t.Cleanup(srv.Close)
	base, err := url.Parse(srv.URL + "/store/{shop}")
	require.NoError(t, err)
	s.client = &shopify.Client{AdminBase: base, Tokens: s, Sleep: func(context.Context, time.Duration) error { return nil }}
	return s
}

func (s *standIn) addShop(domain string) *shop.Shop {
	s.store.AddShop(domain, "Shop", "o@"+domain, "UTC", "EUR")
	return &shop.Shop{ID: 1, Domain: domain, AccessTokenEnc: []byte("x")}
}

const appURL = "https://relance.example"

func TestEnsureCreatesThenLeavesAlone(t *testing.T) {
	t.Parallel()
	s := newStandIn(t)
	sh := s.addShop("px-create.myshopify.com")
	a := pixel.NewActivator(s.client, appURL+"/", nil)
	ctx := context.Background()

	require.NoError(t, a.Ensure(ctx, sh))
	px, ok := s.store.WebPixel(sh.Domain)
	require.True(t, ok)
	require.Equal(t, map[string]string{"accountID": sh.Domain, "appUrl": appURL}, px.Settings)

	require.NoError(t, a.Ensure(ctx, sh), "already present with the right settings")
	again, _ := s.store.WebPixel(sh.Domain)
	require.Equal(t, px.ID, again.ID)
	require.Zero(t, again.Updates)

	// A shop that is not installed is left alone.
	other := s.addShop("px-gone.myshopify.com")
	other.AccessTokenEnc = nil
	require.NoError(t, a.Ensure(ctx, other))
	_, ok = s.store.WebPixel(other.Domain)
	require.False(t, ok)
}

func TestEnsureRepairsDriftAndRecreates(t *testing.T) {
	t.Parallel()
	s := newStandIn(t)
	sh := s.addShop("px-drift.myshopify.com")
	id := s.store.SetWebPixel(sh.Domain, map[string]string{"accountID": sh.Domain, "appUrl": "https://old.example"})
	a := pixel.NewActivator(s.client, appURL, nil)
	ctx := context.Background()

	require.NoError(t, a.Ensure(ctx, sh))
	px, _ := s.store.WebPixel(sh.Domain)
	require.Equal(t, id, px.ID, "updated in place")
	require.Equal(t, 1, px.Updates)
	require.Equal(t, appURL, px.Settings["appUrl"])

	// Disconnected by the merchant: created again.
	require.True(t, s.store.DeleteWebPixel(sh.Domain))
	require.NoError(t, a.Ensure(ctx, sh))
	px, ok := s.store.WebPixel(sh.Domain)
	require.True(t, ok)
	require.NotEqual(t, id, px.ID)
}

// hideFirstQuery makes the first webPixel query miss the pixel, as a race
// with another replica creating it would.
type hideFirstQuery struct {
	pixel.Admin
	hidden bool
}

func (h *hideFirstQuery) Do(ctx context.Context, shop, query string, vars map[string]any, out any) error {
	if !h.hidden && strings.Contains(query, "query WebPixel") {
		h.hidden = true
		return &shopify.GraphQLError{Messages: []string{"No web pixel was found for this app."}, Codes: []string{""}}
	}
	return h.Admin.Do(ctx, shop, query, vars, out)
}

func TestEnsureTakenIsPresent(t *testing.T) {
	t.Parallel()
	s := newStandIn(t)
	sh := s.addShop("px-taken.myshopify.com")
	id := s.store.SetWebPixel(sh.Domain, map[string]string{"accountID": "someone-else.myshopify.com", "appUrl": appURL})
	a := pixel.NewActivator(&hideFirstQuery{Admin: s.client}, appURL, nil)
	require.NoError(t, a.Ensure(context.Background(), sh))
	px, _ := s.store.WebPixel(sh.Domain)
	require.Equal(t, id, px.ID)
	require.Equal(t, sh.Domain, px.Settings["accountID"], "TAKEN, then compared and updated")
}

func TestEnsureSurfacesErrors(t *testing.T) {
	t.Parallel()
	s := newStandIn(t)
	sh := s.addShop("px-bad.myshopify.com")
	ctx := context.Background()

	// An empty app URL fails the extension's settings validation.
	err := pixel.NewActivator(s.client, "", nil).Ensure(ctx, sh)
	var ue shopify.UserErrors
	require.ErrorAs(t, err, &ue)
	require.Equal(t, "INVALID_SETTINGS", ue[0].Code)
	_, ok := s.store.WebPixel(sh.Domain)
	require.False(t, ok)

	// userErrors of an update too.
	id := s.store.SetWebPixel(sh.Domain, map[string]string{"accountID": sh.Domain, "appUrl": "https://old.example"})
	err = pixel.NewActivator(s.client, "", nil).Ensure(ctx, sh)
	require.ErrorAs(t, err, &ue)
	require.Contains(t, err.Error(), "webPixelUpdate")
	px, _ := s.store.WebPixel(sh.Domain)
	require.Equal(t, id, px.ID)

	// Other GraphQL errors (e.g. a missing scope) are not "no pixel".
	s.store.HandleGraphQL("webPixel", 1, func(string, map[string]any) (any, error) {
		return nil, errors.New("Access denied for webPixel field. Required access: `read_pixels` access scope.")
	})
	require.True(t, s.store.DeleteWebPixel(sh.Domain))
	err = pixel.NewActivator(s.client, appURL, nil).Ensure(ctx, sh)
	var gqlErr *shopify.GraphQLError
	require.ErrorAs(t, err, &gqlErr)
	_, ok = s.store.WebPixel(sh.Domain)
	require.False(t, ok, "nothing created on an unknown error")
}

func TestEnsureAllPagesOverInstalledShops(t *testing.T) {
	t.Parallel()
	db := testenv.DB(t)
	s := newStandIn(t)
	prefix := fmt.Sprintf("pxall-%d", time.Now().UnixNano()%1e9)
	var domains []string
	for i := range 5 {
		d := fmt.Sprintf("%s-%d.myshopify.com", prefix, i)
		s.store.AddShop(d, "Shop", "o@"+d, "UTC", "EUR")
		domains = append(domains, d)
		require.NoError(t, db.Exec(`INSERT INTO shops (domain, name, access_token_enc) VALUES (?, 'Shop', '\x01')`, d).Error)
	}
	require.NoError(t, db.Exec(`UPDATE shops SET uninstalled_at = now() WHERE domain = ?`, domains[4]).Error)
	s.store.SetWebPixel(domains[1], map[string]string{"accountID": domains[1], "appUrl": appURL})
	s.store.SetWebPixel(domains[2], map[string]string{"accountID": domains[2], "appUrl": "https://old.example"})
	// One shop whose calls fail does not stop the others.
	s.store.FailNext("/store/"+domains[3]+"/admin/api/"+shopify.APIVersion+"/graphql.json", 403, 100)

	a := pixel.NewActivator(s.client, appURL, db)
	res, err := a.EnsureAll(context.Background(), 2)
	require.NoError(t, err)
	require.Equal(t, pixel.EnsureResult{Checked: 4, Created: 1, Updated: 1, Failed: 1}, res)
	for _, d := range domains[:3] {
		px, ok := s.store.WebPixel(d)
		require.True(t, ok, d)
		require.Equal(t, appURL, px.Settings["appUrl"])
	}
	_, ok := s.store.WebPixel(domains[4])
	require.False(t, ok, "uninstalled shops are skipped")

	res, err = a.EnsureAll(context.Background(), 2)
	require.NoError(t, err)
	require.Equal(t, 0, res.Created+res.Updated, "idempotent")
}
