// Package shop owns installations: one row per shop that installed Relance,
// with its offline access token encrypted at rest, the scopes it granted and
// its install/uninstall history.
//
// Lifecycle events arrive out of order (webhooks are retried for hours), so
// every change that a late delivery could undo is guarded by a timestamp:
// an uninstall triggered before the latest install is ignored, and scopes
// only move forward in time.
package shop

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// Domain errors.
var (
	ErrNotFound     = errors.New("shop: not found")
	ErrNotInstalled = errors.New("shop: not installed")
	// ErrReauthorize means the stored grant is gone for good (refresh token
	// refused or expired): the merchant must open the app again, which runs
	// token exchange.
	ErrReauthorize = errors.New("shop: authorization lost, merchant must open the app again")
)

// Shop mirrors a row of the shops table.
type Shop struct {
	ID                    int64
	Domain                string
	ShopifyID             *int64
	Name                  string
	Email                 string
	Timezone              string
	Currency              string
	Scopes                Scopes
	ScopesUpdatedAt       *time.Time
	AccessTokenEnc        []byte `json:"-"`
	AccessTokenExpiresAt  *time.Time
	RefreshTokenEnc       []byte `json:"-"`
	RefreshTokenExpiresAt *time.Time
	InstalledAt           time.Time
	UninstalledAt         *time.Time
	CreatedAt             time.Time
	UpdatedAt             time.Time
}

// TableName is the SQL table (migrations/0001_shops.sql).
func (Shop) TableName() string { return "shops" }

// Installed reports whether the app is installed and holds a token.
func (s *Shop) Installed() bool {
	return s.UninstalledAt == nil && len(s.AccessTokenEnc) > 0
}

// HasUsableToken reports whether the stored grant can still produce an
// access token at now without the merchant: the access token is live, or
// the refresh token is. A non-expiring (legacy) token is always usable.
func (s *Shop) HasUsableToken(now time.Time) bool {
	if !s.Installed() {
		return false
	}
	if s.AccessTokenExpiresAt == nil || s.AccessTokenExpiresAt.After(now) {
		return true
	}
	return len(s.RefreshTokenEnc) > 0 && (s.RefreshTokenExpiresAt == nil || s.RefreshTokenExpiresAt.After(now))
}

// Info is what Relance keeps about a shop from the Admin API `shop` query.
type Info struct {
	ShopifyID int64
	Name      string
	Email     string
	Timezone  string // IANA
	Currency  string // ISO 4217
}

// Scopes is a PostgreSQL text[] column.
type Scopes []string

// Scan reads a text[] value.
func (s *Scopes) Scan(src any) error {
	var out []string
	if err := pgtype.NewMap().SQLScanner(&out).Scan(src); err != nil {
		return fmt.Errorf("shop: scan scopes: %w", err)
	}
	*s = out
	return nil
}

// Value writes a text[] literal.
func (s Scopes) Value() (driver.Value, error) {
	var b strings.Builder
	b.WriteByte('{')
	for i, v := range s {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		b.WriteString(strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String(), nil
}

// Has reports whether the granted scopes cover scope; a write_ scope implies
// its read_ counterpart, as Shopify grants it.
func (s Scopes) Has(scope string) bool {
	alt := ""
	if i := strings.Index(scope, "read_"); i >= 0 && (i == 0 || scope[:i] == "unauthenticated_") {
		alt = scope[:i] + "write_" + scope[i+len("read_"):]
	}
	for _, g := range s {
		if g == scope || (alt != "" && g == alt) {
			return true
		}
	}
	return false
}

// Missing lists the required scopes the grant does not cover.
func (s Scopes) Missing(required []string) []string {
	var out []string
	for _, r := range required {
		if !s.Has(r) {
			out = append(out, r)
		}
	}
	return out
}
