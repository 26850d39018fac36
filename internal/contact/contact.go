// Package contact holds a shop's shoppers: who they are (email, Shopify
// customer id, checkout and cart tokens, storefront client ids), whether they
// may be emailed (consent, suppression), what they bought (order history) and
// how they engage (last open and click, filled by the mail package).
//
// Every function takes the shop id and every query is scoped to it.
package contact

import (
	"errors"
	"regexp"
	"strings"
	"time"
)

// ErrNotFound is returned when no contact of the shop matches.
var ErrNotFound = errors.New("contact: not found")

// Consent is the email marketing consent state, as Shopify names it.
type Consent string

// Consent states. Only Subscribed allows promotional email.
const (
	Subscribed    Consent = "subscribed"
	NotSubscribed Consent = "not_subscribed"
	Unsubscribed  Consent = "unsubscribed"
	Pending       Consent = "pending"
)

// ParseConsent maps a Shopify state (any case; "SUBSCRIBED", "pending", …) to
// a Consent. Read-only Shopify states that mean "do not email" (redacted,
// invalid) map to Unsubscribed; ok is false for an unknown value.
func ParseConsent(s string) (c Consent, ok bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "subscribed":
		return Subscribed, true
	case "not_subscribed":
		return NotSubscribed, true
	case "unsubscribed", "redacted", "invalid":
		return Unsubscribed, true
	case "pending":
		return Pending, true
	}
	return "", false
}

// Contact is one shopper of one shop. Email and CustomerID are nil when
// unknown.
type Contact struct {
	ID                int64
	ShopID            int64
	Email             *string
	CustomerID        *int64
	FirstName         string
	LastName          string
	Locale            string
	Consent           Consent
	ConsentUpdatedAt  *time.Time
	ConsentSource     string
	SuppressedAt      *time.Time
	SuppressionReason string
	CustomerUpdatedAt *time.Time
	OrdersCount       int
	FirstOrderAt      *time.Time
	LastOrderAt       *time.Time
	TotalSpent        string // decimal, shop currency
	LastOpenAt        *time.Time
	LastClickAt       *time.Time
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

// TableName maps Contact to its table.
func (Contact) TableName() string { return "contacts" }

// EmailAddress returns the email or "".
func (c *Contact) EmailAddress() string {
	if c.Email == nil {
		return ""
	}
	return *c.Email
}

// Suppressed reports whether nothing at all may be sent to the contact:
// suppressed (bounce, complaint, sunset) or unsubscribed.
func (c *Contact) Suppressed() bool {
	return c.SuppressedAt != nil || c.Consent == Unsubscribed
}

// IdentityKind names a secondary identifier.
type IdentityKind string

// Secondary identifiers a contact can be known by.
const (
	Checkout IdentityKind = "checkout" // checkout token
	Cart     IdentityKind = "cart"     // cart token
	Client   IdentityKind = "client"   // web pixel clientId
)

// NormalizeEmail lowercases and trims an address; it returns "" for anything
// that is not plausibly an email, so callers treat it as missing.
func NormalizeEmail(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if !emailRE.MatchString(s) {
		return ""
	}
	return s
}

var emailRE = regexp.MustCompile(`^[^\s@]+@[^\s@]+\.[^\s@]+$`)

var decimalRE = regexp.MustCompile(`^-?[0-9]{1,15}(\.[0-9]{1,4})?$`)

// Decimal returns s when it is a plain decimal string as Shopify sends money
// ("421.88"), else "0", so a malformed amount never fails a whole delivery.
func Decimal(s string) string {
	s = strings.TrimSpace(s)
	if !decimalRE.MatchString(s) {
		return "0"
	}
	return s
}
