// Package courier gives the journey engine's send decisions a voice and a
// wire: it implements journey.Sender over the mail package. For each
// decision it loads the shop, picks the template and language, fills the
// template data (recovery link, cart lines and totals, signed unsubscribe and
// "not interested" links), renders, and hands the email to a mail.Sender
// (Resend, or the outbox in development).
//
// Dependencies point one way: courier → journey, mail, flow, contact. The
// mail package knows nothing of the engine.
package courier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"

	"github.com/relance/relance/internal/contact"
	"github.com/relance/relance/internal/flow"
	"github.com/relance/relance/internal/journey"
	"github.com/relance/relance/internal/mail"
)

// Options configure a Courier. Every field but Logger and Now is required.
type Options struct {
	DB       *gorm.DB
	Flows    *flow.Store
	Contacts *contact.Store
	Sender   mail.Sender
	Links    *mail.LinkSigner
	// AppURL is SHOPIFY_APP_URL: shopper links (/u/:token) point at it.
	AppURL *url.URL
	// FromEmail is the sending address (config MAIL_FROM); the display name
	// is the shop's. A shop whose own domain Resend verified sends from the
	// same local part at that domain (mail.FromAddress).
	FromEmail string
	// Discounts creates the codes of offer steps; nil sends offers without
	// codes.
	Discounts Discounts
	Logger    *slog.Logger
	Now       func() time.Time
}

// Courier implements journey.Sender.
type Courier struct {
	o         Options
	log       *slog.Logger
	templates sync.Map // "name|locale" → *mail.Compiled
}

var _ journey.Sender = (*Courier)(nil)

// New returns a Courier.
func New(o Options) (*Courier, error) {
	if o.DB == nil || o.Flows == nil || o.Contacts == nil || o.Sender == nil || o.Links == nil || o.AppURL == nil || o.FromEmail == "" {
		return nil, errors.New("courier: DB, Flows, Contacts, Sender, Links, AppURL and FromEmail are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Courier{o: o, log: log}, nil
}

// shopRow is what an email needs of the shops table (owned by the shop
// package; only these columns are read).
type shopRow struct {
	Name          string
	Email         string
	Domain        string
	Timezone      string
	Currency      string
	UninstalledAt *time.Time
}

func undeliverable(format string, args ...any) error {
	return fmt.Errorf("%w: %s", journey.ErrUndeliverable, fmt.Sprintf(format, args...))
}

// Send renders and delivers one message. It is idempotent on m.ID because
// the mail.Sender is. Errors that no retry can fix wrap
// journey.ErrUndeliverable with the reason (never an address or a token).
func (c *Courier) Send(ctx context.Context, m journey.Message) error {
	var shops []shopRow
	if err := c.o.DB.WithContext(ctx).Raw(`SELECT name, email, domain, timezone, currency, uninstalled_at FROM shops WHERE id = ?`, m.ShopID).
		Scan(&shops).Error; err != nil {
		return fmt.Errorf("courier: read shop %d: %w", m.ShopID, err)
	}
	if len(shops) == 0 {
		return undeliverable("shop %d is gone", m.ShopID)
	}
	sh := shops[0]
	if sh.UninstalledAt != nil {
		return undeliverable("shop %d uninstalled the app", m.ShopID)
	}
	sender, err := LoadSenderSettings(ctx, c.o.DB, m.ShopID)
	if err != nil {
		return err
	}
	locale := mail.PickLocale(m.Locale, sender.DefaultLocale)
	compiled, locale, err := c.content(ctx, m, locale, sender.DefaultLocale)
	if err != nil {
		return err
	}

	unsubscribe := c.link(mail.LinkClaims{Purpose: mail.PurposeUnsubscribe, ShopID: m.ShopID, ContactID: m.ContactID})
	data := &mail.Data{
		Locale:         locale,
		Shop:           MailShop(sh.Name, sh.Email, sh.Domain, sh.Timezone, sender),
		Customer:       mail.Customer{FirstName: m.FirstName, Email: m.To, Locale: m.Locale},
		UnsubscribeURL: unsubscribe,
		PreferencesURL: c.link(mail.LinkClaims{Purpose: mail.PurposePreferences, ShopID: m.ShopID, ContactID: m.ContactID}),
		Now:            c.o.Now(),
	}
	if err := c.fillSubject(ctx, m, sh, data); err != nil {
		return err
	}
	if data.Discount, err = c.offer(ctx, m, sh, data); err != nil {
		return err
	}
	if m.EnrollmentID > 0 {
		f, err := c.o.Flows.Version(ctx, m.ShopID, m.Flow, m.FlowVersion)
		if err != nil {
			return fmt.Errorf("courier: flow of message %d: %w", m.ID, err)
		}
		if f.HasExit(flow.ExitLeave) {
			data.NotInterestedURL = c.link(mail.LinkClaims{Purpose: mail.PurposeNotInterested, ShopID: m.ShopID, ContactID: m.ContactID,
				EnrollmentID: m.EnrollmentID})
		}
	}

	rendered, err := compiled.Render(data)
	if err != nil {
		var te *mail.TemplateError
		if errors.As(err, &te) || errors.Is(err, mail.ErrTooLarge) {
			return undeliverable("render %s (%s): %v", m.Template, locale, err)
		}
		return fmt.Errorf("courier: render message %d: %w", m.ID, err)
	}
	c.trackLinks(rendered, m.ShopID, m.ContactID, m.ID, sh.Domain, hostOf(data.RecoveryURL))
	fromName, fromEmail, err := From(ctx, c.o.DB, m.ShopID, data.Shop, locale, c.o.FromEmail)
	if err != nil {
		return err
	}
	msg := &mail.Message{
		ID:             m.ID,
		ShopID:         m.ShopID,
		ContactID:      m.ContactID,
		FromName:       fromName,
		FromEmail:      fromEmail,
		ReplyTo:        data.Shop.ReplyTo,
		To:             m.To,
		Flow:           string(m.Flow),
		Step:           m.Step,
		UnsubscribeURL: unsubscribe,
		Content:        *rendered,
	}
	if _, err := c.o.Sender.Send(ctx, msg); err != nil {
		if errors.Is(err, mail.ErrRejected) {
			return fmt.Errorf("%w: %w", journey.ErrUndeliverable, err)
		}
		return fmt.Errorf("courier: send message %d: %w", m.ID, err) // retried with the same id
	}
	c.log.Info("courier: email handed over", "shop_id", m.ShopID, "message_id", m.ID, "flow", m.Flow, "step", m.Step, "locale", locale)
	return nil
}

// content returns the compiled email of a message and its language: the
// merchant's content for the step in the flow version the enrollment is
// pinned to, in locale; else the default template in locale; else (a step
// the merchant added, which has no default) the merchant's content in the
// shop's language or any other.
func (c *Courier) content(ctx context.Context, m journey.Message, locale, shopLocale string) (*mail.Compiled, string, error) {
	if t, ok, err := c.custom(ctx, m, locale); ok || err != nil {
		return t, locale, err
	}
	if t, err := c.template(m.Template, locale); err == nil || !errors.Is(err, errNoDefault) {
		return t, locale, err
	}
	for _, l := range []string{mail.PickLocale(shopLocale, ""), mail.LocaleEN, mail.LocaleFR} {
		if l == locale {
			continue
		}
		if t, ok, err := c.custom(ctx, m, l); ok || err != nil {
			return t, l, err
		}
	}
	return nil, "", undeliverable("no template %q", m.Template)
}

// custom compiles the merchant's content of the message's step in locale,
// once per process (a published version's content never changes).
func (c *Courier) custom(ctx context.Context, m journey.Message, locale string) (*mail.Compiled, bool, error) {
	if m.FlowVersion <= 0 {
		return nil, false, nil
	}
	key := fmt.Sprintf("custom|%d|%s|%d|%s|%s", m.ShopID, m.Flow, m.FlowVersion, m.Template, locale)
	if t, ok := c.templates.Load(key); ok {
		return t.(*mail.Compiled), true, nil
	}
	content, ok, err := c.o.Flows.StepContent(ctx, m.ShopID, m.Flow, m.FlowVersion, m.Template, locale)
	if err != nil || !ok {
		return nil, false, err
	}
	t, err := mail.Compile(mail.Template{Subject: content.Subject, Preheader: content.Preheader, Body: content.Body})
	if err != nil {
		return nil, false, undeliverable("custom content of %q (%s) does not compile: %v", m.Template, locale, err)
	}
	actual, _ := c.templates.LoadOrStore(key, t)
	return actual.(*mail.Compiled), true, nil
}

var errNoDefault = errors.New("courier: no default template")

// template returns the compiled default template name in locale, compiled
// once per process.
func (c *Courier) template(name, locale string) (*mail.Compiled, error) {
	key := name + "|" + locale
	if t, ok := c.templates.Load(key); ok {
		return t.(*mail.Compiled), nil
	}
	src, ok := mail.DefaultTemplate(name, locale)
	if !ok {
		return nil, errNoDefault
	}
	t, err := mail.Compile(src)
	if err != nil {
		return nil, undeliverable("template %q (%s) does not compile: %v", name, locale, err)
	}
	actual, _ := c.templates.LoadOrStore(key, t)
	return actual.(*mail.Compiled), nil
}

// link is the absolute URL of a shopper link.
func (c *Courier) link(claims mail.LinkClaims) string {
	return ShopperLinkURL(c.o.AppURL, c.o.Links.Sign(claims))
}

// ShopperLinkURL is the /u/:token URL under the app's base URL.
func ShopperLinkURL(app *url.URL, token string) string {
	return strings.TrimRight(app.String(), "/") + "/u/" + token
}

// MailShop is the sender as shoppers see it: the shop as Shopify describes
// it (name, email, myshopify domain, time zone), overridden by what the
// merchant set in the admin.
func MailShop(name, email, domain, timezone string, s SenderSettings) mail.Shop {
	if s.Timezone != "" {
		timezone = s.Timezone
	}
	loc, err := time.LoadLocation(timezone)
	if err != nil || timezone == "" {
		loc = time.UTC
	}
	if s.SenderName != "" {
		name = s.SenderName
	}
	if s.ReplyTo != "" {
		email = s.ReplyTo
	}
	return mail.Shop{
		Name:      name,
		URL:       shopURL(domain),
		Locale:    mail.PickLocale(s.DefaultLocale, ""),
		Location:  loc,
		OwnerName: s.OwnerFirstName,
		ReplyTo:   email,
		Address:   s.PostalAddress,
	}
}

// hostOf is the host of an absolute URL, or "".
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// shopURL is the storefront. Only the myshopify domain is kept; Shopify
// redirects it to the shop's primary domain.
func shopURL(domain string) string {
	if domain == "" {
		return ""
	}
	return "https://" + domain
}

// fillSubject fills what the email is about: the cart or checkout (lines,
// total, recovery link) and flow-specific values.
func (c *Courier) fillSubject(ctx context.Context, m journey.Message, sh shopRow, d *mail.Data) error {
	ctxv := m.Context
	currency := ctxv["currency"]
	if currency == "" {
		currency = sh.Currency
	}
	if total := ctxv["total_price"]; total != "" {
		if tm := (mail.Money{Amount: total, Currency: currency}); !tm.IsZero() {
			d.Total = tm
		}
	}
	d.RecoveryURL = ctxv["recovery_url"]
	if d.RecoveryURL == "" && (m.Flow == flow.Cart || m.Flow == flow.Checkout) {
		// No recovery link in the payload: the storefront's cart page,
		// which shows the cart the browser still holds.
		d.RecoveryURL = shopURL(sh.Domain) + "/cart"
	}
	lines, err := c.lines(ctx, m)
	if err != nil {
		return err
	}
	for _, l := range lines {
		d.Lines = append(d.Lines, mail.Line{
			Title:    l.Title,
			Variant:  l.Variant,
			Quantity: l.Quantity,
			Price:    mail.Money{Amount: l.Price, Currency: currency},
		})
	}
	if seg := ctxv["segment"]; seg != "" {
		d.Vars = map[string]any{"segment": seg}
	}
	return nil
}

// lines are the cart or checkout lines the trigger path recorded with the
// identity's latest activity (contact_identities), if any.
func (c *Courier) lines(ctx context.Context, m journey.Message) ([]journey.ActivityLine, error) {
	kind, value := contact.Checkout, m.Context["checkout_token"]
	if m.Flow == flow.Cart || value == "" {
		kind, value = contact.Cart, m.Context["cart_token"]
	}
	if value == "" || (m.Flow != flow.Cart && m.Flow != flow.Checkout) {
		return nil, nil
	}
	act, err := c.o.Contacts.Activity(ctx, m.ShopID, kind, value)
	if err != nil {
		return nil, fmt.Errorf("courier: lines of message %d: %w", m.ID, err)
	}
	if act == nil {
		return nil, nil
	}
	data, err := journey.DecodeActivity(act.Data)
	if err != nil {
		c.log.Warn("courier: unreadable activity, sending without lines", "shop_id", m.ShopID, "message_id", m.ID, "err", err)
		return nil, nil
	}
	return data.Lines, nil
}
