package web

import (
	"errors"
	"fmt"
	"net/http"
	netmail "net/mail"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/relance/relance/internal/contact"
	"github.com/relance/relance/internal/courier"
	"github.com/relance/relance/internal/discount"
	"github.com/relance/relance/internal/flow"
	"github.com/relance/relance/internal/mail"
	"github.com/relance/relance/internal/shop"
)

// PreviewRequest is the body of POST /api/preview and (with To) POST
// /api/test-email.
type PreviewRequest struct {
	Flow      flow.Key `json:"flow"`
	Step      string   `json:"step"`
	Subject   string   `json:"subject"`
	Preheader string   `json:"preheader"`
	Body      string   `json:"body"`
	Locale    string   `json:"locale"`
	ContactID int64    `json:"contact_id,omitempty"`
	To        string   `json:"to,omitempty"`
}

// PreviewResponse is a rendered email.
type PreviewResponse struct {
	Subject   string `json:"subject"`
	Preheader string `json:"preheader"`
	HTML      string `json:"html"`
	Text      string `json:"text"`
}

// render compiles and renders the request's content. It answers the
// request itself (422, 404) when it returns ok false with a nil error.
func (a *admin) render(c echo.Context, s *shop.Shop, in *PreviewRequest) (r *mail.Rendered, ss courier.SenderSettings, ok bool, err error) {
	ctx := c.Request().Context()
	bad := fieldErrors{}
	if !flow.IsKnown(in.Flow) {
		bad["flow"] = "unknown flow"
	}
	if strings.TrimSpace(in.Step) == "" {
		bad["step"] = "is required"
	}
	if in.Locale != "" && in.Locale != mail.LocaleEN && in.Locale != mail.LocaleFR {
		bad["locale"] = `must be "en" or "fr"`
	}
	compiled, err := mail.Compile(mail.Template{Subject: in.Subject, Preheader: in.Preheader, Body: in.Body})
	if err != nil {
		var te *mail.TemplateError
		switch {
		case errors.As(err, &te):
			bad[te.Part] = fmt.Sprintf("line %d: %s", te.Line, te.Message)
		case errors.Is(err, mail.ErrTooLarge):
			bad["body"] = "the rendered email is larger than 100 KB"
		default:
			return nil, ss, false, err
		}
	}
	if len(bad) > 0 {
		return nil, ss, false, invalid(c, bad)
	}
	if ss, err = courier.LoadSenderSettings(ctx, a.DB, s.ID); err != nil {
		return nil, ss, false, err
	}
	var who *contact.Contact
	if in.ContactID != 0 {
		who, err = a.Contacts.Get(ctx, s.ID, in.ContactID)
		if errors.Is(err, contact.ErrNotFound) {
			return nil, ss, false, notFound("contact")
		}
		if err != nil {
			return nil, ss, false, err
		}
	}
	locale := in.Locale
	if locale == "" {
		customer := ""
		if who != nil {
			customer = who.Locale
		}
		locale = mail.PickLocale(customer, ss.DefaultLocale)
	}
	// Sample shopper and cart; the shop as the merchant set it up.
	data := mail.SampleData(locale)
	real := senderShop(s, ss)
	data.Shop.Name, data.Shop.URL, data.Shop.Location = real.Name, real.URL, real.Location
	data.Shop.OwnerName, data.Shop.ReplyTo, data.Shop.Address, data.Shop.LogoURL = real.OwnerName, real.ReplyTo, real.Address, ""
	data.Shop.Locale = real.Locale
	if who != nil {
		// The chosen contact's own name and address; what a step is about
		// (cart, order, products) stays the sample's until issue 6 links
		// contacts to their latest activity for previews.
		data.Customer = mail.Customer{FirstName: who.FirstName, LastName: who.LastName, Email: who.EmailAddress(), Locale: who.Locale}
	}
	if data.Discount, err = a.previewDiscount(c, s, in, who, data); err != nil {
		return nil, ss, false, err
	}
	r, err = compiled.Render(data)
	if err != nil {
		var te *mail.TemplateError
		if errors.As(err, &te) {
			return nil, ss, false, invalid(c, fieldErrors{te.Part: fmt.Sprintf("line %d: %s", te.Line, te.Message)})
		}
		if errors.Is(err, mail.ErrTooLarge) {
			return nil, ss, false, invalid(c, fieldErrors{"body": "the rendered email is larger than 100 KB"})
		}
		return nil, ss, false, err
	}
	return r, ss, true, nil
}

// preview answers POST /api/preview.
func (a *admin) preview(c echo.Context) error {
	s, err := sessionShop(c)
	if err != nil {
		return err
	}
	var in PreviewRequest
	if err := bind(c, &in); err != nil {
		return err
	}
	r, _, ok, err := a.render(c, s, &in)
	if !ok {
		return err
	}
	noStore(c)
	return c.JSON(http.StatusOK, PreviewResponse{Subject: r.Subject, Preheader: r.Preheader, HTML: r.HTML, Text: r.Text})
}

// TestEmailResult is the answer of POST /api/test-email.
type TestEmailResult struct {
	ID int64 `json:"id"`
}

// testEmail answers POST /api/test-email: the rendered content sent to the
// shop's own inbox (its Shopify email or its reply-to), never to anyone
// else, through the configured mail sender.
func (a *admin) testEmail(c echo.Context) error {
	s, err := sessionShop(c)
	if err != nil {
		return err
	}
	var in PreviewRequest
	if err := bind(c, &in); err != nil {
		return err
	}
	ss, err := courier.LoadSenderSettings(c.Request().Context(), a.DB, s.ID)
	if err != nil {
		return err
	}
	to := strings.ToLower(strings.TrimSpace(in.To))
	allowed := to != "" && (to == strings.ToLower(s.Email) || to == strings.ToLower(ss.ReplyTo))
	if addr, err := netmail.ParseAddress(to); err != nil || addr.Address != to || !allowed {
		return invalid(c, fieldErrors{"to": "must be the shop's email or its reply-to address"})
	}
	r, ss, ok, err := a.render(c, s, &in)
	if !ok {
		return err
	}
	ctx := c.Request().Context()
	id, err := a.Engine.ReserveMessageID(ctx)
	if err != nil {
		return err
	}
	locale := mail.PickLocale(in.Locale, ss.DefaultLocale)
	ms := senderShop(s, ss)
	r.Subject = "[Test] " + r.Subject
	// Every email must carry an unsubscribe link, but a test goes to the
	// merchant, who is no contact of the shop: a shopper link cannot be
	// signed for them, so the app's own address stands in for it.
	unsubscribe := a.AppURL.String()
	// The same From as the shop's real emails (its verified domain, if any),
	// so the test shows the merchant what shoppers will get.
	fromName, fromEmail, err := courier.From(ctx, a.DB, s.ID, ms, locale, a.FromEmail)
	if err != nil {
		return err
	}
	msg := &mail.Message{ID: id, ShopID: s.ID, FromName: fromName, FromEmail: fromEmail,
		ReplyTo: ms.ReplyTo, To: to, Flow: string(in.Flow), Step: "test:" + in.Step, UnsubscribeURL: unsubscribe, Content: *r}
	if _, err := a.Sender.Send(ctx, msg); err != nil {
		var re *mail.RejectedError
		if errors.As(err, &re) {
			return c.JSON(http.StatusUnprocessableEntity, apiError{Error: "the email was refused: " + re.Reason})
		}
		return err
	}
	return c.JSON(http.StatusAccepted, TestEmailResult{ID: id})
}

// previewDiscount is the offer the previewed step would carry for the sample
// cart: the tier the merchant's table chooses (none when no tier applies or
// the step has no offer, as a real send), under a stand-in code.
func (a *admin) previewDiscount(c echo.Context, s *shop.Shop, in *PreviewRequest, who *contact.Contact, data *mail.Data) (*mail.Discount, error) {
	if a.Discounts == nil {
		return data.Discount, nil
	}
	st, err := a.editorState(c, s.ID, in.Flow)
	if err != nil {
		return nil, err
	}
	offer := false
	for _, b := range st.def.Branches {
		for _, x := range b.Steps {
			offer = offer || (x.Key == in.Step && x.Offer)
		}
	}
	if !offer {
		return nil, nil
	}
	t, _, err := a.Discounts.GetTable(c.Request().Context(), s.ID, string(in.Flow), in.Step)
	if err != nil {
		return nil, err
	}
	cart, err := discount.ParseAmount(data.Total.Amount)
	if err != nil {
		return nil, fmt.Errorf("web: sample cart value %q: %w", data.Total.Amount, err)
	}
	tier := t.Choose(cart, discount.Facts{NewCustomer: who == nil || who.OrdersCount == 0})
	if tier == nil {
		return nil, nil
	}
	prefix := t.Prefix
	if prefix == "" {
		prefix = discount.DefaultPrefix
	}
	return courier.MailDiscount(prefix+"-PREVIEW", *tier, s.Currency, data.Now.Add(t.Expiry())), nil
}
