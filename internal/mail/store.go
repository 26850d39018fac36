package mail

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Message statuses in mail_messages.
const (
	StatusQueued          = "queued"
	StatusSending         = "sending"
	StatusSent            = "sent"
	StatusFailed          = "failed"
	StatusDeliveryDelayed = "delivery_delayed"
	StatusDelivered       = "delivered"
	StatusBounced         = "bounced"
	StatusComplained      = "complained"
)

// messageRow mirrors mail_messages.
type messageRow struct {
	ID           int64
	ShopID       int64
	ContactID    *int64
	ToEmail      string
	Flow         string
	Step         string
	Provider     string
	Status       string
	SendKey      *string
	Request      []byte
	ProviderID   *string
	Error        string
	AttemptedAt  *time.Time
	SentAt       *time.Time
	DeliveredAt  *time.Time
	DelayedAt    *time.Time
	OpenedAt     *time.Time
	ClickedAt    *time.Time
	BouncedAt    *time.Time
	ComplainedAt *time.Time
	OpenCount    int
	ClickCount   int
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

func (messageRow) TableName() string { return "mail_messages" }

// MessageStatus is what we know of one email's fate.
type MessageStatus struct {
	ID         int64      `json:"id"`
	ShopID     int64      `json:"shop_id"`
	Flow       string     `json:"flow"`
	Step       string     `json:"step"`
	Status     string     `json:"status"`
	ProviderID string     `json:"provider_id,omitempty"`
	Error      string     `json:"error,omitempty"`
	SentAt     *time.Time `json:"sent_at,omitempty"`
	Delivered  *time.Time `json:"delivered_at,omitempty"`
	OpenedAt   *time.Time `json:"opened_at,omitempty"`
	ClickedAt  *time.Time `json:"clicked_at,omitempty"`
	BouncedAt  *time.Time `json:"bounced_at,omitempty"`
	Complained *time.Time `json:"complained_at,omitempty"`
	OpenCount  int        `json:"open_count"`
	ClickCount int        `json:"click_count"`
}

func (r *messageRow) status() MessageStatus {
	s := MessageStatus{ID: r.ID, ShopID: r.ShopID, Flow: r.Flow, Step: r.Step, Status: r.Status, Error: r.Error,
		SentAt: r.SentAt, Delivered: r.DeliveredAt, OpenedAt: r.OpenedAt, ClickedAt: r.ClickedAt,
		BouncedAt: r.BouncedAt, Complained: r.ComplainedAt, OpenCount: r.OpenCount, ClickCount: r.ClickCount}
	if r.ProviderID != nil {
		s.ProviderID = *r.ProviderID
	}
	return s
}

// ErrNotFound is returned for a message or outbox email that does not exist
// (or belongs to another shop).
var ErrNotFound = errors.New("mail: not found")

// Status returns the delivery status of a message of shopID.
func Status(ctx context.Context, db *gorm.DB, shopID, id int64) (*MessageStatus, error) {
	var rows []messageRow
	if err := db.WithContext(ctx).Where("id = ? AND shop_id = ?", id, shopID).Limit(1).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("mail: load message %d: %w", id, err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("mail: message %d: %w", id, ErrNotFound)
	}
	s := rows[0].status()
	return &s, nil
}

// claim records the message once (a retry finds the first row) and returns
// the row as it stands.
func claim(ctx context.Context, db *gorm.DB, m *Message, provider string, request []byte) (*messageRow, error) {
	var contact any
	if m.ContactID > 0 {
		contact = m.ContactID
	}
	err := db.WithContext(ctx).Exec(`
INSERT INTO mail_messages (id, shop_id, contact_id, to_email, flow, step, provider, status, request)
VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', ?::jsonb)
ON CONFLICT (id) DO NOTHING`,
		m.ID, m.ShopID, contact, strings.ToLower(strings.TrimSpace(m.To)), m.Flow, m.Step, provider, string(request)).Error
	if err != nil {
		return nil, fmt.Errorf("mail: record message %d: %w", m.ID, err)
	}
	return loadMessage(ctx, db, m.ID)
}

// claimMany is claim for several messages in two statements. It returns
// each row's state (not its stored request) by id.
func claimMany(ctx context.Context, db *gorm.DB, group []*claimReq, provider string) (map[int64]*messageRow, error) {
	var q strings.Builder
	q.WriteString(`INSERT INTO mail_messages (id, shop_id, contact_id, to_email, flow, step, provider, status, request) VALUES `)
	args := make([]any, 0, 8*len(group))
	ids := make([]int64, 0, len(group))
	seen := make(map[int64]bool, len(group))
	for _, c := range group {
		m := c.m
		if seen[m.ID] {
			continue // the same message twice: both callers get its row
		}
		seen[m.ID] = true
		ids = append(ids, m.ID)
		var contact any
		if m.ContactID > 0 {
			contact = m.ContactID
		}
		if len(args) > 0 {
			q.WriteString(", ")
		}
		q.WriteString(`(?, ?, ?, ?, ?, ?, ?, 'queued', ?::jsonb)`)
		args = append(args, m.ID, m.ShopID, contact, strings.ToLower(strings.TrimSpace(m.To)), m.Flow, m.Step, provider, string(c.body))
	}
	q.WriteString(` ON CONFLICT (id) DO NOTHING`)
	if err := db.WithContext(ctx).Exec(q.String(), args...).Error; err != nil {
		return nil, fmt.Errorf("mail: record messages: %w", err)
	}
	var rows []messageRow
	if err := db.WithContext(ctx).Select("id", "status", "send_key", "provider_id", "error").
		Where("id IN ?", ids).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("mail: load messages: %w", err)
	}
	out := make(map[int64]*messageRow, len(rows))
	for i := range rows {
		out[rows[i].ID] = &rows[i]
	}
	for _, id := range ids {
		if out[id] == nil {
			return nil, fmt.Errorf("mail: message %d: %w", id, ErrNotFound)
		}
	}
	return out, nil
}

func loadMessage(ctx context.Context, db *gorm.DB, id int64) (*messageRow, error) {
	var rows []messageRow
	if err := db.WithContext(ctx).Where("id = ?", id).Limit(1).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("mail: load message %d: %w", id, err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("mail: message %d: %w", id, ErrNotFound)
	}
	return &rows[0], nil
}

// markSent records Resend's id. A message already further along (delivered
// by a webhook that outran us) keeps its status.
func markSent(ctx context.Context, db *gorm.DB, id int64, providerID string, now time.Time, clearRequest bool) error {
	q := `UPDATE mail_messages SET provider_id = ?, sent_at = COALESCE(sent_at, ?), updated_at = ?, error = '',
status = CASE WHEN status IN ('queued', 'sending', 'failed') THEN 'sent' ELSE status END`
	if clearRequest {
		q += `, request = NULL`
	}
	if err := db.WithContext(ctx).Exec(q+` WHERE id = ?`, providerID, now, now, id).Error; err != nil {
		return fmt.Errorf("mail: mark message %d sent: %w", id, err)
	}
	return nil
}

// markFailed records a final refusal. clearRequest is false for one member
// of a batch still being settled: a replay needs every member's request.
func markFailed(ctx context.Context, db *gorm.DB, ids []int64, reason string, now time.Time, clearRequest bool) error {
	q := `UPDATE mail_messages SET status = 'failed', error = ?, updated_at = ?`
	if clearRequest {
		q += `, request = NULL`
	}
	err := db.WithContext(ctx).Exec(q+` WHERE id IN ? AND provider_id IS NULL`, truncate(reason, 500), now, ids).Error
	if err != nil {
		return fmt.Errorf("mail: mark messages failed: %w", err)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
