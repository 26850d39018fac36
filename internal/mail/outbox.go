package mail

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"gorm.io/gorm"
)

// Outbox is the Sender of `relance dev` when RESEND_API_KEY is unset: emails
// are stored, shown in the admin, and never leave the machine. It keeps the
// same contract as Resend (idempotent on Message.ID, same checks).
type Outbox struct {
	db  *gorm.DB
	now func() time.Time
}

// NewOutbox returns the outbox sender.
func NewOutbox(db *gorm.DB) *Outbox { return &Outbox{db: db, now: time.Now} }

// OutboxEmail is a stored email.
type OutboxEmail struct {
	ID        int64             `json:"id"`
	ShopID    int64             `json:"shop_id"`
	From      string            `json:"from"`
	ReplyTo   string            `json:"reply_to"`
	To        string            `json:"to"`
	Subject   string            `json:"subject"`
	HTML      string            `json:"html,omitempty"`
	Text      string            `json:"text,omitempty"`
	Headers   map[string]string `json:"headers"`
	Tags      map[string]string `json:"tags"`
	CreatedAt time.Time         `json:"created_at"`
}

// Send stores m and returns its outbox id.
func (o *Outbox) Send(ctx context.Context, m *Message) (string, error) {
	if err := m.check(); err != nil {
		return "", err
	}
	req := m.request()
	headers, _ := json.Marshal(req.Headers)
	tags := map[string]string{}
	for _, t := range req.Tags {
		tags[t.Name] = t.Value
	}
	tagsJSON, _ := json.Marshal(tags)
	providerID := "outbox-" + strconv.FormatInt(m.ID, 10)
	now := o.now()
	err := o.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if _, err := claim(ctx, tx, m, "outbox", []byte("null")); err != nil {
			return err
		}
		if err := tx.Exec(`INSERT INTO mail_outbox (id, shop_id, from_addr, reply_to, to_email, subject, html, text, headers, tags, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?::jsonb, ?::jsonb, ?) ON CONFLICT (id) DO NOTHING`,
			m.ID, m.ShopID, req.From, req.ReplyTo, req.To[0], req.Subject, req.Html, req.Text, string(headers), string(tagsJSON), now).Error; err != nil {
			return err
		}
		return markSent(ctx, tx, m.ID, providerID, now, true)
	})
	if err != nil {
		return "", fmt.Errorf("mail: store message %d in outbox: %w", m.ID, err)
	}
	return providerID, nil
}

type outboxRow struct {
	ID        int64
	ShopID    int64
	FromAddr  string
	ReplyTo   string
	ToEmail   string
	Subject   string
	HTML      string `gorm:"column:html"`
	Text      string
	Headers   []byte
	Tags      []byte
	CreatedAt time.Time
}

func (r outboxRow) email(withBody bool) OutboxEmail {
	e := OutboxEmail{ID: r.ID, ShopID: r.ShopID, From: r.FromAddr, ReplyTo: r.ReplyTo, To: r.ToEmail, Subject: r.Subject, CreatedAt: r.CreatedAt}
	_ = json.Unmarshal(r.Headers, &e.Headers)
	_ = json.Unmarshal(r.Tags, &e.Tags)
	if withBody {
		e.HTML, e.Text = r.HTML, r.Text
	}
	return e
}

// List returns the shop's latest outbox emails, newest first, without bodies.
func (o *Outbox) List(ctx context.Context, shopID int64, limit int) ([]OutboxEmail, error) {
	if limit <= 0 || limit > 200 {
		limit = 200
	}
	var rows []outboxRow
	err := o.db.WithContext(ctx).Table("mail_outbox").
		Select("id, shop_id, from_addr, reply_to, to_email, subject, headers, tags, created_at").
		Where("shop_id = ?", shopID).Order("created_at DESC, id DESC").Limit(limit).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("mail: list outbox of shop %d: %w", shopID, err)
	}
	out := make([]OutboxEmail, len(rows))
	for i, r := range rows {
		out[i] = r.email(false)
	}
	return out, nil
}

// Get returns one outbox email of the shop with its bodies; another shop's
// email is ErrNotFound.
func (o *Outbox) Get(ctx context.Context, shopID, id int64) (*OutboxEmail, error) {
	var rows []outboxRow
	err := o.db.WithContext(ctx).Table("mail_outbox").Where("id = ? AND shop_id = ?", id, shopID).Limit(1).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("mail: get outbox email %d: %w", id, err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("mail: outbox email %d: %w", id, ErrNotFound)
	}
	e := rows[0].email(true)
	return &e, nil
}
