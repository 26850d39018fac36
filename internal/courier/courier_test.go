package courier

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/relance/relance/internal/contact"
	"github.com/relance/relance/internal/flow"
	"github.com/relance/relance/internal/journey"
	"github.com/relance/relance/internal/mail"
	"github.com/relance/relance/internal/platform/testenv"
)

type fakeSender struct {
	sent []*mail.Message
	err  error
}

func (f *fakeSender) Send(_ context.Context, m *mail.Message) (string, error) {
	if f.err != nil {
		return "", f.err
	}
	f.sent = append(f.sent, m)
	return "id", nil
}

type fixture struct {
	db      *gorm.DB
	c       *Courier
	sender  *fakeSender
	links   *mail.LinkSigner
	shopID  int64
	contact *contact.Contact
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	db := testenv.DB(t)
	f := &fixture{db: db, sender: &fakeSender{}}
	require.NoError(t, db.Raw(`INSERT INTO shops (domain, name, email, timezone, currency)
		VALUES ('maison.myshopify.com', 'Maison & Co', 'claire@maison.example', 'Europe/Paris', 'EUR') RETURNING id`).Scan(&f.shopID).Error)
	flows := flow.NewStore(db)
	require.NoError(t, flows.EnsureDefaults(ctx, f.shopID))
	contacts := contact.NewStore(db)
	var err error
	f.contact, err = contacts.Upsert(ctx, f.shopID, contact.Profile{Email: "lea@example.org", FirstName: "Léa", Locale: "fr"})
	require.NoError(t, err)
	act := journey.ActivityData{Items: 3, Total: "64.00", Lines: []journey.ActivityLine{
		{Title: "Chemise en lin", Variant: "M", Quantity: 2, Price: "25.00"}, {Title: "Tote", Quantity: 1, Price: "14.00"}}}
	_, _, err = contacts.Touch(ctx, f.shopID, contact.Checkout, "tok-1", time.Now(), act.Encode())
	require.NoError(t, err)
	f.links, err = mail.NewLinkSigner("secret")
	require.NoError(t, err)
	app, _ := url.Parse("https://app.relance.example")
	f.c, err = New(Options{DB: db, Flows: flows, Contacts: contacts, Sender: f.sender, Links: f.links, AppURL: app, FromEmail: "hello@relance.example"})
	require.NoError(t, err)
	return f
}

func (f *fixture) message(key flow.Key, template string) journey.Message {
	return journey.Message{ID: 10, ShopID: f.shopID, ContactID: f.contact.ID, EnrollmentID: 77, To: "lea@example.org", FirstName: "Léa",
		Locale: "fr-FR", Flow: key, FlowVersion: 1, Step: "reminder-1", Template: template, Class: flow.Transactional,
		Context: map[string]string{"checkout_token": "tok-1", "recovery_url": "https://maison.example/recover?k=1", "total_price": "64.00",
			"currency": "EUR"}}
}

func TestCheckoutReminder(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	require.NoError(t, f.c.Send(context.Background(), f.message(flow.Checkout, "checkout/1")))
	require.Len(t, f.sender.sent, 1)
	m := f.sender.sent[0]
	require.Equal(t, int64(10), m.ID, "the engine's message id is the idempotency key")
	require.Equal(t, "Maison & Co", m.FromName)
	require.Equal(t, "hello@relance.example", m.FromEmail)
	require.Equal(t, "claire@maison.example", m.ReplyTo)
	require.Equal(t, "lea@example.org", m.To)
	require.Equal(t, "checkout_abandonment", m.Flow)
	require.True(t, strings.HasPrefix(m.UnsubscribeURL, "https://app.relance.example/u/"))
	claims, err := f.links.Verify(strings.TrimPrefix(m.UnsubscribeURL, "https://app.relance.example/u/"), mail.PurposeUnsubscribe)
	require.NoError(t, err)
	require.Equal(t, mail.LinkClaims{Purpose: mail.PurposeUnsubscribe, ShopID: f.shopID, ContactID: f.contact.ID}, claims)

	html := m.Content.HTML
	require.Contains(t, html, `lang="fr"`, "the shopper's language")
	require.Contains(t, html, "Chemise en lin")
	// Store links go through /r/:token (tracked click), the unsubscribe link does not.
	require.NotContains(t, html, "https://maison.example/recover?k=1")
	require.Contains(t, html, trackedURL(f.c.o.AppURL, f.links.SignClick(mail.ClickClaims{ShopID: f.shopID, ContactID: f.contact.ID,
		MessageID: 10, Target: "/recover?k=1"})), "the recovery link, tracked")
	require.Contains(t, html, trackedURL(f.c.o.AppURL, f.links.SignClick(mail.ClickClaims{ShopID: f.shopID, ContactID: f.contact.ID,
		MessageID: 10, Target: "/"})), "the shop link, tracked")
	require.Contains(t, m.Content.Text, "https://app.relance.example/r/", "the text part carries the same tracked links")
	require.NotContains(t, m.Content.Text, "https://maison.example/recover")
	require.Contains(t, html, m.UnsubscribeURL)
	prefs := ShopperLinkURL(f.c.o.AppURL, f.links.Sign(mail.LinkClaims{Purpose: mail.PurposePreferences, ShopID: f.shopID, ContactID: f.contact.ID}))
	require.Contains(t, html, prefs, "the footer's preferences link")
	require.Contains(t, m.Content.Text, prefs)
	require.NotEqual(t, m.UnsubscribeURL, prefs, "a link of its own purpose: no one-click unsubscribe")
	require.NotContains(t, html, "/u/"+f.links.Sign(mail.LinkClaims{Purpose: mail.PurposeNotInterested, ShopID: f.shopID,
		ContactID: f.contact.ID, EnrollmentID: 77}), "checkout abandonment cannot be left from an email")
}

func TestCartReminderHasNotInterestedLink(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	// cart/1 may not have a default yet: any existing template shows the links.
	msg := f.message(flow.Cart, "checkout/1")
	require.NoError(t, f.c.Send(context.Background(), msg))
	want := ShopperLinkURL(f.c.o.AppURL, f.links.Sign(mail.LinkClaims{Purpose: mail.PurposeNotInterested, ShopID: f.shopID,
		ContactID: f.contact.ID, EnrollmentID: 77}))
	require.Contains(t, f.sender.sent[0].Content.HTML, want)
	require.Contains(t, f.sender.sent[0].Content.Text, want)
}

func TestUndeliverable(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()

	err := f.c.Send(ctx, f.message(flow.Checkout, "no/such/template"))
	require.ErrorIs(t, err, journey.ErrUndeliverable)
	require.ErrorContains(t, err, `no template "no/such/template"`)

	f.sender.err = &mail.RejectedError{Status: 422, Code: "validation_error", Reason: "invalid to"}
	err = f.c.Send(ctx, f.message(flow.Checkout, "checkout/1"))
	require.ErrorIs(t, err, journey.ErrUndeliverable)
	require.ErrorIs(t, err, mail.ErrRejected)

	f.sender.err = errors.New("resend: 503")
	err = f.c.Send(ctx, f.message(flow.Checkout, "checkout/1"))
	require.Error(t, err)
	require.NotErrorIs(t, err, journey.ErrUndeliverable, "a transient failure is retried")

	f.sender.err = nil
	require.NoError(t, f.db.Exec(`UPDATE shops SET uninstalled_at = now() WHERE id = ?`, f.shopID).Error)
	require.ErrorIs(t, f.c.Send(ctx, f.message(flow.Checkout, "checkout/1")), journey.ErrUndeliverable)
	require.Empty(t, f.sender.sent)
}

func TestTrackLinksOnlyStoreLinks(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := &mail.Rendered{
		HTML: `<a href="https://maison.myshopify.com/products/chemise?variant=1&amp;x=2">p</a>` +
			`<a href="https://evil.example/phish">e</a><a href="mailto:a@b.c">m</a>` +
			`<a href="https://app.relance.example/u/tok">u</a><a href="https://maison.myshopify.com//evil.com">x</a>`,
		Text: "See https://maison.myshopify.com/products/chemise?variant=1&x=2 now",
	}
	f.c.trackLinks(r, f.shopID, f.contact.ID, 10, "maison.myshopify.com")
	want := trackedURL(f.c.o.AppURL, f.links.SignClick(mail.ClickClaims{ShopID: f.shopID, ContactID: f.contact.ID, MessageID: 10,
		Target: "/products/chemise?variant=1&x=2"}))
	require.Contains(t, r.HTML, `href="`+want+`"`)
	require.Contains(t, r.Text, want)
	require.Contains(t, r.HTML, `href="https://evil.example/phish"`, "foreign links are left alone")
	require.Contains(t, r.HTML, `href="mailto:a@b.c"`)
	require.Contains(t, r.HTML, `href="https://app.relance.example/u/tok"`)
	require.Contains(t, r.HTML, `href="https://maison.myshopify.com//evil.com"`, "a path a browser reads as a host is never signed")

	none := &mail.Rendered{HTML: `<a href="https://maison.myshopify.com/">s</a>`}
	f.c.trackLinks(none, f.shopID, f.contact.ID, 0, "maison.myshopify.com")
	require.Equal(t, `<a href="https://maison.myshopify.com/">s</a>`, none.HTML, "no message id (preview): untouched")
}
