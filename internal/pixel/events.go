// Package pixel is the server side of the web pixel: POST /pixel/events
// accepts batches of storefront events from the pixel extension (public,
// untrusted), records them durably in the webhook inbox through the same
// group commit as webhooks, and a worker handler turns them into identity
// (a storefront client id becomes a known contact) and browse triggers.
//
// The wire contract with the extension (extensions/relance-pixel):
//
//	POST /pixel/events   Content-Type: application/json or text/plain
//	{
//	  "shop": "x.myshopify.com",        // init.data.shop.myshopifyDomain
//	  "client_id": "…",                 // event.clientId (1–128 chars)
//	  "customer_id": 123 | "123" | null, // init.data.customer.id when logged in
//	  "rl": "…" | absent,               // the ?rl= token of a Relance email click, if the landing URL had one
//	  "events": [                        // 1–50 events
//	    {"id": "…", "name": "product_viewed", "timestamp": "2026-01-01T00:00:00.000Z",
//	     "data": {"product_id": "123", "variant_id": "456", "product_title": "…", "variant_title": "…",
//	              "price": "19.90", "currency": "EUR", "url": "/products/x",
//	              "quantity": 1, "cart_token": "…", "checkout_token": "…",
//	              "email": "…", "order_id": "…"}}
//	  ]
//	}
//
// Names: product_viewed, collection_viewed, product_added_to_cart,
// checkout_started, checkout_contact_info_submitted, checkout_completed;
// any other name is dropped. Ids may be numbers, numeric strings or
// Shopify GIDs. email is kept only on checkout_contact_info_submitted; any
// field not listed above is dropped before anything is stored. Answers: 204
// accepted (also for a retried batch), 400 malformed, 404 shop not
// installed, 413 body over 64 KB, 429 rate-limited (Retry-After), 503 try
// later.
package pixel

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/relance/relance/internal/contact"
	"github.com/relance/relance/internal/shopify"
)

// Topic is the inbox topic of a pixel batch.
const Topic = "pixel/events"

// Limits of one request.
const (
	MaxBodyBytes   = 64 << 10
	MaxEvents      = 50
	maxClientID    = 128
	maxEventID     = 128
	maxToken       = 256
	maxTitle       = 200
	maxURL         = 1024
	maxRLToken     = 64
	maxEmailLength = 254
)

// Event names the pixel sends.
const (
	ProductViewed       = "product_viewed"
	CollectionViewed    = "collection_viewed"
	ProductAddedToCart  = "product_added_to_cart"
	CheckoutStarted     = "checkout_started"
	CheckoutContactInfo = "checkout_contact_info_submitted"
	CheckoutCompleted   = "checkout_completed"
)

var knownNames = map[string]bool{ProductViewed: true, CollectionViewed: true, ProductAddedToCart: true,
	CheckoutStarted: true, CheckoutContactInfo: true, CheckoutCompleted: true}

// Batch is a validated, sanitized request: exactly what is stored in the
// inbox (nothing the contract does not list).
type Batch struct {
	Shop       string  `json:"shop"`
	ClientID   string  `json:"client_id"`
	CustomerID int64   `json:"customer_id,omitempty"`
	RL         string  `json:"rl,omitempty"`
	Events     []Event `json:"events"`
}

// Event is one sanitized storefront event.
type Event struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Timestamp time.Time `json:"timestamp"`
	Data      Data      `json:"data"`
}

// Data is what an event may carry.
type Data struct {
	ProductID     string `json:"product_id,omitempty"`
	VariantID     string `json:"variant_id,omitempty"`
	ProductTitle  string `json:"product_title,omitempty"`
	VariantTitle  string `json:"variant_title,omitempty"`
	Price         string `json:"price,omitempty"`
	Currency      string `json:"currency,omitempty"`
	URL           string `json:"url,omitempty"`
	Quantity      int    `json:"quantity,omitempty"`
	CartToken     string `json:"cart_token,omitempty"`
	CheckoutToken string `json:"checkout_token,omitempty"`
	Email         string `json:"email,omitempty"`
	OrderID       string `json:"order_id,omitempty"`
}

// errBad is a malformed request (400); its text says why, without echoing input.
type errBad string

func (e errBad) Error() string { return "pixel: " + string(e) }

// wire types: lenient where the pixel's values vary (ids as numbers or
// strings), strict on everything else.
type wireBatch struct {
	Shop       string          `json:"shop"`
	ClientID   string          `json:"client_id"`
	CustomerID json.RawMessage `json:"customer_id"`
	RL         string          `json:"rl"`
	Events     []wireEvent     `json:"events"`
}

type wireEvent struct {
	ID        json.RawMessage `json:"id"`
	Name      string          `json:"name"`
	Timestamp string          `json:"timestamp"`
	Data      *wireData       `json:"data"`
}

type wireData struct {
	ProductID     json.RawMessage `json:"product_id"`
	VariantID     json.RawMessage `json:"variant_id"`
	ProductTitle  string          `json:"product_title"`
	VariantTitle  string          `json:"variant_title"`
	Price         json.RawMessage `json:"price"`
	Currency      string          `json:"currency"`
	URL           string          `json:"url"`
	Quantity      json.RawMessage `json:"quantity"`
	CartToken     string          `json:"cart_token"`
	CheckoutToken string          `json:"checkout_token"`
	Email         string          `json:"email"`
	OrderID       json.RawMessage `json:"order_id"`
}

// Parse validates and sanitizes a request body. now bounds timestamps: an
// event claiming a time more than 5 minutes ahead or 7 days back is
// stamped now (client clocks are not trusted to schedule emails).
func Parse(body []byte, now time.Time) (*Batch, error) {
	if !utf8.Valid(body) {
		return nil, errBad("body is not UTF-8")
	}
	var w wireBatch
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&w); err != nil {
		return nil, errBad("malformed JSON")
	}
	if dec.More() {
		return nil, errBad("trailing data after the JSON object")
	}
	shop, err := shopify.NormalizeShopDomain(w.Shop)
	if err != nil {
		return nil, errBad("shop is not a myshopify.com domain")
	}
	b := &Batch{Shop: shop}
	if b.ClientID, err = token(w.ClientID, maxClientID); err != nil || b.ClientID == "" {
		return nil, errBad("client_id missing or invalid")
	}
	if len(w.CustomerID) > 0 && string(w.CustomerID) != "null" {
		id, ok := numericID(w.CustomerID)
		if !ok {
			return nil, errBad("customer_id invalid")
		}
		b.CustomerID, _ = strconv.ParseInt(id, 10, 64)
	}
	if w.RL != "" {
		if b.RL, err = token(w.RL, maxRLToken); err != nil {
			return nil, errBad("rl invalid")
		}
	}
	if len(w.Events) == 0 || len(w.Events) > MaxEvents {
		return nil, errBad(fmt.Sprintf("events: between 1 and %d", MaxEvents))
	}
	for i := range w.Events {
		ev, err := parseEvent(&w.Events[i], now)
		if err != nil {
			return nil, errBad(fmt.Sprintf("events[%d]: %s", i, err))
		}
		if ev != nil {
			b.Events = append(b.Events, *ev)
		}
	}
	return b, nil
}

func parseEvent(w *wireEvent, now time.Time) (*Event, error) {
	id, ok := anyID(w.ID)
	if !ok || id == "" || len(id) > maxEventID {
		return nil, errors.New("id missing or invalid")
	}
	if w.Name == "" || len(w.Name) > 64 {
		return nil, errors.New("name missing or invalid")
	}
	ts, err := time.Parse(time.RFC3339Nano, w.Timestamp)
	if err != nil {
		return nil, errors.New("timestamp is not RFC 3339")
	}
	if !knownNames[w.Name] {
		return nil, nil // another standard event: not ours, dropped
	}
	if ts.After(now.Add(5*time.Minute)) || ts.Before(now.Add(-7*24*time.Hour)) {
		ts = now
	}
	ev := &Event{ID: id, Name: w.Name, Timestamp: ts.UTC().Truncate(time.Microsecond)}
	if w.Data == nil {
		return ev, nil
	}
	d, wd := &ev.Data, w.Data
	var okP, okV, okO bool
	if d.ProductID, okP = numericIDOpt(wd.ProductID); !okP {
		return nil, errors.New("data.product_id invalid")
	}
	if d.VariantID, okV = numericIDOpt(wd.VariantID); !okV {
		return nil, errors.New("data.variant_id invalid")
	}
	if d.OrderID, okO = numericIDOpt(wd.OrderID); !okO {
		return nil, errors.New("data.order_id invalid")
	}
	d.ProductTitle, d.VariantTitle = text(wd.ProductTitle, maxTitle), text(wd.VariantTitle, maxTitle)
	if len(wd.Price) > 0 && string(wd.Price) != "null" {
		p := strings.Trim(string(wd.Price), `"`)
		if contact.Decimal(p) == "0" && p != "0" {
			return nil, errors.New("data.price invalid")
		}
		d.Price = contact.Decimal(p)
	}
	if c := strings.ToUpper(strings.TrimSpace(wd.Currency)); len(c) == 3 && isAlpha(c) {
		d.Currency = c
	}
	if u := strings.TrimSpace(wd.URL); u != "" && len(u) <= maxURL && strings.HasPrefix(u, "/") && !strings.HasPrefix(u, "//") && !strings.ContainsAny(u, "\\\x00\r\n") {
		d.URL = u
	}
	if len(wd.Quantity) > 0 && string(wd.Quantity) != "null" {
		q, err := strconv.Atoi(string(wd.Quantity))
		if err != nil || q < 0 || q > 10000 {
			return nil, errors.New("data.quantity invalid")
		}
		d.Quantity = q
	}
	var err1, err2 error
	d.CartToken, err1 = token(wd.CartToken, maxToken)
	d.CheckoutToken, err2 = token(wd.CheckoutToken, maxToken)
	if err1 != nil || err2 != nil {
		return nil, errors.New("data token invalid")
	}
	// PII only where the contract expects it; anywhere else it is dropped.
	if w.Name == CheckoutContactInfo && len(wd.Email) <= maxEmailLength {
		d.Email = contact.NormalizeEmail(wd.Email)
	}
	return ev, nil
}

// token accepts an opaque identifier: printable ASCII without spaces,
// quotes or backslashes, at most max bytes. Shopify cart tokens carry a
// "?key=" suffix in some versions; it is kept, as webhooks carry the same.
func token(s string, max int) (string, error) {
	s = strings.TrimSpace(s)
	if len(s) > max {
		return "", errors.New("too long")
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' {
			return "", errors.New("invalid character")
		}
	}
	return s, nil
}

func text(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > max {
		s = string(r[:max])
	}
	return s
}

func isAlpha(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

// anyID reads an id sent as a JSON string or number.
func anyID(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 {
		return "", false
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "", false
		}
		s, err := token(s, maxEventID)
		return s, err == nil
	}
	var n json.Number
	if json.Unmarshal(raw, &n) != nil {
		return "", false
	}
	return n.String(), true
}

// numericID reads a positive Shopify id: a number, a numeric string or a
// GID ("gid://shopify/Product/123").
func numericID(raw json.RawMessage) (string, bool) {
	s, ok := anyID(raw)
	if !ok {
		return "", false
	}
	if i := strings.LastIndexByte(s, '/'); i >= 0 && strings.HasPrefix(s, "gid://shopify/") {
		s = s[i+1:]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return "", false
	}
	return strconv.FormatInt(n, 10), true
}

func numericIDOpt(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || string(raw) == "null" || string(raw) == `""` {
		return "", true
	}
	return numericID(raw)
}
