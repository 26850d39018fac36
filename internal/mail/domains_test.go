package mail

import (
	"context"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/relance/relance/internal/mail/resendtest"
	"github.com/relance/relance/internal/platform/testenv"
)

func TestSendingDomainLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.DB(t)
	fake := resendtest.New(t, resendtest.Options{RateLimit: -1})
	u, err := url.Parse(fake.URL)
	require.NoError(t, err)
	d := NewDomains(DomainsOptions{DB: db, APIKey: fake.APIKey(), BaseURL: u})
	shopA := newShop(t, db, "a.myshopify.com")
	shopB := newShop(t, db, "b.myshopify.com")
	const appFrom = "hello@relance.example"

	from, err := FromAddress(ctx, db, shopA, appFrom)
	require.NoError(t, err)
	require.Equal(t, appFrom, from, "no domain: the app's address")

	got, err := d.Add(ctx, shopA, " Mail.Maison.Example. ")
	require.NoError(t, err)
	require.Equal(t, "mail.maison.example", got.Domain)
	require.Equal(t, DomainPending, got.Status, "verification started at once")
	require.False(t, got.Verified())
	require.Len(t, got.Records, 3)
	require.Equal(t, "MX", got.Records[0].Type)
	require.NotNil(t, got.Records[0].Priority)
	require.Equal(t, 10, *got.Records[0].Priority)
	require.Equal(t, "resend._domainkey", got.Records[2].Name)
	require.NotEmpty(t, got.ResendID)
	require.Len(t, fake.Domains(), 1)

	// Idempotent; one domain per shop; one shop per domain.
	again, err := d.Add(ctx, shopA, "mail.maison.example")
	require.NoError(t, err)
	require.Equal(t, got.ResendID, again.ResendID)
	require.Len(t, fake.Domains(), 1, "not created twice")
	_, err = d.Add(ctx, shopA, "other.example")
	require.ErrorIs(t, err, ErrDomainExists)
	_, err = d.Add(ctx, shopB, "mail.maison.example")
	require.ErrorIs(t, err, ErrDomainTaken)
	_, err = d.Refresh(ctx, shopB)
	require.ErrorIs(t, err, ErrNotFound, "B has no domain, and cannot reach A's")

	// Records not published yet: still pending, From unchanged.
	got, err = d.Refresh(ctx, shopA)
	require.NoError(t, err)
	require.Equal(t, DomainPending, got.Status)
	from, err = FromAddress(ctx, db, shopA, appFrom)
	require.NoError(t, err)
	require.Equal(t, appFrom, from, "pending: still the app's address")

	fake.PublishDNS("mail.maison.example")
	got, err = d.Refresh(ctx, shopA)
	require.NoError(t, err)
	require.Equal(t, DomainVerified, got.Status)
	require.NotNil(t, got.VerifiedAt)
	require.Equal(t, "verified", got.Records[0].Status)
	from, err = FromAddress(ctx, db, shopA, appFrom)
	require.NoError(t, err)
	require.Equal(t, "hello@mail.maison.example", from)
	from, err = FromAddress(ctx, db, shopB, appFrom)
	require.NoError(t, err)
	require.Equal(t, appFrom, from, "B keeps the app's address")

	// Verified: Refresh reads, and does not ask Resend to verify again.
	calls := fake.Domains()[0].VerifyCalls
	_, err = d.Refresh(ctx, shopA)
	require.NoError(t, err)
	require.Equal(t, calls, fake.Domains()[0].VerifyCalls)
}

func TestSendingDomainAdoptsExistingAndRejects(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.DB(t)
	fake := resendtest.New(t, resendtest.Options{})
	u, err := url.Parse(fake.URL)
	require.NoError(t, err)
	d := NewDomains(DomainsOptions{DB: db, APIKey: fake.APIKey(), BaseURL: u})
	shop := newShop(t, db, "a.myshopify.com")

	// A domain already in the Resend account (an earlier Add that stored
	// nothing) is adopted, not an error.
	other := NewDomains(DomainsOptions{DB: testenv.DB(t), APIKey: fake.APIKey(), BaseURL: u})
	_, err = other.Add(ctx, newShop(t, other.db, "x.myshopify.com"), "news.maison.example")
	require.NoError(t, err)
	got, err := d.Add(ctx, shop, "news.maison.example")
	require.NoError(t, err)
	require.Equal(t, fake.Domains()[0].ID, got.ResendID)
	require.Len(t, fake.Domains(), 1)

	// Resend's refusal is a DomainRejectedError; 5xx is unavailable.
	shop2 := newShop(t, db, "c.myshopify.com")
	_, err = d.Add(ctx, shop2, "localhost")
	var rej *DomainRejectedError
	require.ErrorAs(t, err, &rej)
	fake.FailNext(503, 503, 503, 503)
	_, err = d.Add(ctx, shop2, "shop2.example")
	require.ErrorIs(t, err, ErrResendUnavailable)
	_, err = d.Get(ctx, shop2)
	require.ErrorIs(t, err, ErrNotFound, "nothing stored")
	got, err = d.Add(ctx, shop2, "shop2.example")
	require.NoError(t, err)
	require.Equal(t, DomainPending, got.Status)

	// Without an API key (the outbox): a clear refusal.
	dev := NewDomains(DomainsOptions{DB: db})
	require.False(t, dev.Available())
	_, err = dev.Add(ctx, newShop(t, db, "d.myshopify.com"), "dev.example")
	require.ErrorIs(t, err, ErrNeedsResend)
}

func TestNormalizeDomain(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bool{"mail.shop.com": true, "Shop.FR.": true, "xn--caf-dma.fr": true, "a-b.co.uk": true,
		"localhost": false, "1.2.3.4": false, "-a.com": false, "a..com": false, "café.fr": false, "a_b.com": false, "": false,
		"shop.com/x": false, "user@shop.com": false} {
		_, ok := NormalizeDomain(in)
		require.Equal(t, want, ok, in)
	}
}
