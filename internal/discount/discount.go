// Package discount turns a step's cart-value tier table into a unique,
// single-use, expiring discount code created through the Admin GraphQL API,
// records redemptions from orders, and cleans up codes that expired unused.
//
// Creating a code is idempotent per (enrollment, step): the code and every
// parameter are reserved in PostgreSQL before Shopify is called, so a retry
// after a timeout, a crash or a concurrent worker sends the very same
// request, and Shopify's "code taken" (or a lookup by code) proves the first
// attempt went through. One (enrollment, step) never gets two codes.
package discount

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/relance/relance/internal/shopify"
)

// Errors of CodeFor besides ValidationError, RejectedError and the API's.
var (
	// ErrBadRequest is a Request missing or malforming an identifier.
	ErrBadRequest = errors.New("discount: bad request")
	// ErrCurrencyMismatch: the cart is not in the table's currency.
	ErrCurrencyMismatch = errors.New("discount: cart currency differs from the tier table's")
	// ErrExpired: the (enrollment, step)'s code ended (or its reservation
	// ended before Shopify confirmed it); no other code will be made for it.
	ErrExpired = errors.New("discount: code expired before it could be created")
	// ErrBusy: another worker is creating this code right now and did not
	// finish while the caller waited. Retry later.
	ErrBusy = errors.New("discount: code creation in progress elsewhere")
)

// Code statuses (discount_codes.status).
const (
	StatusReserved = "reserved" // chosen and stored, not yet confirmed by Shopify
	StatusCreated  = "created"  // exists at Shopify
	StatusFailed   = "failed"   // Shopify refused it (userErrors)
	StatusRedeemed = "redeemed" // used by an order
	StatusExpired  = "expired"  // past its end, removed from Shopify (or never created)
)

// Code is a discount code for one (enrollment, step), as the mail renderer
// shows it.
type Code struct {
	ID   int64  `json:"id"`
	Code string `json:"code"`
	Kind Kind   `json:"kind"`
	// Percent off (1..100) for KindPercentage.
	Percent int `json:"percent,omitempty"`
	// Amount off, in Currency, for KindFixedAmount.
	Amount Amount `json:"amount,omitzero"`
	// Minimum order subtotal, zero when none.
	Minimum  Amount    `json:"minimum,omitzero"`
	Currency string    `json:"currency,omitempty"`
	StartsAt time.Time `json:"starts_at"`
	EndsAt   time.Time `json:"ends_at"`
	Status   string    `json:"status"`
	// ShopifyID is the DiscountCodeNode gid.
	ShopifyID string `json:"shopify_id"`
}

// Request asks for the code of one step of one enrollment.
type Request struct {
	ShopID       int64
	ShopDomain   string
	EnrollmentID int64
	// Step identifies the step within the enrollment (its key); one code
	// per (EnrollmentID, Step).
	Step string
	// CustomerGID restricts the code to that customer
	// ("gid://shopify/Customer/123"); "" makes it usable by any buyer
	// (still single-use).
	CustomerGID string
	// CartValue is the cart's subtotal as a decimal string in Currency ("" = 0).
	CartValue   string
	Currency    string
	NewCustomer bool
	Tiers       Table
}

var customerGIDRe = regexp.MustCompile(`^gid://shopify/Customer/[1-9][0-9]{0,19}$`)

// Service creates and tracks codes.
type Service struct {
	db  *gorm.DB
	api GraphQL

	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// ClaimTTL is how long one caller may talk to Shopify about a code
	// before another may take over (default 2 minutes).
	ClaimTTL time.Duration
	// PollInterval is how often a caller waiting on another's claim looks
	// again (default 50 ms).
	PollInterval time.Duration
	// CleanupGrace is how long after its end CleanupExpired leaves a code
	// alone (0: DefaultCleanupGrace; negative: none).
	CleanupGrace time.Duration
	// Rand is the source of codes (nil: crypto/rand).
	Rand io.Reader

	// afterCreate, for tests, runs after Shopify confirmed a code and
	// before the row is updated; an error simulates a crash there.
	afterCreate func() error
}

// New returns a service over db that calls the Admin API through api.
func New(db *gorm.DB, api GraphQL) *Service {
	return &Service{db: db, api: api}
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Service) claimTTL() time.Duration {
	if s.ClaimTTL > 0 {
		return s.ClaimTTL
	}
	return 2 * time.Minute
}

func (s *Service) pollInterval() time.Duration {
	if s.PollInterval > 0 {
		return s.PollInterval
	}
	return 50 * time.Millisecond
}

// codeRow mirrors discount_codes.
type codeRow struct {
	ID           int64
	ShopID       int64
	ShopDomain   string
	EnrollmentID int64
	Step         string
	Code         string
	Title        string
	Kind         string
	Percent      int
	Amount       Amount
	Minimum      Amount
	Currency     string
	CustomerGID  string `gorm:"column:customer_gid"`
	StartsAt     time.Time
	EndsAt       time.Time
	Status       string
	ShopifyID    string
	Error        string
	Attempts     int
	ClaimToken   *string
	ClaimedUntil *time.Time
	RedeemedAt   *time.Time
	CleanedAt    *time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

func (codeRow) TableName() string { return "discount_codes" }

func (r *codeRow) code() *Code {
	return &Code{
		ID: r.ID, Code: r.Code, Kind: Kind(r.Kind), Percent: r.Percent, Amount: r.Amount, Minimum: r.Minimum,
		Currency: r.Currency, StartsAt: r.StartsAt.UTC(), EndsAt: r.EndsAt.UTC(), Status: r.Status, ShopifyID: r.ShopifyID,
	}
}

func (r *codeRow) rejection() error {
	return &RejectedError{Op: "create code " + r.Code, Errors: shopify.UserErrors{{Message: r.Error}}}
}

func validRequest(req *Request) error {
	switch {
	case req.ShopID <= 0:
		return fmt.Errorf("%w: shop id %d", ErrBadRequest, req.ShopID)
	case !shopify.ValidShopDomain(req.ShopDomain):
		return fmt.Errorf("%w: shop domain %q", ErrBadRequest, req.ShopDomain)
	case req.EnrollmentID <= 0:
		return fmt.Errorf("%w: enrollment id %d", ErrBadRequest, req.EnrollmentID)
	case strings.TrimSpace(req.Step) == "" || len(req.Step) > 200:
		return fmt.Errorf("%w: step %q", ErrBadRequest, req.Step)
	case req.CustomerGID != "" && !customerGIDRe.MatchString(req.CustomerGID):
		return fmt.Errorf("%w: customer gid %q", ErrBadRequest, req.CustomerGID)
	}
	return nil
}

// CodeFor returns the code of (req.EnrollmentID, req.Step), creating it at
// Shopify the first time: the tier for the cart and the shopper is chosen
// from req.Tiers, and nil, nil means no tier applies (no discount). Once a
// code exists for the pair it is returned as is, whatever the tiers say
// now. A redeemed code is returned as is (Status tells); a code past its
// end is ErrExpired, never replaced by a new one.
//
// Errors: ValidationError (ErrInvalid), ErrBadRequest, ErrCurrencyMismatch,
// RejectedError (ErrRejected, Shopify's userErrors, stored: later calls
// return it without calling Shopify), ErrExpired — all Permanent; and
// throttling, 5xx, network errors or ErrBusy, after which a retry resumes
// the same reservation.
func (s *Service) CodeFor(ctx context.Context, req Request) (*Code, error) {
	if err := validRequest(&req); err != nil {
		return nil, fmt.Errorf("discount: code for enrollment %d step %q: %w", req.EnrollmentID, req.Step, err)
	}
	c, err := s.codeFor(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("discount: code for enrollment %d step %q: %w", req.EnrollmentID, req.Step, err)
	}
	return c, nil
}

func (s *Service) codeFor(ctx context.Context, req Request) (*Code, error) {
	db := s.db.WithContext(ctx)
	row, err := s.find(db, req.EnrollmentID, req.Step)
	if err != nil {
		return nil, err
	}
	var token string
	if row == nil {
		if err := req.Tiers.Validate(); err != nil {
			return nil, err
		}
		cart, err := ParseAmount(req.CartValue)
		if err != nil {
			return nil, fmt.Errorf("cart value: %w", err)
		}
		cur := strings.ToUpper(strings.TrimSpace(req.Currency))
		if req.Tiers.Currency != "" && cur != "" && cur != req.Tiers.Currency {
			return nil, fmt.Errorf("%w: cart in %s, tiers in %s", ErrCurrencyMismatch, cur, req.Tiers.Currency)
		}
		if req.Tiers.Currency != "" {
			cur = req.Tiers.Currency
		}
		tier := req.Tiers.Choose(cart, Facts{NewCustomer: req.NewCustomer})
		if tier == nil {
			return nil, nil
		}
		row, token, err = s.reserve(db, req, *tier, cur)
		if err != nil {
			return nil, err
		}
	}
	waitUntil := time.Now().Add(s.claimTTL())
	for {
		switch row.Status {
		case StatusRedeemed:
			return row.code(), nil
		case StatusCreated:
			if !s.now().Before(row.EndsAt) {
				return nil, fmt.Errorf("%w: code %s ended at %s", ErrExpired, row.Code, row.EndsAt.UTC().Format(time.RFC3339))
			}
			return row.code(), nil
		case StatusExpired:
			return nil, fmt.Errorf("%w: code %s was cleaned up", ErrExpired, row.Code)
		case StatusFailed:
			return nil, row.rejection()
		}
		// Reserved: claim it (unless the reservation is ours already),
		// or wait for whoever holds it.
		if token == "" {
			token, err = s.claim(db, row.ID)
			if err != nil {
				return nil, err
			}
		}
		if token != "" {
			return s.complete(ctx, row, token)
		}
		if time.Now().After(waitUntil) {
			return nil, ErrBusy
		}
		if err := shopify.SleepContext(ctx, s.pollInterval()); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBusy, err)
		}
		if row, err = s.find(db, req.EnrollmentID, req.Step); err != nil {
			return nil, err
		}
		if row == nil {
			return nil, fmt.Errorf("reservation vanished (redacted?): %w", ErrBusy)
		}
	}
}

func (s *Service) find(db *gorm.DB, enrollmentID int64, step string) (*codeRow, error) {
	var rows []codeRow
	if err := db.Where("enrollment_id = ? AND step = ?", enrollmentID, step).Limit(1).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("find code: %w", err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	return &rows[0], nil
}

func newToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}

// title names the discount in the merchant's admin; it is also how a
// lookup recognizes a code as this reservation's.
func title(req Request) string {
	return fmt.Sprintf("Relance %s #%d", req.Step, req.EnrollmentID)
}

// reserve stores the chosen code, claimed by the caller. When another
// caller reserved the pair first, their row is returned without a token.
func (s *Service) reserve(db *gorm.DB, req Request, tier Tier, currency string) (*codeRow, string, error) {
	now := s.now().Truncate(time.Second)
	for range 5 {
		code, err := newCode(req.Tiers.prefix(), s.Rand)
		if err != nil {
			return nil, "", err
		}
		token := newToken()
		until := now.Add(s.claimTTL())
		r := codeRow{
			ShopID: req.ShopID, ShopDomain: strings.ToLower(req.ShopDomain), EnrollmentID: req.EnrollmentID, Step: req.Step,
			Code: code, Title: title(req), Kind: string(tier.Kind), Percent: tier.Percent, Amount: tier.Amount,
			Minimum: tier.Minimum, Currency: currency, CustomerGID: req.CustomerGID,
			StartsAt: now, EndsAt: now.Add(req.Tiers.Expiry()), Status: StatusReserved,
			Attempts: 1, ClaimToken: &token, ClaimedUntil: &until, CreatedAt: now, UpdatedAt: now,
		}
		var ids []int64
		// No conflict target: a taken (enrollment, step) and a taken code
		// both insert nothing; which one is told apart below.
		err = db.Raw(`INSERT INTO discount_codes (shop_id, shop_domain, enrollment_id, step, code, title, kind, percent, amount,
				minimum, currency, customer_gid, starts_at, ends_at, status, attempts, claim_token, claimed_until, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT DO NOTHING RETURNING id`,
			r.ShopID, r.ShopDomain, r.EnrollmentID, r.Step, r.Code, r.Title, r.Kind, r.Percent, r.Amount,
			r.Minimum, r.Currency, r.CustomerGID, r.StartsAt, r.EndsAt, r.Status, r.Attempts, token, until, now, now).
			Scan(&ids).Error
		if err != nil {
			return nil, "", fmt.Errorf("reserve code: %w", err)
		}
		if len(ids) == 1 {
			r.ID = ids[0]
			return &r, token, nil
		}
		existing, err := s.find(db, req.EnrollmentID, req.Step)
		if err != nil {
			return nil, "", err
		}
		if existing != nil {
			return existing, "", nil
		}
		// The random code collided with another of the shop's: draw again.
	}
	return nil, "", errors.New("reserve code: could not draw a free code")
}

// claim takes the lease on a reserved row whose lease is free or lapsed;
// "" when someone else holds it.
func (s *Service) claim(db *gorm.DB, id int64) (string, error) {
	now := s.now()
	token := newToken()
	res := db.Exec(`UPDATE discount_codes SET claim_token = ?, claimed_until = ?, attempts = attempts + 1, updated_at = ?
		WHERE id = ? AND status = ? AND (claimed_until IS NULL OR claimed_until <= ?)`,
		token, now.Add(s.claimTTL()), now, id, StatusReserved, now)
	if res.Error != nil {
		return "", fmt.Errorf("claim code: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return "", nil
	}
	return token, nil
}

// release gives the lease back after a transient failure, noting why.
func (s *Service) release(db *gorm.DB, id int64, token string, cause error) error {
	err := db.Exec(`UPDATE discount_codes SET claim_token = NULL, claimed_until = NULL, error = ?, updated_at = ?
		WHERE id = ? AND claim_token = ?`, truncate(cause.Error(), 1000), s.now(), id, token).Error
	if err != nil {
		return fmt.Errorf("release claim: %w", err)
	}
	return nil
}

// complete creates the reserved code at Shopify and records the outcome.
// The caller holds the lease (token).
func (s *Service) complete(ctx context.Context, row *codeRow, token string) (*Code, error) {
	db := s.db.WithContext(ctx)
	if !s.now().Before(row.EndsAt) {
		// Too late to offer it. Shopify may hold it from an earlier
		// attempt: the cleanup looks it up and removes it.
		if err := s.release(db, row.ID, token, ErrExpired); err != nil {
			return nil, err
		}
		return nil, ErrExpired
	}
	// Keep the call inside the lease, so a takeover only happens after
	// this attempt gave up.
	callCtx, cancel := context.WithTimeout(ctx, s.claimTTL())
	defer cancel()
	id, err := s.createOrFind(callCtx, db, row)
	if err != nil {
		var rej *RejectedError
		if errors.As(err, &rej) {
			if uerr := db.Exec(`UPDATE discount_codes SET status = ?, error = ?, claim_token = NULL, claimed_until = NULL, updated_at = ?
				WHERE id = ? AND status = ?`, StatusFailed, truncate(rej.Errors.Error(), 1000), s.now(), row.ID, StatusReserved).Error; uerr != nil {
				return nil, fmt.Errorf("record rejection: %w (after %w)", uerr, err)
			}
			return nil, err
		}
		if rerr := s.release(s.db.WithContext(context.WithoutCancel(ctx)), row.ID, token, err); rerr != nil {
			return nil, fmt.Errorf("%w (after %w)", rerr, err)
		}
		return nil, err
	}
	if s.afterCreate != nil {
		if err := s.afterCreate(); err != nil {
			return nil, err
		}
	}
	now := s.now()
	res := db.Exec(`UPDATE discount_codes SET status = ?, shopify_id = ?, error = '', claim_token = NULL, claimed_until = NULL, updated_at = ?
		WHERE id = ? AND status = ?`, StatusCreated, id, now, row.ID, StatusReserved)
	if res.Error != nil {
		return nil, fmt.Errorf("record created code: %w", res.Error)
	}
	// Whatever happened meanwhile (a takeover finished first, an order
	// already redeemed it), the row is the truth.
	final, err := s.find(db, row.EnrollmentID, row.Step)
	if err != nil {
		return nil, err
	}
	if final == nil {
		return nil, errors.New("code row vanished after creation")
	}
	return final.code(), nil
}

// createOrFind creates the row's code; when Shopify says the code is taken
// it looks the code up: ours (same title) means an earlier attempt went
// through; someone else's means a collision, and the reservation draws a
// new code (nothing of ours exists under the old one).
func (s *Service) createOrFind(ctx context.Context, db *gorm.DB, row *codeRow) (string, error) {
	for range 3 {
		id, err := s.create(ctx, row)
		if err == nil {
			return id, nil
		}
		if !errors.Is(err, errCodeTaken) {
			return "", err
		}
		rc, err := s.lookup(ctx, row.ShopDomain, row.Code)
		if err != nil {
			return "", err
		}
		if rc != nil && rc.Title == row.Title {
			return rc.ID, nil
		}
		code, err := newCode(prefixOf(row.Code), s.Rand)
		if err != nil {
			return "", err
		}
		res := db.Exec(`UPDATE discount_codes SET code = ?, updated_at = ? WHERE id = ? AND status = ? AND code = ?
			AND NOT EXISTS (SELECT 1 FROM discount_codes o WHERE o.shop_id = ? AND upper(o.code) = ?)`,
			code, s.now(), row.ID, StatusReserved, row.Code, row.ShopID, code)
		if res.Error != nil {
			return "", fmt.Errorf("redraw code: %w", res.Error)
		}
		if res.RowsAffected == 1 {
			row.Code = code
		}
	}
	return "", &RejectedError{Op: "create code", Errors: shopify.UserErrors{{Field: []string{"code"}, Code: "TAKEN", Message: "every code drawn was taken"}}}
}

func prefixOf(code string) string {
	p, _, _ := strings.Cut(code, "-")
	return p
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
