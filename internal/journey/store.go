package journey

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"gorm.io/gorm"

	"github.com/relance/relance/internal/flow"
)

// Enrollment statuses.
const (
	StatusActive    = "active"
	StatusCompleted = "completed"
	StatusExited    = "exited"
)

// Decisions recorded for each step run.
const (
	DecisionSent     = "sent"
	DecisionSkipped  = "skipped"
	DecisionDeferred = "deferred"
	DecisionExited   = "exited"
	DecisionFailed   = "failed"
)

// Reasons recorded with decisions and exits.
const (
	ReasonPurchased    = "purchased"
	ReasonUnsubscribed = "unsubscribed"
	ReasonSuppressed   = "suppressed"
	ReasonNoEmail      = "no_email"
	ReasonNoConsent    = "no_consent"
	ReasonQuietHours   = "quiet_hours"
	ReasonFrequencyCap = "frequency_cap"
	ReasonMovedUp      = "moved_up" // ladder: a more advanced abandonment flow took over
	ReasonRestarted    = "restarted"
	ReasonDisabled     = "flow_disabled"
	ReasonFlowChanged  = "flow_changed"
	ReasonLeft         = "left"
	ReasonEmptied      = "emptied"
	ReasonDeleted      = "customer_deleted"
	ReasonCancelled    = "order_cancelled"
	ReasonUninstalled  = "uninstalled"
)

// Enrollment is one contact's way through one flow version.
type Enrollment struct {
	ID           int64
	ShopID       int64
	ContactID    int64
	FlowKey      flow.Key
	FlowVersion  int
	Branch       string
	GoalPurchase bool
	Ladder       int
	Status       string
	ExitReason   string
	Subject      string
	OrderID      *int64
	Context      string // jsonb, map[string]string
	TriggerAt    time.Time
	Step         int
	NextRunAt    *time.Time
	WaitingFor   string
	EnqueuedFor  *time.Time
	StartedAt    time.Time
	EndedAt      *time.Time
	UpdatedAt    time.Time
}

// TableName maps Enrollment to its table.
func (Enrollment) TableName() string { return "enrollments" }

// orderID is the order that started the enrollment (0 for none).
func (en *Enrollment) orderID() int64 {
	if en.OrderID == nil {
		return 0
	}
	return *en.OrderID
}

func (en *Enrollment) contextMap() map[string]string {
	m := map[string]string{}
	if en.Context != "" {
		_ = json.Unmarshal([]byte(en.Context), &m) // written by us; a bad value just loses context
	}
	return m
}

// fulfilledAt is when the order that started the enrollment was fulfilled
// (nil while not known).
func (en *Enrollment) fulfilledAt() *time.Time {
	if v, ok := en.contextMap()["fulfilled_at"]; ok {
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			return &t
		}
	}
	return nil
}

func encodeContext(m map[string]string) string {
	if len(m) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(m) // map[string]string always encodes
	return string(b)
}

// Settings are a shop's engine rules.
type Settings struct {
	FrequencyCapHours int
	QuietStart        string // "HH:MM", shop time zone
	QuietEnd          string
	// RemindersWithoutConsent lets transactional cart/checkout reminders
	// (no offer) go to shoppers who have not given marketing consent.
	RemindersWithoutConsent bool
	UsableLifeDays          int
}

// DefaultSettings apply to shops that never changed them.
func DefaultSettings() Settings {
	return Settings{FrequencyCapHours: 16, QuietStart: "21:00", QuietEnd: "08:00", UsableLifeDays: 30}
}

// Settings returns a shop's rules (defaults when never set).
func (e *Engine) Settings(ctx context.Context, shopID int64) (Settings, error) {
	return e.settings(e.db.WithContext(ctx), shopID)
}

func (e *Engine) settings(db *gorm.DB, shopID int64) (Settings, error) {
	var rows []Settings
	err := db.Raw(`SELECT frequency_cap_hours, quiet_start, quiet_end, reminders_without_consent, usable_life_days
		FROM journey_settings WHERE shop_id = ?`, shopID).Scan(&rows).Error
	if err != nil {
		return Settings{}, fmt.Errorf("journey: read settings of shop %d: %w", shopID, err)
	}
	if len(rows) == 0 {
		return DefaultSettings(), nil
	}
	return rows[0], nil
}

// SaveSettings stores a shop's rules.
func (e *Engine) SaveSettings(ctx context.Context, shopID int64, s Settings) error {
	err := e.db.WithContext(ctx).Exec(`
		INSERT INTO journey_settings (shop_id, frequency_cap_hours, quiet_start, quiet_end, reminders_without_consent, usable_life_days)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (shop_id) DO UPDATE SET frequency_cap_hours = EXCLUDED.frequency_cap_hours, quiet_start = EXCLUDED.quiet_start,
			quiet_end = EXCLUDED.quiet_end, reminders_without_consent = EXCLUDED.reminders_without_consent,
			usable_life_days = EXCLUDED.usable_life_days, updated_at = now()`,
		shopID, s.FrequencyCapHours, s.QuietStart, s.QuietEnd, s.RemindersWithoutConsent, s.UsableLifeDays).Error
	if err != nil {
		return fmt.Errorf("journey: save settings of shop %d: %w", shopID, err)
	}
	return nil
}

// SetProductLife overrides the usable life of one product (replenishment).
func (e *Engine) SetProductLife(ctx context.Context, shopID, productID int64, days int) error {
	err := e.db.WithContext(ctx).Exec(`INSERT INTO journey_product_life (shop_id, product_id, days) VALUES (?, ?, ?)
		ON CONFLICT (shop_id, product_id) DO UPDATE SET days = EXCLUDED.days`, shopID, productID, days).Error
	if err != nil {
		return fmt.Errorf("journey: set usable life in shop %d: %w", shopID, err)
	}
	return nil
}

// usableLife returns the product with the shortest usable life among ids,
// and that life in days.
func (e *Engine) usableLife(db *gorm.DB, shopID int64, ids []int64, def int) (int64, int, error) {
	if len(ids) == 0 {
		return 0, def, nil
	}
	var rows []struct {
		ProductID int64
		Days      int
	}
	if err := db.Raw(`SELECT product_id, days FROM journey_product_life WHERE shop_id = ? AND product_id IN ?`, shopID, ids).Scan(&rows).Error; err != nil {
		return 0, 0, fmt.Errorf("journey: usable life in shop %d: %w", shopID, err)
	}
	life := map[int64]int{}
	for _, r := range rows {
		life[r.ProductID] = r.Days
	}
	best, bestDays := ids[0], 0
	for i, id := range ids {
		d, ok := life[id]
		if !ok {
			d = def
		}
		if i == 0 || d < bestDays {
			best, bestDays = id, d
		}
	}
	return best, bestDays, nil
}

// shopZone reads the shop's IANA time zone: the merchant's choice in the
// admin settings (shop_settings.timezone) when set, else the shops table's
// (owned by the shop package; only this column is read).
func (e *Engine) shopZone(db *gorm.DB, shopID int64) (*time.Location, error) {
	var zones []string
	if err := db.Raw(`SELECT `+ShopZoneSQL+` FROM shops s LEFT JOIN shop_settings ss ON ss.shop_id = s.id WHERE s.id = ?`, shopID).
		Scan(&zones).Error; err != nil {
		return nil, fmt.Errorf("journey: time zone of shop %d: %w", shopID, err)
	}
	if len(zones) == 0 {
		return time.UTC, nil
	}
	return e.location(zones[0]), nil
}

// exitWhere ends the active enrollments matching a condition and records
// why. It returns how many ended.
func (e *Engine) exitWhere(db *gorm.DB, shopID int64, reason string, where string, args ...any) (int, error) {
	var ended []int64
	now := e.clock.Now()
	// One statement: the exits and their decisions.
	q := `WITH ended AS (UPDATE enrollments SET status = 'exited', exit_reason = ?, ended_at = ?, next_run_at = NULL, updated_at = now()
			WHERE shop_id = ? AND status = 'active' AND ` + where + ` RETURNING id, shop_id, contact_id, step),
		d AS (INSERT INTO journey_decisions (shop_id, enrollment_id, contact_id, step, decision, reason, at)
			SELECT shop_id, id, contact_id, step, ?, ?, ? FROM ended ORDER BY id)
		SELECT id FROM ended`
	all := append(append([]any{reason, now, shopID}, args...), DecisionExited, reason, now)
	if err := db.Raw(q, all...).Scan(&ended).Error; err != nil {
		return 0, fmt.Errorf("journey: exit enrollments (%s) in shop %d: %w", reason, shopID, err)
	}
	return len(ended), nil
}

// Decision is one recorded decision, for the admin UI and tests.
type Decision struct {
	EnrollmentID int64
	Step         int
	Decision     string
	Reason       string
	Until        *time.Time
	MessageID    *int64
	At           time.Time
}

// Decisions returns the decisions taken for a contact, oldest first.
func (e *Engine) Decisions(ctx context.Context, shopID, contactID int64) ([]Decision, error) {
	var out []Decision
	err := e.db.WithContext(ctx).Raw(`SELECT enrollment_id, step, decision, reason, until, message_id, at FROM journey_decisions
		WHERE shop_id = ? AND contact_id = ? ORDER BY id`, shopID, contactID).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("journey: decisions of %d in shop %d: %w", contactID, shopID, err)
	}
	return out, nil
}

// Enrollments returns a contact's enrollments, oldest first.
func (e *Engine) Enrollments(ctx context.Context, shopID, contactID int64) ([]Enrollment, error) {
	var out []Enrollment
	err := e.db.WithContext(ctx).Where("shop_id = ? AND contact_id = ?", shopID, contactID).Order("id").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("journey: enrollments of %d in shop %d: %w", contactID, shopID, err)
	}
	return out, nil
}

// ErrNotFound is returned for an enrollment the shop does not have.
var ErrNotFound = errors.New("journey: not found")

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
