package shop

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sync/singleflight"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/relance/relance/internal/shopify"
)

// refreshAhead is how early an expiring access token is renewed, so a call
// never starts with a token that dies in flight (same margin as Shopify's libraries).
const refreshAhead = 5 * time.Minute

// refreshTimeout bounds one refresh, which runs detached from the caller's
// context because other callers may be waiting on it.
const refreshTimeout = 30 * time.Second

// Refresher renews an expiring offline token (shopify.OAuth satisfies it).
type Refresher interface {
	Refresh(ctx context.Context, shop, refreshToken string) (*shopify.Token, error)
}

// Tokens hands out offline access tokens (shopify.TokenSource).
//
// Shopify keeps one refreshable token per app and store, and a refresh
// retires the previous refresh token, so refreshes of one shop must never
// race: they are collapsed per process (singleflight) and serialized across
// processes by locking the shop row.
type Tokens struct {
	Store *Store
	OAuth Refresher

	group singleflight.Group
}

var _ shopify.TokenSource = (*Tokens)(nil)

// NewTokens returns a token source over the store.
func NewTokens(store *Store, oauth Refresher) *Tokens {
	return &Tokens{Store: store, OAuth: oauth}
}

// AccessToken returns the shop's access token, refreshing it first when it
// expires within five minutes. Errors: ErrNotInstalled, ErrReauthorize.
func (t *Tokens) AccessToken(ctx context.Context, domain string) (string, error) {
	s, err := t.Store.Installed(ctx, domain)
	if err != nil {
		return "", err
	}
	tok, err := t.Store.AccessToken(s)
	if err != nil {
		return "", err
	}
	if s.AccessTokenExpiresAt != nil && !s.AccessTokenExpiresAt.After(t.Store.now().Add(refreshAhead)) {
		return t.RefreshAccessToken(ctx, domain, tok)
	}
	return tok, nil
}

// RefreshAccessToken returns a token other than refused, the one Shopify
// just turned down or that is about to expire. If another goroutine or
// process already replaced it, the stored token is returned without calling
// Shopify. Errors: ErrNotInstalled, ErrReauthorize (tokens cleared).
func (t *Tokens) RefreshAccessToken(ctx context.Context, domain, refused string) (string, error) {
	// Keyed by the refused token too: a caller refusing the token a running
	// flight is about to return must not be handed it back.
	key := domain + "\x00" + refused
	ch := t.group.DoChan(key, func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refreshTimeout)
		defer cancel()
		return t.refresh(fctx, domain, refused)
	})
	select {
	case <-ctx.Done():
		return "", fmt.Errorf("shop: refresh %s token: %w", domain, ctx.Err())
	case r := <-ch:
		if r.Err != nil {
			return "", r.Err
		}
		return r.Val.(string), nil
	}
}

func (t *Tokens) refresh(ctx context.Context, domain, refused string) (string, error) {
	var (
		fresh      string
		reauth     bool
		refreshErr error
	)
	err := t.Store.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var s Shop
		err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("domain = ?", domain).Take(&s).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return ErrNotInstalled
		}
		if err != nil {
			return err
		}
		if !s.Installed() {
			return ErrNotInstalled
		}
		current, err := t.Store.Cipher.Open(domain, s.AccessTokenEnc)
		if err != nil {
			return err
		}
		if current != refused {
			fresh = current // someone refreshed while we waited for the lock
			return nil
		}
		now := t.Store.now()
		if len(s.RefreshTokenEnc) == 0 || (s.RefreshTokenExpiresAt != nil && !s.RefreshTokenExpiresAt.After(now)) {
			reauth = true
			return clearTokens(tx, domain, now)
		}
		rt, err := t.Store.Cipher.Open(domain, s.RefreshTokenEnc)
		if err != nil {
			return err
		}
		tok, err := t.OAuth.Refresh(ctx, domain, rt)
		if errors.Is(err, shopify.ErrInvalidGrant) {
			reauth = true
			refreshErr = err
			return clearTokens(tx, domain, now)
		}
		if err != nil {
			return err
		}
		if tok.AccessToken == "" {
			return errors.New("refresh answered without an access token")
		}
		access, err := t.Store.Cipher.Seal(domain, tok.AccessToken)
		if err != nil {
			return err
		}
		// Rotation: the old refresh token is retired once the new one is used.
		refresh := s.RefreshTokenEnc
		refreshExp := s.RefreshTokenExpiresAt
		if tok.RefreshToken != "" {
			if refresh, err = t.Store.Cipher.Seal(domain, tok.RefreshToken); err != nil {
				return err
			}
			refreshExp = nullTime(tok.RefreshExpiresAt)
		}
		fresh = tok.AccessToken
		return tx.Exec(`
UPDATE shops SET access_token_enc = ?, access_token_expires_at = ?,
    refresh_token_enc = ?, refresh_token_expires_at = ?, updated_at = ?
WHERE domain = ?`, access, nullTime(tok.ExpiresAt), refresh, refreshExp, now, domain).Error
	})
	if err != nil {
		return "", fmt.Errorf("shop: refresh %s token: %w", domain, err)
	}
	if reauth {
		if refreshErr != nil {
			return "", fmt.Errorf("shop: refresh %s token: %w (%w)", domain, ErrReauthorize, refreshErr)
		}
		return "", fmt.Errorf("shop: refresh %s token: %w", domain, ErrReauthorize)
	}
	return fresh, nil
}
