package webhook_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/relance/relance/internal/contact"
	"github.com/relance/relance/internal/shop"
	"github.com/relance/relance/internal/shopify"
	"github.com/relance/relance/internal/shopify/devstore"
	"github.com/relance/relance/internal/webhook"
)

// fixtureCustomerID is the id of webhook_customers_create.json.
const fixtureCustomerID = 706405506930370000

type fixedToken string

func (t fixedToken) AccessToken(context.Context, string) (string, error) { return string(t), nil }
func (t fixedToken) RefreshAccessToken(context.Context, string, string) (string, error) {
	return string(t), nil
}

// consentEnv is newCommerce whose customers/* topics read consent from a
// devstore through the Admin API.
type consentEnv struct {
	*commerceBundle
	ds    *devstore.Server
	admin *shopify.Client
	now   *clock // the devstore's clock: frozen, so a drained bucket stays empty
}

func newConsentEnv(t *testing.T, o devstore.Options) *consentEnv {
	b := newCommerce(t)
	e := &consentEnv{commerceBundle: b, now: &clock{t: ts("2026-03-02T09:00:00Z")}}
	o.APIKey, o.APISecret, o.Now = "key", "secret", e.now.Now
	e.ds = devstore.New(o)
	e.ds.AddShop(b.domain, "Consent shop", "owner@consent.test", "UTC", "EUR")
	tok, err := e.ds.IssueToken(b.domain)
	require.NoError(t, err)
	srv := httptest.NewServer(e.ds)
	t.Cleanup(srv.Close)
	base, err := url.Parse(srv.URL + "/store/{shop}")
	require.NoError(t, err)
	e.admin = &shopify.Client{AdminBase: base, Tokens: fixedToken(tok.AccessToken), HTTP: srv.Client(), MaxRetries: 1,
		Sleep: func(context.Context, time.Duration) error { return nil }, Now: e.now.Now}
	shops, err := shop.NewStore(b.db, make([]byte, 32))
	require.NoError(t, err)
	b.reg = webhook.NewRegistry()
	webhook.RegisterCustomers(b.reg, shops, b.contacts, b.eng, webhook.AdminConsent{Admin: e.admin})
	return e
}

func (e *consentEnv) graphqlCalls() int {
	n := 0
	for _, r := range e.ds.Requests() {
		if strings.HasSuffix(r.Path, "/graphql.json") {
			n++
		}
	}
	return n
}

func createdAt(t *testing.T, at string) []byte {
	return fixture(t, "webhook_customers_create.json", map[string]any{"created_at": at, "updated_at": at})
}

func TestCustomerCreateReadsSubscribedConsent(t *testing.T) {
	e := newConsentEnv(t, devstore.Options{})
	e.ds.SetCustomerConsent(e.domain, fixtureCustomerID, "SUBSCRIBED", ts("2026-03-02T08:59:00Z"))

	e.mustDeliver("customers/create", createdAt(t, "2026-03-02T09:00:00Z"), ts("2026-03-02T09:00:01Z"))
	require.Equal(t, 1, e.graphqlCalls())
	c := e.contact("bob@biller.com")
	require.Equal(t, contact.Subscribed, c.Consent)
	require.Equal(t, ts("2026-03-02T08:59:00Z"), c.ConsentUpdatedAt.UTC(), "ordered by consentUpdatedAt")
	require.Equal(t, []string{"welcome:active:"}, e.flows(c.ID))

	// An update read again: the same consent is not applied twice, welcome
	// is not restarted.
	e.mustDeliver("customers/update", createdAt(t, "2026-03-02T09:05:00Z"), ts("2026-03-02T09:05:00Z"))
	require.Equal(t, 2, e.graphqlCalls())
	require.Equal(t, []string{"welcome:active:"}, e.flows(c.ID))
	e.runUntil(ts("2026-03-02T10:00:00Z"))
	require.Equal(t, []string{"welcome/new/1"}, e.templates())

	// A consent webhook older than the one read is ignored, a newer one wins.
	e.mustDeliver("customers_email_marketing_consent/update", consentAt(t, "unsubscribed", "2026-03-02T08:58:00Z"), ts("2026-03-02T08:58:00Z"))
	require.Equal(t, contact.Subscribed, e.contact("bob@biller.com").Consent)
	e.mustDeliver("customers_email_marketing_consent/update", consentAt(t, "unsubscribed", "2026-03-02T11:00:00Z"), ts("2026-03-02T11:00:00Z"))
	require.Equal(t, []string{"welcome:exited:unsubscribed"}, e.flows(c.ID))
}

func TestCustomerCreateReadsNotSubscribedConsent(t *testing.T) {
	e := newConsentEnv(t, devstore.Options{})
	e.ds.SetCustomerConsent(e.domain, fixtureCustomerID, "NOT_SUBSCRIBED", time.Time{}) // consentUpdatedAt null

	e.mustDeliver("customers/create", createdAt(t, "2026-03-02T09:00:00Z"), ts("2026-03-02T09:00:30Z"))
	require.Equal(t, 1, e.graphqlCalls())
	c := e.contact("bob@biller.com")
	require.Equal(t, contact.NotSubscribed, c.Consent)
	require.NotNil(t, c.ConsentUpdatedAt)
	require.Equal(t, ts("2026-03-02T09:00:30Z"), c.ConsentUpdatedAt.UTC(), "no consentUpdatedAt: the delivery time")
	require.Empty(t, e.flows(c.ID))
}

func TestCustomerCreateConsentReadThrottledIsRetried(t *testing.T) {
	e := newConsentEnv(t, devstore.Options{Bucket: 1, RestoreRate: 1})
	e.ds.SetCustomerConsent(e.domain, fixtureCustomerID, "SUBSCRIBED", ts("2026-03-02T08:59:00Z"))
	// Drain the bucket; the devstore's clock is frozen, so it stays empty.
	require.NoError(t, e.admin.Do(e.ctx, e.domain, `{ shop { name } }`, nil, nil))

	err := e.deliver("customers/create", createdAt(t, "2026-03-02T09:00:00Z"), ts("2026-03-02T09:00:00Z"))
	require.ErrorIs(t, err, shopify.ErrThrottled)
	require.False(t, errors.Is(err, webhook.ErrPermanent), "retried, not dead-lettered")
	_, err = e.contacts.ByEmail(e.ctx, e.shopID, "bob@biller.com")
	require.ErrorIs(t, err, contact.ErrNotFound, "nothing written before the read")

	// The retry, once the bucket has refilled, applies the consent.
	e.now.Set(ts("2026-03-02T09:00:05Z"))
	e.mustDeliver("customers/create", createdAt(t, "2026-03-02T09:00:00Z"), ts("2026-03-02T09:00:00Z"))
	c := e.contact("bob@biller.com")
	require.Equal(t, contact.Subscribed, c.Consent)
	require.Equal(t, []string{"welcome:active:"}, e.flows(c.ID))
}

func TestCustomerCreateConsentReadServerErrorIsRetried(t *testing.T) {
	e := newConsentEnv(t, devstore.Options{})
	e.ds.FailNext("/graphql.json", 503, 2) // MaxRetries 1: both attempts fail
	err := e.deliver("customers/create", createdAt(t, "2026-03-02T09:00:00Z"), ts("2026-03-02T09:00:00Z"))
	var httpErr *shopify.HTTPError
	require.ErrorAs(t, err, &httpErr)
	require.Equal(t, 503, httpErr.Status)
	require.False(t, errors.Is(err, webhook.ErrPermanent))
}

func TestCustomerCreateUnknownCustomerLeavesConsent(t *testing.T) {
	e := newConsentEnv(t, devstore.Options{})
	e.ds.SetCustomerConsent(e.domain, 42, "SUBSCRIBED", ts("2026-03-02T08:59:00Z")) // someone else

	e.mustDeliver("customers/create", createdAt(t, "2026-03-02T09:00:00Z"), ts("2026-03-02T09:00:00Z"))
	require.Equal(t, 1, e.graphqlCalls())
	c := e.contact("bob@biller.com")
	require.Equal(t, contact.NotSubscribed, c.Consent)
	require.Nil(t, c.ConsentUpdatedAt, "no consent change")
	require.Empty(t, e.flows(c.ID))
}

func TestCustomerCreateUnavailableShopSkipsRead(t *testing.T) {
	e := newConsentEnv(t, devstore.Options{})
	e.ds.SetCustomerConsent(e.domain, fixtureCustomerID, "SUBSCRIBED", ts("2026-03-02T08:59:00Z"))
	e.ds.FailNext("/graphql.json", 402, 1) // frozen shop

	e.mustDeliver("customers/create", createdAt(t, "2026-03-02T09:00:00Z"), ts("2026-03-02T09:00:00Z"))
	c := e.contact("bob@biller.com")
	require.Equal(t, "Bob", c.FirstName, "the profile is still recorded")
	require.Equal(t, contact.NotSubscribed, c.Consent)
	require.Empty(t, e.flows(c.ID))
}

func TestCustomerPayloadWithConsentMakesNoAPICall(t *testing.T) {
	e := newConsentEnv(t, devstore.Options{})
	e.ds.SetCustomerConsent(e.domain, fixtureCustomerID, "NOT_SUBSCRIBED", ts("2026-03-02T12:00:00Z"))

	e.mustDeliver("customers/create", fixture(t, "webhook_customers_create_2024-10.json", map[string]any{"email": "bob@biller.com",
		"updated_at": "2026-03-02T09:00:00Z", "email_marketing_consent": map[string]any{"state": "subscribed", "consent_updated_at": "2026-03-02T09:00:00Z"}}),
		ts("2026-03-02T09:00:00Z"))
	require.Zero(t, e.graphqlCalls())
	c := e.contact("bob@biller.com")
	require.Equal(t, contact.Subscribed, c.Consent)
	require.Equal(t, []string{"welcome:active:"}, e.flows(c.ID))
}
