package mail

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strconv"
	"strings"

	"github.com/resend/resend-go/v2"
)

// Message is one rendered email to deliver. ID is the engine's message id:
// stable across retries of the same (enrollment, step), it is the
// idempotency key, so calling Send again after a crash never sends twice.
type Message struct {
	ID        int64
	ShopID    int64
	ContactID int64
	// FromName is the display name ("Claire from Maison & Co", see
	// SenderName); FromEmail the address on a domain verified with Resend.
	FromName  string
	FromEmail string
	// ReplyTo is the merchant's monitored inbox.
	ReplyTo string
	To      string
	// Flow and Step name what sent it (tags, analytics).
	Flow string
	Step string
	// UnsubscribeURL is the signed one-click endpoint (POST /u/:token): it
	// goes into the List-Unsubscribe header (RFC 8058).
	UnsubscribeURL string
	Content        Rendered
}

// Sender delivers messages; implementations are the Resend sender and the
// outbox. Send returns the provider's email id. It is idempotent on
// Message.ID. An error wrapping ErrRejected is final (the address or content
// was refused; retrying cannot help); any other error is worth retrying
// later.
type Sender interface {
	Send(ctx context.Context, m *Message) (string, error)
}

// ErrRejected marks a message that will never be accepted as it is.
var ErrRejected = errors.New("mail: message rejected")

// RejectedError says why a message was refused.
type RejectedError struct {
	Status int    // HTTP status from Resend, 0 when refused before sending
	Code   string // Resend's error name ("validation_error")
	Reason string
}

func (e *RejectedError) Error() string {
	if e.Status == 0 {
		return "mail: message rejected: " + e.Reason
	}
	return fmt.Sprintf("mail: message rejected by resend (%d %s): %s", e.Status, e.Code, e.Reason)
}

// reason is what mail_messages.error keeps.
func (e *RejectedError) reason() string {
	if e.Status == 0 {
		return e.Reason
	}
	return fmt.Sprintf("resend %d %s: %s", e.Status, e.Code, e.Reason)
}

// Unwrap makes errors.Is(err, ErrRejected) true.
func (e *RejectedError) Unwrap() error { return ErrRejected }

// SenderName is the From display name: the owner writing in the first
// person on behalf of the shop ("Claire from Maison & Co"), or the shop alone.
func SenderName(owner, shop, locale string) string {
	owner, shop = oneLine(owner), oneLine(shop)
	switch {
	case owner == "":
		return shop
	case shop == "":
		return owner
	case language(locale) == LocaleFR:
		return owner + " de " + shop
	}
	return owner + " from " + shop
}

// formatAddress writes "Name <addr>", quoting the name when RFC 5322 needs
// it (a comma or a dot in a shop name would otherwise split the header).
func formatAddress(name, addr string) string {
	name = strings.ReplaceAll(oneLine(name), `\`, "")
	if name == "" {
		return addr
	}
	if strings.ContainsAny(name, `()<>[]:;@,."`) {
		name = `"` + strings.ReplaceAll(name, `"`, `\"`) + `"`
	}
	return name + " <" + addr + ">"
}

// tagValue keeps what Resend accepts in a tag: ASCII letters, digits, _ and -.
func tagValue(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	if len(b) > 256 {
		b = b[:256]
	}
	if len(b) == 0 {
		return "none"
	}
	return string(b)
}

// check refuses, before any call, what can never be delivered.
func (m *Message) check() error {
	reject := func(reason string) error { return &RejectedError{Reason: reason} }
	switch {
	case m.ID <= 0:
		return reject("message id must be positive")
	case m.ShopID <= 0:
		return reject("shop id must be positive")
	case strings.TrimSpace(m.Content.Subject) == "":
		return reject("empty subject")
	case m.Content.HTML == "" && m.Content.Text == "":
		return reject("empty body")
	case safeURL(m.UnsubscribeURL) == "":
		return reject("no one-click unsubscribe URL")
	}
	if a, err := mail.ParseAddress(m.To); err != nil || a.Address != strings.TrimSpace(m.To) {
		return reject("invalid recipient address")
	}
	if _, err := mail.ParseAddress(m.FromEmail); err != nil {
		return reject("invalid sender address")
	}
	return nil
}

// request is the Resend API payload for m.
func (m *Message) request() *resend.SendEmailRequest {
	return &resend.SendEmailRequest{
		From:    formatAddress(m.FromName, m.FromEmail),
		To:      []string{strings.TrimSpace(m.To)},
		ReplyTo: m.ReplyTo,
		Subject: m.Content.Subject,
		Html:    m.Content.HTML,
		Text:    m.Content.Text,
		Headers: map[string]string{
			"List-Unsubscribe":      "<" + safeURL(m.UnsubscribeURL) + ">",
			"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
		},
		Tags: []resend.Tag{
			{Name: "shop", Value: strconv.FormatInt(m.ShopID, 10)},
			{Name: "flow", Value: tagValue(m.Flow)},
			{Name: "step", Value: tagValue(m.Step)},
			{Name: "message", Value: strconv.FormatInt(m.ID, 10)},
		},
	}
}
