package shop

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf16"
)

// Two ways to find a customer in stored JSON, shared by every holder so they
// all agree on who "the customer" is:
//
//   - Mentions (precise, in Go, for exports): a value that identifies the
//     customer: the id under a customer_id key or in a customer object, the
//     customer's or an order's GID, the email as a whole string
//     (case-insensitive), the phone as a whole phone-like string (digits
//     compared, country code or trunk prefix tolerated), an order id under an
//     order_id key.
//     An export must never carry another shopper's data.
//   - TextMatchSQL (broad, in SQL, for redaction and as a prefilter): the
//     raw text contains the email, the customer or order id as a whole
//     number, or the phone's digits. Redacting a little too much is
//     acceptable; leaving a copy behind is not.
//
// Every document Mentions accepts also matches TextMatchSQL, so the SQL
// condition can narrow the rows before Go looks at them.

// minPhoneDigits: shorter numbers are not phones, and matching them would
// hit unrelated numbers.
const minPhoneDigits = 7

// phoneTailDigits: numbers are compared on their last digits so that
// "+33 6 12 34 56 78", "06 12 34 56 78" and "612345678" are the same phone.
const phoneTailDigits = 9

var phoneLike = regexp.MustCompile(`^[+0-9 ().,/-]+$`)

func (c CustomerRef) emailKey() string { return strings.ToLower(strings.TrimSpace(c.Email)) }

func (c CustomerRef) phoneDigits() string {
	d := digitsOf(c.Phone)
	if len(d) < minPhoneDigits {
		return ""
	}
	return d
}

func digitsOf(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func (c CustomerRef) customerGID() string {
	if c.ShopifyID == 0 {
		return ""
	}
	return "gid://shopify/Customer/" + strconv.FormatInt(c.ShopifyID, 10)
}

// TextMatchSQL returns a SQL condition on the text expression expr (a
// trusted column expression such as "payload::text", never user input) and
// its arguments: true when the text may mention the customer. With no
// identifier at all it is FALSE.
func (c CustomerRef) TextMatchSQL(expr string) (string, []any) {
	var conds []string
	var args []any
	if e := c.emailKey(); e != "" {
		for _, form := range emailTextForms(e) {
			conds = append(conds, "strpos(lower("+expr+"), ?) > 0")
			args = append(args, form)
		}
	}
	var ids []string
	if c.ShopifyID != 0 {
		ids = append(ids, strconv.FormatInt(c.ShopifyID, 10))
	}
	for _, id := range c.OrderIDs {
		if id != 0 {
			ids = append(ids, strconv.FormatInt(id, 10))
		}
	}
	if len(ids) > 0 {
		conds = append(conds, expr+" ~ ?")
		args = append(args, `(^|[^0-9])(`+strings.Join(ids, "|")+`)([^0-9]|$)`)
	}
	if d := c.phoneDigits(); d != "" {
		if len(d) > phoneTailDigits {
			d = d[len(d)-phoneTailDigits:]
		}
		// The digits with the separators people type between them.
		conds = append(conds, expr+" ~ ?")
		args = append(args, strings.Join(strings.Split(d, ""), `[ ().,/-]{0,3}`)+`([^0-9]|$)`)
	}
	if len(conds) == 0 {
		return "FALSE", nil
	}
	return "(" + strings.Join(conds, " OR ") + ")", args
}

// emailTextForms are the ways a lowercase email can appear in JSON text:
// as is, and with non-ASCII characters \u-escaped.
func emailTextForms(e string) []string {
	var b strings.Builder
	for _, r := range e {
		if r < 0x80 {
			b.WriteRune(r)
			continue
		}
		for _, u := range utf16.Encode([]rune{r}) {
			fmt.Fprintf(&b, `\u%04x`, u)
		}
	}
	if esc := b.String(); esc != e {
		return []string{e, esc}
	}
	return []string{e}
}

// Mentions reports whether the JSON document refers to the customer by a
// value that identifies them (see above). Numbers are compared as decimal
// text, so IDs beyond 2^53 stay exact.
func (c CustomerRef) Mentions(doc []byte) (bool, error) {
	v, err := DecodeJSON(doc)
	if err != nil {
		return false, err
	}
	return c.MentionsValue(v), nil
}

// MentionsValue is Mentions on a document already decoded by DecodeJSON.
func (c CustomerRef) MentionsValue(v any) bool {
	m := c.matcher()
	return m.value(v)
}

// DecodeJSON decodes a document keeping numbers as json.Number.
func DecodeJSON(doc []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("shop: decode json: %w", err)
	}
	return v, nil
}

type matcher struct {
	id, gid, email, phone string
	orders, orderGIDs     map[string]bool
}

func (c CustomerRef) matcher() matcher {
	m := matcher{gid: c.customerGID(), email: c.emailKey(), phone: c.phoneDigits(),
		orders: map[string]bool{}, orderGIDs: map[string]bool{}}
	if c.ShopifyID != 0 {
		m.id = strconv.FormatInt(c.ShopifyID, 10)
	}
	for _, o := range c.OrderIDs {
		if o != 0 {
			s := strconv.FormatInt(o, 10)
			m.orders[s] = true
			m.orderGIDs["gid://shopify/Order/"+s] = true
		}
	}
	return m
}

// scalarText is the text of an id-like value: a number or a string.
func scalarText(v any) (string, bool) {
	switch x := v.(type) {
	case json.Number:
		return x.String(), true
	case string:
		return strings.TrimSpace(x), true
	}
	return "", false
}

func (m matcher) isCustomerID(v any) bool {
	s, ok := scalarText(v)
	return ok && s != "" && (s == m.id || s == m.gid)
}

func (m matcher) isOrderID(v any) bool {
	s, ok := scalarText(v)
	return ok && (m.orders[s] || m.orderGIDs[s])
}

func (m matcher) value(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		for k, child := range x {
			switch k {
			case "customer_id":
				if m.isCustomerID(child) {
					return true
				}
			case "customer":
				if obj, ok := child.(map[string]any); ok && m.isCustomerID(obj["id"]) {
					return true
				}
			case "order_id":
				if m.isOrderID(child) {
					return true
				}
			}
			if m.value(child) {
				return true
			}
		}
	case []any:
		for _, child := range x {
			if m.value(child) {
				return true
			}
		}
	case string:
		return m.str(x)
	}
	return false
}

func (m matcher) str(s string) bool {
	t := strings.TrimSpace(s)
	if t == "" {
		return false
	}
	if m.gid != "" && t == m.gid || m.orderGIDs[t] {
		return true
	}
	if m.email != "" && strings.ToLower(t) == m.email {
		return true
	}
	if m.phone != "" && phoneLike.MatchString(t) {
		return samePhone(digitsOf(t), m.phone)
	}
	return false
}

// samePhone compares digit strings; long numbers on their last digits, so a
// country code ("+33 6…") or a trunk prefix ("06…") on either side agrees.
func samePhone(a, b string) bool {
	if len(a) < minPhoneDigits {
		return false
	}
	if a == b {
		return true
	}
	if len(a) < phoneTailDigits || len(b) < phoneTailDigits {
		return false
	}
	return a[len(a)-phoneTailDigits:] == b[len(b)-phoneTailDigits:]
}
