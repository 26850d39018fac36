// Package mail turns a send decision into an email and delivers it: Liquid
// templates rendered into subject, preheader, HTML and text; delivery through
// Resend (idempotent, paced across all workers, batched under load); an
// outbox for local development; and Resend's delivery webhooks.
//
// Shopper data is escaped before it reaches a template: osteele/liquid
// (v1.6) writes variables verbatim and has no auto-escape mode, so every
// string of Data is HTML-escaped when the HTML body is rendered and left as
// is for the subject and preheader. Markup we trust is typed HTML.
package mail

import (
	"errors"
	"fmt"
	"html"
	"strings"
	"sync/atomic"

	"github.com/osteele/liquid"
)

// MaxHTMLSize is the largest HTML part we send: Gmail clips messages over
// 102 KB, hiding the footer with the unsubscribe link.
const MaxHTMLSize = 100 * 1024

// ErrTooLarge is returned when the rendered HTML exceeds MaxHTMLSize.
var ErrTooLarge = errors.New("mail: rendered email is larger than 100 KB")

// Template is what a merchant edits: Liquid for the subject, the preheader
// (the preview line inboxes show after the subject) and the HTML body. The
// layout (header, footer with address and unsubscribe) and the plain-text
// part are added by Render.
type Template struct {
	Subject   string `json:"subject"`
	Preheader string `json:"preheader"`
	Body      string `json:"body"`
}

// TemplateError locates a template mistake for the merchant.
type TemplateError struct {
	Part    string // "subject", "preheader" or "body"
	Line    int    // 1-based
	Message string
}

func (e *TemplateError) Error() string {
	return fmt.Sprintf("mail: template %s, line %d: %s", e.Part, e.Line, e.Message)
}

// Rendered is an email ready to send.
type Rendered struct {
	Subject   string
	Preheader string
	HTML      string
	Text      string
}

// Compiled is a parsed template, safe for concurrent use.
type Compiled struct {
	subject, preheader, body *liquid.Template
	// bodySize is the largest body rendered so far, to size the buffers of
	// the next render once instead of growing them step by step.
	bodySize atomic.Int64
}

var (
	// htmlEngine renders bodies: data arrives escaped, so its "escape"
	// filter must not escape twice.
	htmlEngine = newEngine(true)
	// textEngine renders subject and preheader, which are plain text.
	textEngine = newEngine(false)
)

func newEngine(forHTML bool) *liquid.Engine {
	e := liquid.NewEngine()
	if forHTML {
		e.RegisterFilter("escape", escapeOnce)
		e.RegisterFilter("escape_once", escapeOnce)
		e.RegisterFilter("button", button)
	} else {
		e.RegisterFilter("escape", noEscape)
		e.RegisterFilter("escape_once", noEscape)
	}
	return e
}

func escapeOnce(s string) string { return html.EscapeString(html.UnescapeString(s)) }

// Compile parses a template and renders it once with SampleData in every
// language, so syntax errors and unknown filters are reported when the
// merchant saves, with the part and line, never at send time.
func Compile(t Template) (*Compiled, error) {
	c := &Compiled{}
	var err error
	if strings.TrimSpace(t.Subject) == "" {
		return nil, &TemplateError{Part: "subject", Line: 1, Message: "the subject is empty"}
	}
	if c.subject, err = parse(textEngine, "subject", t.Subject); err != nil {
		return nil, err
	}
	if c.preheader, err = parse(textEngine, "preheader", t.Preheader); err != nil {
		return nil, err
	}
	if c.body, err = parse(htmlEngine, "body", t.Body); err != nil {
		return nil, err
	}
	for _, l := range supportedLocales {
		if _, err := c.Render(SampleData(l)); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func parse(e *liquid.Engine, part, src string) (*liquid.Template, error) {
	// Line 1: the library counts from the location it is given.
	t, err := e.ParseTemplateLocation([]byte(src), part, 1)
	if err != nil {
		return nil, templateError(part, err)
	}
	return t, nil
}

func templateError(part string, err liquid.SourceError) *TemplateError {
	msg := err.Error()
	// "Liquid error (line 3): unterminated "if" block in {% if x %}"
	if i := strings.Index(msg, "): "); strings.HasPrefix(msg, "Liquid error") && i >= 0 {
		msg = msg[i+3:]
	}
	return &TemplateError{Part: part, Line: max(err.LineNumber(), 1), Message: msg}
}

// Render produces the email for d. A TemplateError here means data the
// template cannot handle; the caller skips the message with that reason.
func (c *Compiled) Render(d *Data) (*Rendered, error) {
	loc := d.locale()
	t := texts(loc)

	cart := d.cartLines(loc)
	hb, tb := d.bindings(loc, cart)
	body, err := c.renderBody(hb, cart, loc, d.Subtotal)
	if err != nil {
		return nil, err
	}
	tb["cart_table"] = ""
	subject, serr := c.subject.RenderString(tb)
	if serr != nil {
		return nil, templateError("subject", serr)
	}
	preheader, serr := c.preheader.RenderString(tb)
	if serr != nil {
		return nil, templateError("preheader", serr)
	}
	r := &Rendered{Subject: oneLine(subject), Preheader: oneLine(preheader)}
	if r.Subject == "" {
		return nil, &TemplateError{Part: "subject", Line: 1, Message: "the subject renders empty"}
	}

	ld := layoutData{
		Lang: loc, Subject: r.Subject, Preheader: r.Preheader, PreheaderPad: preheaderPad,
		ShopName: d.Shop.Name, ShopURL: safeURL(d.Shop.URL), LogoURL: safeURL(d.Shop.LogoURL), Address: d.Shop.Address,
		Body:   trustedBody(body),
		Reason: t.reason(d.Shop.Name), Unsubscribe: t.unsubscribe, Preferences: t.preferences, NotInterested: t.notInterested,
		UnsubscribeURL: safeURL(d.UnsubscribeURL), PreferencesURL: safeURL(d.PreferencesURL), NotInterestedURL: safeURL(d.NotInterestedURL),
	}
	if r.Preheader == "" {
		ld.PreheaderPad = ""
	}
	var out strings.Builder
	out.Grow(len(body) + 8<<10)
	if err := layout.Execute(&out, ld); err != nil {
		return nil, fmt.Errorf("mail: render layout: %w", err)
	}
	r.HTML = out.String()
	if len(r.HTML) > MaxHTMLSize {
		return nil, fmt.Errorf("%w (%d bytes)", ErrTooLarge, len(r.HTML))
	}
	r.Text = htmlToText(body) + "\n\n--\n" + textFooter(ld)
	return r, nil
}

// renderBody renders the merchant's body with the HTML part's bindings,
// before the layout: the HTML the text part is derived from.
func (c *Compiled) renderBody(hb map[string]any, cart []cartLine, loc string, subtotal Money) (string, error) {
	hb["cart_table"] = string(cartHTML(cart, loc, subtotal))
	var b strings.Builder
	b.Grow(int(c.bodySize.Load()))
	if err := c.body.FRender(&b, hb); err != nil {
		return "", templateError("body", err)
	}
	if n := int64(b.Len()); n > c.bodySize.Load() {
		c.bodySize.Store(min(n, MaxHTMLSize))
	}
	return b.String(), nil
}

func textFooter(ld layoutData) string {
	lines := []string{ld.Reason}
	if ld.Address != "" {
		lines = append(lines, ld.ShopName+" · "+ld.Address)
	}
	if ld.UnsubscribeURL != "" {
		lines = append(lines, ld.Unsubscribe+": "+ld.UnsubscribeURL)
	}
	if ld.PreferencesURL != "" {
		lines = append(lines, ld.Preferences+": "+ld.PreferencesURL)
	}
	if ld.NotInterestedURL != "" {
		lines = append(lines, ld.NotInterested+": "+ld.NotInterestedURL)
	}
	return strings.Join(lines, "\n") + "\n"
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func cartHTML(all []cartLine, loc string, subtotal Money) HTML {
	if len(all) == 0 {
		return ""
	}
	t := texts(loc)
	lines, more := all, ""
	if len(all) > maxCartLines {
		lines, more = all[:maxCartLines], t.moreItems(len(all)-maxCartLines)
	}
	sub := ""
	if !subtotal.IsZero() {
		sub = subtotal.Format(loc)
	}
	var b strings.Builder
	b.Grow(1024 + 900*len(lines))
	writeCart(&b, lines, t.quantity, more, t.subtotal, sub)
	return HTML(b.String())
}
