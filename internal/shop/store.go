package shop

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/relance/relance/internal/shopify"
)

// Store reads and writes the shops table. Tokens go in and out through
// Cipher; plaintext never reaches the database.
type Store struct {
	DB     *gorm.DB
	Cipher *Cipher
	Now    func() time.Time // nil: time.Now
}

// NewStore returns a Store encrypting with key (config.EncryptionKey).
func NewStore(db *gorm.DB, key []byte) (*Store, error) {
	c, err := NewCipher(key)
	if err != nil {
		return nil, err
	}
	return &Store{DB: db, Cipher: c}, nil
}

func (st *Store) now() time.Time {
	if st.Now != nil {
		return st.Now().UTC()
	}
	return time.Now().UTC()
}

// Get returns the shop row, installed or not. Errors: ErrNotFound.
func (st *Store) Get(ctx context.Context, domain string) (*Shop, error) {
	var s Shop
	err := st.DB.WithContext(ctx).Where("domain = ?", domain).Take(&s).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, fmt.Errorf("shop: get %s: %w", domain, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("shop: get %s: %w", domain, err)
	}
	return &s, nil
}

// Installed returns the shop only if the app is installed there and holds a
// token. Errors: ErrNotInstalled (unknown, uninstalled, or tokens cleared).
func (st *Store) Installed(ctx context.Context, domain string) (*Shop, error) {
	s, err := st.Get(ctx, domain)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("shop: installed %s: %w", domain, ErrNotInstalled)
	}
	if err != nil {
		return nil, err
	}
	if !s.Installed() {
		return nil, fmt.Errorf("shop: installed %s: %w", domain, ErrNotInstalled)
	}
	return s, nil
}

// SaveInstall records a (re)install: it upserts the row with the new token
// (encrypted) and the shop's info, clears uninstalled_at and sets
// installed_at to now, so an uninstall triggered before this moment and
// delivered late cannot undo it. The granted scopes are current as of now.
func (st *Store) SaveInstall(ctx context.Context, domain string, tok *shopify.Token, info Info) (*Shop, error) {
	if tok == nil || tok.AccessToken == "" {
		return nil, fmt.Errorf("shop: save install %s: no access token", domain)
	}
	access, err := st.Cipher.Seal(domain, tok.AccessToken)
	if err != nil {
		return nil, fmt.Errorf("shop: save install %s: %w", domain, err)
	}
	var refresh []byte
	if tok.RefreshToken != "" {
		if refresh, err = st.Cipher.Seal(domain, tok.RefreshToken); err != nil {
			return nil, fmt.Errorf("shop: save install %s: %w", domain, err)
		}
	}
	tz := info.Timezone
	if tz == "" {
		tz = "UTC"
	}
	var shopifyID *int64
	if info.ShopifyID != 0 {
		shopifyID = &info.ShopifyID
	}
	scopes := Scopes(tok.Scopes)
	if scopes == nil {
		scopes = Scopes{}
	}
	now := st.now()
	var s Shop
	err = st.DB.WithContext(ctx).Raw(`
INSERT INTO shops AS s (domain, shopify_id, name, email, timezone, currency, scopes, scopes_updated_at,
    access_token_enc, access_token_expires_at, refresh_token_enc, refresh_token_expires_at,
    installed_at, uninstalled_at, created_at, updated_at)
VALUES (@domain, @shopify_id, @name, @email, @timezone, @currency, @scopes, @now,
    @access, @access_exp, @refresh, @refresh_exp, @now, NULL, @now, @now)
ON CONFLICT (domain) DO UPDATE SET
    shopify_id = COALESCE(EXCLUDED.shopify_id, s.shopify_id),
    name = EXCLUDED.name, email = EXCLUDED.email, timezone = EXCLUDED.timezone, currency = EXCLUDED.currency,
    scopes = EXCLUDED.scopes, scopes_updated_at = EXCLUDED.scopes_updated_at,
    access_token_enc = EXCLUDED.access_token_enc, access_token_expires_at = EXCLUDED.access_token_expires_at,
    refresh_token_enc = EXCLUDED.refresh_token_enc, refresh_token_expires_at = EXCLUDED.refresh_token_expires_at,
    installed_at = EXCLUDED.installed_at, uninstalled_at = NULL, updated_at = EXCLUDED.updated_at
RETURNING *`, map[string]any{
		"domain": domain, "shopify_id": shopifyID, "name": info.Name, "email": info.Email,
		"timezone": tz, "currency": info.Currency, "scopes": scopes, "now": now,
		"access": access, "access_exp": nullTime(tok.ExpiresAt),
		"refresh": refresh, "refresh_exp": nullTime(tok.RefreshExpiresAt),
	}).Scan(&s).Error
	if err != nil {
		return nil, fmt.Errorf("shop: save install %s: %w", domain, err)
	}
	return &s, nil
}

// MarkUninstalled records an app/uninstalled delivery triggered at
// triggeredAt and clears the tokens (they no longer work). It is a no-op when
// the shop was (re)installed after triggeredAt, when it is already
// uninstalled, or when the shop is unknown: nothing is installed to undo.
// It reports whether the row changed.
func (st *Store) MarkUninstalled(ctx context.Context, domain string, triggeredAt time.Time) (bool, error) {
	res := st.DB.WithContext(ctx).Exec(`
UPDATE shops SET uninstalled_at = @at,
    access_token_enc = NULL, access_token_expires_at = NULL,
    refresh_token_enc = NULL, refresh_token_expires_at = NULL,
    updated_at = @now
WHERE domain = @domain AND uninstalled_at IS NULL AND installed_at <= @at`,
		map[string]any{"domain": domain, "at": triggeredAt.UTC(), "now": st.now()})
	if res.Error != nil {
		return false, fmt.Errorf("shop: mark %s uninstalled: %w", domain, res.Error)
	}
	return res.RowsAffected > 0, nil
}

// UpdateScopes records an app/scopes_update delivery. It applies only when
// triggeredAt is newer than the scopes already stored, since deliveries
// arrive out of order. It reports whether the row changed; an unknown shop
// changes nothing.
func (st *Store) UpdateScopes(ctx context.Context, domain string, scopes []string, triggeredAt time.Time) (bool, error) {
	sc := Scopes(scopes)
	if sc == nil {
		sc = Scopes{}
	}
	res := st.DB.WithContext(ctx).Exec(`
UPDATE shops SET scopes = @scopes, scopes_updated_at = @at, updated_at = @now
WHERE domain = @domain AND (scopes_updated_at IS NULL OR scopes_updated_at < @at)`,
		map[string]any{"domain": domain, "scopes": sc, "at": triggeredAt.UTC(), "now": st.now()})
	if res.Error != nil {
		return false, fmt.Errorf("shop: update %s scopes: %w", domain, res.Error)
	}
	return res.RowsAffected > 0, nil
}

// ClearTokens forgets the shop's tokens without marking it uninstalled: the
// grant is dead (refresh refused) and only the merchant can renew it.
func (st *Store) ClearTokens(ctx context.Context, domain string) error {
	if err := clearTokens(st.DB.WithContext(ctx), domain, st.now()); err != nil {
		return fmt.Errorf("shop: clear %s tokens: %w", domain, err)
	}
	return nil
}

func clearTokens(db *gorm.DB, domain string, now time.Time) error {
	return db.Exec(`
UPDATE shops SET access_token_enc = NULL, access_token_expires_at = NULL,
    refresh_token_enc = NULL, refresh_token_expires_at = NULL, updated_at = ?
WHERE domain = ?`, now, domain).Error
}

// AccessToken decrypts the stored access token. Errors: ErrNotInstalled when
// the row holds none, ErrDecrypt when it does not open.
func (st *Store) AccessToken(s *Shop) (string, error) {
	if len(s.AccessTokenEnc) == 0 {
		return "", fmt.Errorf("shop: access token of %s: %w", s.Domain, ErrNotInstalled)
	}
	tok, err := st.Cipher.Open(s.Domain, s.AccessTokenEnc)
	if err != nil {
		return "", fmt.Errorf("shop: access token of %s: %w", s.Domain, err)
	}
	return tok, nil
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// WithInstallLock runs fn in a transaction holding the shop's install lock,
// with a Store bound to that transaction. Installs (OAuth callback, token
// exchange) take it because each grant retires the previous one: two racing
// installs must not let the older token be saved last.
func (st *Store) WithInstallLock(ctx context.Context, domain string, fn func(tx *Store) error) error {
	err := st.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec(`SELECT pg_advisory_xact_lock(hashtextextended(?, 7262))`, "shop-install:"+domain).Error; err != nil {
			return fmt.Errorf("shop: lock %s install: %w", domain, err)
		}
		return fn(&Store{DB: tx, Cipher: st.Cipher, Now: st.Now})
	})
	return err
}
