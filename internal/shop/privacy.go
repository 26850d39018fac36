package shop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// ExportRetention is how long a data export stays downloadable: it is a copy
// of personal data, kept only long enough for the merchant to pass it on.
const ExportRetention = 30 * 24 * time.Hour

// Privacy errors.
var (
	ErrExportNotFound = errors.New("shop: data export not found")
	// ErrShopInstalled refuses shop/redact for a shop that is installed:
	// Shopify sends it 48 hours after an uninstall, so an installed shop
	// means the merchant came back and erasing would destroy a live install.
	ErrShopInstalled = errors.New("shop: shop is installed, refusing to erase it")
	// ErrNoCustomer rejects a request that names no customer: it could
	// match nothing, and an empty match must never look like success.
	ErrNoCustomer = errors.New("shop: customer reference has no identifier")
)

// CustomerRef identifies a shopper as Shopify names them in the compliance
// webhooks. Any field may be empty; holders match on every one that is set
// (profiles collected before Shopify knew the customer have only an email).
type CustomerRef struct {
	ShopifyID int64   `json:"id,omitempty"`
	Email     string  `json:"email,omitempty"`
	Phone     string  `json:"phone,omitempty"`
	OrderIDs  []int64 `json:"order_ids,omitempty"`
}

// Empty reports whether the reference names nobody.
func (c CustomerRef) Empty() bool {
	return c.ShopifyID == 0 && c.emailKey() == "" && c.phoneDigits() == "" && len(c.OrderIDs) == 0
}

// CustomerDataHolder is implemented by every package that keeps a copy of
// shoppers' personal data. Each method runs inside the caller's transaction
// (tx) and must only touch rows of shopDomain.
type CustomerDataHolder interface {
	// Name identifies the holder in exports ("webhook_inbox", "contacts").
	Name() string
	// ExportCustomer returns what the holder keeps about the customer, as a
	// JSON-marshalable value (nil when it holds nothing). IDs must stay
	// int64 or json.RawMessage, never float64.
	ExportCustomer(ctx context.Context, tx *gorm.DB, shopDomain string, c CustomerRef) (any, error)
	// RedactCustomer erases the customer's personal data.
	RedactCustomer(ctx context.Context, tx *gorm.DB, shopDomain string, c CustomerRef) error
	// EraseShop deletes everything the holder keeps for the shop.
	EraseShop(ctx context.Context, tx *gorm.DB, shopDomain string) error
}

// Privacy runs the GDPR operations across every registered holder.
// Adding a table with personal data means one Register call at wiring.
type Privacy struct {
	db      *gorm.DB
	holders []CustomerDataHolder
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// NewPrivacy returns a registry that already holds the shop package's own
// tables (shops and oauth_states, data_exports).
func NewPrivacy(db *gorm.DB) *Privacy {
	p := &Privacy{db: db}
	p.Register(shopsHolder{})
	p.Register(exportsHolder{})
	return p
}

// Register adds a holder. Call it while wiring, before any request runs.
// Holders are erased in reverse registration order: a package registers
// after the packages it depends on, so rows referencing another table go
// before the rows they reference. A duplicate name is a wiring bug.
func (p *Privacy) Register(h CustomerDataHolder) {
	for _, x := range p.holders {
		if x.Name() == h.Name() {
			panic(fmt.Sprintf("shop: privacy holder %q registered twice", h.Name()))
		}
	}
	p.holders = append(p.holders, h)
}

// Holders lists the registered holder names, in registration order.
func (p *Privacy) Holders() []string {
	out := make([]string, len(p.holders))
	for i, h := range p.holders {
		out[i] = h.Name()
	}
	return out
}

func (p *Privacy) now() time.Time {
	if p.Now != nil {
		return p.Now().UTC()
	}
	return time.Now().UTC()
}

// DataExport is one answer to a customers/data_request.
type DataExport struct {
	ID            int64       `json:"id"`
	DataRequestID int64       `json:"data_request_id"`
	Customer      CustomerRef `json:"customer"`
	CreatedAt     time.Time   `json:"created_at"`
	ExpiresAt     time.Time   `json:"expires_at"`
	// Content is the export document; only GetExport loads it.
	Content json.RawMessage `json:"-"`
}

// exportDocument is the JSON handed to the merchant.
type exportDocument struct {
	ShopDomain    string         `json:"shop_domain"`
	DataRequestID int64          `json:"data_request_id"`
	Customer      CustomerRef    `json:"customer"`
	GeneratedAt   time.Time      `json:"generated_at"`
	ExpiresAt     time.Time      `json:"expires_at"`
	Sources       []string       `json:"sources"`
	Data          map[string]any `json:"data"`
}

type exportRow struct {
	ID            int64
	DataRequestID int64
	Customer      []byte
	Content       []byte
	CreatedAt     time.Time
	ExpiresAt     time.Time
}

func (r exportRow) export() (*DataExport, error) {
	e := &DataExport{ID: r.ID, DataRequestID: r.DataRequestID, CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt}
	if len(r.Customer) > 0 {
		if err := json.Unmarshal(r.Customer, &e.Customer); err != nil {
			return nil, fmt.Errorf("decode customer of export %d: %w", r.ID, err)
		}
	}
	if r.Content != nil {
		e.Content = json.RawMessage(r.Content)
	}
	return e, nil
}

// DataRequest answers customers/data_request: it collects every holder's
// export into one document stored in data_exports for the merchant. The
// same request (shop, requestID) always yields the same single export, so
// redeliveries are harmless.
func (p *Privacy) DataRequest(ctx context.Context, shopDomain string, requestID int64, c CustomerRef) (*DataExport, error) {
	if requestID <= 0 {
		return nil, fmt.Errorf("shop: data request: invalid request id %d", requestID)
	}
	if c.Empty() {
		return nil, fmt.Errorf("shop: data request %d: %w", requestID, ErrNoCustomer)
	}
	db := p.db.WithContext(ctx)
	if e, err := findExport(db, shopDomain, requestID); err == nil || !errors.Is(err, ErrExportNotFound) {
		return e, err
	}
	customer, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("shop: data request %d: encode customer: %w", requestID, err)
	}
	now := p.now()
	doc := exportDocument{
		ShopDomain: shopDomain, DataRequestID: requestID, Customer: c,
		GeneratedAt: now, ExpiresAt: now.Add(ExportRetention),
		Sources: p.Holders(), Data: map[string]any{},
	}
	var out *DataExport
	err = db.Transaction(func(tx *gorm.DB) error {
		for _, h := range p.holders {
			v, err := h.ExportCustomer(ctx, tx, shopDomain, c)
			if err != nil {
				return fmt.Errorf("export %s: %w", h.Name(), err)
			}
			if v != nil {
				doc.Data[h.Name()] = v
			}
		}
		content, err := json.Marshal(doc)
		if err != nil {
			return fmt.Errorf("encode export: %w", err)
		}
		var rows []exportRow
		err = tx.Raw(`
INSERT INTO data_exports (shop_domain, data_request_id, customer, content, created_at, expires_at)
VALUES (?, ?, ?::jsonb, ?::jsonb, ?, ?)
ON CONFLICT (shop_domain, data_request_id) DO NOTHING
RETURNING id, data_request_id, customer, created_at, expires_at`,
			shopDomain, requestID, string(customer), string(content), now, doc.ExpiresAt).Scan(&rows).Error
		if err != nil {
			return fmt.Errorf("store export: %w", err)
		}
		if len(rows) == 0 {
			// A concurrent run of the same request stored it first.
			out, err = findExport(tx, shopDomain, requestID)
			return err
		}
		out, err = rows[0].export()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("shop: data request %d: %w", requestID, err)
	}
	return out, nil
}

func findExport(db *gorm.DB, shopDomain string, requestID int64) (*DataExport, error) {
	var rows []exportRow
	err := db.Raw(`SELECT id, data_request_id, customer, created_at, expires_at FROM data_exports
WHERE shop_domain = ? AND data_request_id = ?`, shopDomain, requestID).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("find export: %w", err)
	}
	if len(rows) == 0 {
		return nil, ErrExportNotFound
	}
	return rows[0].export()
}

// RedactCustomer answers customers/redact: every holder erases the
// customer in one transaction, so a failure leaves nothing half-done and
// the delivery is simply retried.
func (p *Privacy) RedactCustomer(ctx context.Context, shopDomain string, c CustomerRef) error {
	if c.Empty() {
		return fmt.Errorf("shop: redact customer: %w", ErrNoCustomer)
	}
	err := p.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for i := len(p.holders) - 1; i >= 0; i-- {
			h := p.holders[i]
			if err := h.RedactCustomer(ctx, tx, shopDomain, c); err != nil {
				return fmt.Errorf("%s: %w", h.Name(), err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("shop: redact customer: %w", err)
	}
	return nil
}

// EraseShop answers shop/redact: every holder deletes the shop's data in
// one transaction. It refuses (ErrShopInstalled) when the shop is installed.
func (p *Privacy) EraseShop(ctx context.Context, shopDomain string) error {
	err := p.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// The row lock makes a concurrent reinstall wait for the erase to
		// finish, then start from a clean slate.
		var s []Shop
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("domain = ?", shopDomain).Find(&s).Error; err != nil {
			return fmt.Errorf("lock shop: %w", err)
		}
		if len(s) > 0 && s[0].UninstalledAt == nil {
			return ErrShopInstalled
		}
		for i := len(p.holders) - 1; i >= 0; i-- {
			h := p.holders[i]
			if err := h.EraseShop(ctx, tx, shopDomain); err != nil {
				return fmt.Errorf("%s: %w", h.Name(), err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("shop: erase shop %s: %w", shopDomain, err)
	}
	return nil
}

// MaxExportPage caps one page of ListExports.
const MaxExportPage = 100

// ListExports returns the shop's unexpired exports, newest first, without
// their content: at most limit of them (1..MaxExportPage) with an id below
// before (0: from the newest). next is the before of the following page, 0
// when this is the last one.
func (p *Privacy) ListExports(ctx context.Context, shopDomain string, limit int, before int64) (exports []DataExport, next int64, err error) {
	if limit <= 0 || limit > MaxExportPage {
		limit = MaxExportPage
	}
	q := p.db.WithContext(ctx).Table("data_exports").
		Select("id, data_request_id, customer, created_at, expires_at").
		Where("shop_domain = ? AND expires_at > ?", shopDomain, p.now())
	if before > 0 {
		q = q.Where("id < ?", before)
	}
	var rows []exportRow
	// One more than asked tells whether another page exists.
	if err := q.Order("id DESC").Limit(limit + 1).Scan(&rows).Error; err != nil {
		return nil, 0, fmt.Errorf("shop: list exports of %s: %w", shopDomain, err)
	}
	if len(rows) > limit {
		rows = rows[:limit]
		next = rows[limit-1].ID
	}
	exports = make([]DataExport, 0, len(rows))
	for _, r := range rows {
		e, err := r.export()
		if err != nil {
			return nil, 0, fmt.Errorf("shop: list exports of %s: %w", shopDomain, err)
		}
		exports = append(exports, *e)
	}
	return exports, next, nil
}

// GetExport returns one unexpired export of the shop with its content.
// Another shop's export is ErrExportNotFound, exactly like a missing one.
func (p *Privacy) GetExport(ctx context.Context, shopDomain string, id int64) (*DataExport, error) {
	var rows []exportRow
	err := p.db.WithContext(ctx).Raw(`
SELECT id, data_request_id, customer, content, created_at, expires_at FROM data_exports
WHERE id = ? AND shop_domain = ? AND expires_at > ?`, id, shopDomain, p.now()).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("shop: get export %d of %s: %w", id, shopDomain, err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("shop: get export %d of %s: %w", id, shopDomain, ErrExportNotFound)
	}
	e, err := rows[0].export()
	if err != nil {
		return nil, fmt.Errorf("shop: get export %d of %s: %w", id, shopDomain, err)
	}
	return e, nil
}

// PurgeExpiredExports deletes exports past their expiry (run it daily) and
// returns how many went.
func (p *Privacy) PurgeExpiredExports(ctx context.Context) (int64, error) {
	res := p.db.WithContext(ctx).Exec(`DELETE FROM data_exports WHERE expires_at <= ?`, p.now())
	if res.Error != nil {
		return 0, fmt.Errorf("shop: purge expired exports: %w", res.Error)
	}
	return res.RowsAffected, nil
}

// shopsHolder covers the shops row (the merchant's contact, tokens) and the
// OAuth nonces of the domain. It holds no shopper data.
type shopsHolder struct{}

func (shopsHolder) Name() string { return "shops" }

func (shopsHolder) ExportCustomer(context.Context, *gorm.DB, string, CustomerRef) (any, error) {
	return nil, nil
}

func (shopsHolder) RedactCustomer(context.Context, *gorm.DB, string, CustomerRef) error { return nil }

func (shopsHolder) EraseShop(_ context.Context, tx *gorm.DB, shopDomain string) error {
	if err := tx.Exec(`DELETE FROM oauth_states WHERE shop = ?`, shopDomain).Error; err != nil {
		return fmt.Errorf("delete oauth states: %w", err)
	}
	if err := tx.Exec(`DELETE FROM shops WHERE domain = ?`, shopDomain).Error; err != nil {
		return fmt.Errorf("delete shop: %w", err)
	}
	return nil
}

// exportsHolder covers data_exports: an export is itself a copy of the
// customer's data, so it goes with them.
type exportsHolder struct{}

func (exportsHolder) Name() string { return "data_exports" }

// ExportCustomer returns nothing: the exports are copies of what the other
// holders export, and nesting them would only repeat them.
func (exportsHolder) ExportCustomer(context.Context, *gorm.DB, string, CustomerRef) (any, error) {
	return nil, nil
}

func (exportsHolder) RedactCustomer(_ context.Context, tx *gorm.DB, shopDomain string, c CustomerRef) error {
	// Both the request's customer and the content: an export about someone
	// else can still quote this customer (a shared order, a forwarded email).
	custCond, custArgs := c.TextMatchSQL("customer::text")
	contCond, contArgs := c.TextMatchSQL("content::text")
	args := append([]any{shopDomain}, custArgs...)
	args = append(args, contArgs...)
	err := tx.Exec(`DELETE FROM data_exports WHERE shop_domain = ? AND (`+custCond+` OR `+contCond+`)`, args...).Error
	if err != nil {
		return fmt.Errorf("delete exports: %w", err)
	}
	return nil
}

func (exportsHolder) EraseShop(_ context.Context, tx *gorm.DB, shopDomain string) error {
	if err := tx.Exec(`DELETE FROM data_exports WHERE shop_domain = ?`, shopDomain).Error; err != nil {
		return fmt.Errorf("delete exports: %w", err)
	}
	return nil
}
