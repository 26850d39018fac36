package contact

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// ErrNoIdentity is returned by Upsert when the profile has neither an email
// nor a customer id: there is nobody to attach the data to.
var ErrNoIdentity = errors.New("contact: no email and no customer id")

// Store reads and writes contacts with gorm. It is safe for concurrent use.
type Store struct{ db *gorm.DB }

// NewStore returns a Store on db.
func NewStore(db *gorm.DB) *Store { return &Store{db: db} }

// WithTx returns a Store whose queries run in tx.
func (s *Store) WithTx(tx *gorm.DB) *Store { return &Store{db: tx} }

// Profile is what a payload tells about a shopper. UpdatedAt is the
// customer record's updated_at when the profile comes from a customers/*
// payload: an older one never overwrites names or email set by a newer one.
type Profile struct {
	Email      string
	CustomerID int64
	FirstName  string
	LastName   string
	Locale     string
	UpdatedAt  *time.Time
}

// Upsert finds the contact by customer id, then by email, creates it when
// neither matches, and fills in identifiers it lacked. An identifier already
// held by another contact is left where it is (contacts are never merged
// implicitly). Returns ErrNoIdentity when p has no email and no customer id.
func (s *Store) Upsert(ctx context.Context, shopID int64, p Profile) (*Contact, error) {
	email := NormalizeEmail(p.Email)
	if email == "" && p.CustomerID == 0 {
		return nil, ErrNoIdentity
	}
	// A concurrent insert of the same shopper makes ours a no-op; find it then.
	for range 3 {
		c, err := s.upsertOnce(ctx, shopID, email, p)
		if errors.Is(err, errRaced) {
			continue
		}
		return c, err
	}
	return nil, fmt.Errorf("contact: upsert in shop %d: %w", shopID, errRaced)
}

var errRaced = errors.New("contact: concurrent insert")

func (s *Store) upsertOnce(ctx context.Context, shopID int64, email string, p Profile) (*Contact, error) {
	var byCustomer, byEmail *Contact
	var err error
	if p.CustomerID != 0 {
		if byCustomer, err = s.find(ctx, shopID, "customer_id = ?", p.CustomerID); err != nil {
			return nil, err
		}
	}
	if email != "" {
		if byEmail, err = s.find(ctx, shopID, "email = ?", email); err != nil {
			return nil, err
		}
	}
	c := byCustomer
	if c == nil {
		c = byEmail
	}
	if c == nil {
		return s.insert(ctx, shopID, email, p)
	}

	stale := p.UpdatedAt != nil && c.CustomerUpdatedAt != nil && p.UpdatedAt.Before(*c.CustomerUpdatedAt)
	set := map[string]any{}
	if c.CustomerID == nil && p.CustomerID != 0 && byCustomer == nil {
		set["customer_id"] = p.CustomerID
	}
	if email != "" && byEmail == nil {
		// Fill a missing email; replace one only from a fresh customer record
		// (the shopper changed it in Shopify).
		if c.Email == nil || (p.UpdatedAt != nil && !stale) {
			set["email"] = email
		}
	}
	if !stale {
		if p.FirstName != "" && p.FirstName != c.FirstName {
			set["first_name"] = p.FirstName
		}
		if p.LastName != "" && p.LastName != c.LastName {
			set["last_name"] = p.LastName
		}
		if p.Locale != "" && p.Locale != c.Locale {
			set["locale"] = p.Locale
		}
		if p.UpdatedAt != nil {
			set["customer_updated_at"] = *p.UpdatedAt
		}
	}
	if len(set) == 0 {
		return c, nil
	}
	set["updated_at"] = gorm.Expr("now()")
	// A unique violation here means another contact took the email or
	// customer id meanwhile; the error makes the delivery retry and re-read.
	if err := s.db.WithContext(ctx).Model(&Contact{}).Where("shop_id = ? AND id = ?", shopID, c.ID).Updates(set).Error; err != nil {
		return nil, fmt.Errorf("contact: update %d in shop %d: %w", c.ID, shopID, err)
	}
	return s.Get(ctx, shopID, c.ID)
}

func (s *Store) insert(ctx context.Context, shopID int64, email string, p Profile) (*Contact, error) {
	var emailArg, customerArg any
	if email != "" {
		emailArg = email
	}
	if p.CustomerID != 0 {
		customerArg = p.CustomerID
	}
	var out []Contact
	err := s.db.WithContext(ctx).Raw(`
		INSERT INTO contacts (shop_id, email, customer_id, first_name, last_name, locale, customer_updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT DO NOTHING
		RETURNING *`, shopID, emailArg, customerArg, p.FirstName, p.LastName, p.Locale, p.UpdatedAt).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("contact: insert in shop %d: %w", shopID, err)
	}
	if len(out) == 0 {
		return nil, errRaced
	}
	return &out[0], nil
}

func (s *Store) find(ctx context.Context, shopID int64, where string, arg any) (*Contact, error) {
	var out []Contact
	if err := s.db.WithContext(ctx).Where("shop_id = ?", shopID).Where(where, arg).Limit(1).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("contact: find in shop %d: %w", shopID, err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return &out[0], nil
}

// Get returns a contact, or ErrNotFound.
func (s *Store) Get(ctx context.Context, shopID, id int64) (*Contact, error) {
	c, err := s.find(ctx, shopID, "id = ?", id)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, ErrNotFound
	}
	return c, nil
}

// Lock reads a contact and locks its row until the surrounding transaction
// ends (s must come from WithTx). FOR NO KEY UPDATE, not FOR UPDATE, so rows
// referencing the contact can still be inserted from other connections.
func (s *Store) Lock(ctx context.Context, shopID, id int64) (*Contact, error) {
	var out []Contact
	err := s.db.WithContext(ctx).Raw(`SELECT * FROM contacts WHERE shop_id = ? AND id = ? FOR NO KEY UPDATE`, shopID, id).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("contact: lock %d in shop %d: %w", id, shopID, err)
	}
	if len(out) == 0 {
		return nil, ErrNotFound
	}
	return &out[0], nil
}

// ByCustomerID returns the contact holding a Shopify customer id, or ErrNotFound.
func (s *Store) ByCustomerID(ctx context.Context, shopID, customerID int64) (*Contact, error) {
	c, err := s.find(ctx, shopID, "customer_id = ?", customerID)
	if err == nil && c == nil {
		err = ErrNotFound
	}
	return c, err
}

// ByEmail returns the contact holding an email (any case), or ErrNotFound.
func (s *Store) ByEmail(ctx context.Context, shopID int64, email string) (*Contact, error) {
	e := NormalizeEmail(email)
	if e == "" {
		return nil, ErrNotFound
	}
	c, err := s.find(ctx, shopID, "email = ?", e)
	if err == nil && c == nil {
		err = ErrNotFound
	}
	return c, err
}

// ByIdentity returns the contact a secondary identity is tied to, or
// ErrNotFound when it is unknown or still anonymous.
func (s *Store) ByIdentity(ctx context.Context, shopID int64, kind IdentityKind, value string) (*Contact, error) {
	var out []Contact
	err := s.db.WithContext(ctx).Raw(`
		SELECT c.* FROM contact_identities i JOIN contacts c ON c.id = i.contact_id
		WHERE i.shop_id = ? AND i.kind = ? AND i.value = ?`, shopID, kind, value).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("contact: identity %s in shop %d: %w", kind, shopID, err)
	}
	if len(out) == 0 {
		return nil, ErrNotFound
	}
	return &out[0], nil
}

// Activity is what a secondary identity last did (a cart's content, a
// product view), kept while the identity may still be anonymous.
type Activity struct {
	Kind  IdentityKind
	Value string
	At    time.Time
	Data  json.RawMessage
}

// Touch records an identity's latest activity, anonymous or not. It returns
// the contact the identity is tied to (0 while anonymous) and fresh=false
// when at is older than the activity already held (an out-of-order
// delivery), in which case nothing is written.
func (s *Store) Touch(ctx context.Context, shopID int64, kind IdentityKind, value string, at time.Time, data json.RawMessage) (contactID int64, fresh bool, err error) {
	if len(data) == 0 {
		data = json.RawMessage(`{}`)
	}
	var rows []struct{ ContactID *int64 }
	err = s.db.WithContext(ctx).Raw(`
		INSERT INTO contact_identities (shop_id, kind, value, last_activity_at, activity)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (shop_id, kind, value) DO UPDATE
		SET last_activity_at = EXCLUDED.last_activity_at, activity = EXCLUDED.activity, updated_at = now()
		WHERE contact_identities.last_activity_at IS NULL OR contact_identities.last_activity_at <= EXCLUDED.last_activity_at
		RETURNING contact_id`, shopID, kind, value, at, string(data)).Scan(&rows).Error
	if err != nil {
		return 0, false, fmt.Errorf("contact: touch %s in shop %d: %w", kind, shopID, err)
	}
	if len(rows) == 1 {
		if rows[0].ContactID != nil {
			contactID = *rows[0].ContactID
		}
		return contactID, true, nil
	}
	err = s.db.WithContext(ctx).Raw(`SELECT contact_id FROM contact_identities WHERE shop_id = ? AND kind = ? AND value = ?`,
		shopID, kind, value).Scan(&rows).Error
	if err != nil {
		return 0, false, fmt.Errorf("contact: read %s in shop %d: %w", kind, shopID, err)
	}
	if len(rows) == 1 && rows[0].ContactID != nil {
		contactID = *rows[0].ContactID
	}
	return contactID, false, nil
}

// Activity returns what a secondary identity last did, or nil when it is
// unknown or never had activity.
func (s *Store) Activity(ctx context.Context, shopID int64, kind IdentityKind, value string) (*Activity, error) {
	var rows []struct {
		LastActivityAt *time.Time
		Activity       string
	}
	err := s.db.WithContext(ctx).Raw(`SELECT last_activity_at, activity::text AS activity FROM contact_identities
		WHERE shop_id = ? AND kind = ? AND value = ?`, shopID, kind, value).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("contact: activity of %s in shop %d: %w", kind, shopID, err)
	}
	if len(rows) == 0 || rows[0].LastActivityAt == nil {
		return nil, nil
	}
	return &Activity{Kind: kind, Value: value, At: *rows[0].LastActivityAt, Data: json.RawMessage(rows[0].Activity)}, nil
}

// Link ties a secondary identity to a contact. When the identity was
// anonymous and had activity, that activity is returned so the caller can
// attribute it now; anonymous orders placed with that cart or checkout token
// are attributed to the contact as well. An identity already tied to another
// contact stays with it (first owner wins) and Link returns nil.
func (s *Store) Link(ctx context.Context, shopID, contactID int64, kind IdentityKind, value string) (*Activity, error) {
	if value == "" {
		return nil, nil
	}
	var act *Activity
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var rows []struct {
			ContactID      *int64
			LastActivityAt *time.Time
			Activity       string
		}
		err := tx.Raw(`SELECT contact_id, last_activity_at, activity::text AS activity FROM contact_identities
			WHERE shop_id = ? AND kind = ? AND value = ? FOR UPDATE`, shopID, kind, value).Scan(&rows).Error
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			return tx.Exec(`INSERT INTO contact_identities (shop_id, kind, value, contact_id) VALUES (?, ?, ?, ?)
				ON CONFLICT (shop_id, kind, value) DO UPDATE SET contact_id = EXCLUDED.contact_id
				WHERE contact_identities.contact_id IS NULL`, shopID, kind, value, contactID).Error
		}
		if rows[0].ContactID != nil {
			return nil
		}
		if err := tx.Exec(`UPDATE contact_identities SET contact_id = ?, updated_at = now() WHERE shop_id = ? AND kind = ? AND value = ?`,
			contactID, shopID, kind, value).Error; err != nil {
			return err
		}
		if rows[0].LastActivityAt != nil {
			act = &Activity{Kind: kind, Value: value, At: *rows[0].LastActivityAt, Data: json.RawMessage(rows[0].Activity)}
		}
		if kind == Cart || kind == Checkout {
			col := "cart_token"
			if kind == Checkout {
				col = "checkout_token"
			}
			res := tx.Exec(`UPDATE contact_orders SET contact_id = ? WHERE shop_id = ? AND contact_id IS NULL AND `+col+` = ?`,
				contactID, shopID, value)
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected > 0 {
				return refreshOrderStats(tx, shopID, contactID)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("contact: link %s to %d in shop %d: %w", kind, contactID, shopID, err)
	}
	return act, nil
}

// SetConsent applies a consent change that happened at at. Changes apply in
// timestamp order: one older than the change held is ignored (applied=false).
// On equal timestamps an unsubscribe wins, so the outcome does not depend on
// arrival order.
func (s *Store) SetConsent(ctx context.Context, shopID, contactID int64, state Consent, at time.Time, source string) (applied bool, err error) {
	res := s.db.WithContext(ctx).Exec(`
		UPDATE contacts SET consent = ?, consent_updated_at = ?, consent_source = ?, updated_at = now()
		WHERE shop_id = ? AND id = ?
		  AND (consent_updated_at IS NULL OR consent_updated_at < ? OR (consent_updated_at = ? AND ? = 'unsubscribed'))`,
		state, at, source, shopID, contactID, at, at, state)
	if res.Error != nil {
		return false, fmt.Errorf("contact: set consent of %d in shop %d: %w", contactID, shopID, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// Suppress stops every email to the contact (hard bounce, complaint,
// sunset). The first reason is kept.
func (s *Store) Suppress(ctx context.Context, shopID, contactID int64, reason string, at time.Time) error {
	err := s.db.WithContext(ctx).Exec(`UPDATE contacts SET suppressed_at = ?, suppression_reason = ?, updated_at = now()
		WHERE shop_id = ? AND id = ? AND suppressed_at IS NULL`, at, reason, shopID, contactID).Error
	if err != nil {
		return fmt.Errorf("contact: suppress %d in shop %d: %w", contactID, shopID, err)
	}
	return nil
}

// Engagement kinds for RecordEngagement.
const (
	Open  = "open"
	Click = "click"
)

// RecordEngagement moves last_open_at or last_click_at forward (never back).
func (s *Store) RecordEngagement(ctx context.Context, shopID, contactID int64, kind string, at time.Time) error {
	col := map[string]string{Open: "last_open_at", Click: "last_click_at"}[kind]
	if col == "" {
		return fmt.Errorf("contact: unknown engagement %q", kind)
	}
	err := s.db.WithContext(ctx).Exec(`UPDATE contacts SET `+col+` = ?, updated_at = now()
		WHERE shop_id = ? AND id = ? AND (`+col+` IS NULL OR `+col+` < ?)`, at, shopID, contactID, at).Error
	if err != nil {
		return fmt.Errorf("contact: record %s of %d in shop %d: %w", kind, contactID, shopID, err)
	}
	return nil
}

// DetachCustomer forgets a deleted Shopify customer id and returns the
// contact that held it (0 when none did). The contact itself stays: its
// email may still be a subscriber.
func (s *Store) DetachCustomer(ctx context.Context, shopID, customerID int64) (int64, error) {
	var ids []int64
	err := s.db.WithContext(ctx).Raw(`UPDATE contacts SET customer_id = NULL, updated_at = now()
		WHERE shop_id = ? AND customer_id = ? RETURNING id`, shopID, customerID).Scan(&ids).Error
	if err != nil {
		return 0, fmt.Errorf("contact: detach customer in shop %d: %w", shopID, err)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	return ids[0], nil
}
