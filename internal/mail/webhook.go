package mail

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	svix "github.com/svix/svix-webhooks/go"
	"gorm.io/gorm"
)

// Suppressor stops all email to an address of a shop (implemented by the
// contact package). It must be idempotent: Resend retries deliveries.
type Suppressor interface {
	Suppress(ctx context.Context, shopID int64, email, reason string) error
}

// Suppression reasons passed to Suppressor.
const (
	ReasonHardBounce = "hard_bounce"
	ReasonComplaint  = "complaint"
)

// Engagement is an open or a click on one of our emails.
type Engagement struct {
	ShopID    int64
	ContactID int64 // 0 when the sender did not know it
	Email     string
	MessageID int64
	Kind      string // "open" or "click"
	At        time.Time
}

// EngagementRecorder keeps contacts' last engagement (implemented by the
// contact package; the disengaged/dormant scans read it). Idempotent.
type EngagementRecorder interface {
	RecordEngagement(ctx context.Context, e Engagement) error
}

// WebhookOptions configure the Resend webhook handler. All fields but
// Logger are required.
type WebhookOptions struct {
	DB *gorm.DB
	// Secret is RESEND_WEBHOOK_SECRET ("whsec_…").
	Secret     string
	Suppressor Suppressor
	Engagement EngagementRecorder
	Logger     *slog.Logger
}

// Webhooks handles POST /webhooks/resend.
type Webhooks struct {
	db       *gorm.DB
	wh       *svix.Webhook
	suppress Suppressor
	engage   EngagementRecorder
	log      *slog.Logger
}

// maxWebhookBody caps what we read; Resend's events are a few KB.
const maxWebhookBody = 256 << 10

// NewWebhooks returns the handler.
func NewWebhooks(o WebhookOptions) (*Webhooks, error) {
	if o.DB == nil || o.Suppressor == nil || o.Engagement == nil {
		return nil, errors.New("mail: webhooks need a database, a suppressor and an engagement recorder")
	}
	wh, err := svix.NewWebhook(strings.TrimSpace(o.Secret))
	if err != nil || strings.TrimSpace(o.Secret) == "" {
		return nil, errors.New("mail: RESEND_WEBHOOK_SECRET is not a valid signing secret")
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Webhooks{db: o.DB, wh: wh, suppress: o.Suppressor, engage: o.Engagement, log: log}, nil
}

type resendEvent struct {
	Type      string    `json:"type"`
	CreatedAt time.Time `json:"created_at"`
	Data      struct {
		EmailID string `json:"email_id"`
		Bounce  *struct {
			Type    string `json:"type"`
			SubType string `json:"subType"`
			Message string `json:"message"`
		} `json:"bounce"`
	} `json:"data"`
}

// Handle verifies the Svix signature (±5 minutes, the library's tolerance),
// applies each delivery once (keyed by svix-id) and answers 200. A forged or
// stale delivery gets 401; an event for an email we do not know is logged
// and acknowledged. A failure to apply answers 500 so Resend retries.
func (w *Webhooks) Handle(c echo.Context) error {
	r := c.Request()
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), r.Body, maxWebhookBody))
	if err != nil {
		w.log.Warn("mail: resend webhook body unreadable or too large", "err", err)
		return c.NoContent(http.StatusRequestEntityTooLarge)
	}
	svixID := r.Header.Get("svix-id")
	if err := w.wh.Verify(body, r.Header); err != nil {
		w.log.Warn("mail: resend webhook refused", "svix_id", truncate(svixID, 64), "reason", err.Error(), "remote", c.RealIP())
		return c.NoContent(http.StatusUnauthorized)
	}
	var ev resendEvent
	if err := json.Unmarshal(body, &ev); err != nil || ev.Type == "" {
		w.log.Warn("mail: resend webhook payload malformed", "svix_id", svixID)
		return c.NoContent(http.StatusBadRequest)
	}
	if err := w.apply(r.Context(), svixID, &ev); err != nil {
		w.log.Error("mail: resend webhook not applied", "svix_id", svixID, "type", ev.Type, "err", err)
		return c.NoContent(http.StatusInternalServerError)
	}
	return c.NoContent(http.StatusOK)
}

// apply records the event and its effects in one transaction: if a side
// effect fails, the dedupe row goes too and Resend's retry does it all again.
func (w *Webhooks) apply(ctx context.Context, svixID string, ev *resendEvent) error {
	at := ev.CreatedAt.UTC()
	if at.IsZero() {
		at = time.Now().UTC()
	}
	return w.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Exec(`INSERT INTO mail_webhook_events (svix_id, type, provider_id) VALUES (?, ?, ?) ON CONFLICT (svix_id) DO NOTHING`,
			svixID, truncate(ev.Type, 64), truncate(ev.Data.EmailID, 128))
		if res.Error != nil {
			return fmt.Errorf("mail: record webhook: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return nil // a retry or replay of a delivery already applied
		}
		if ev.Data.EmailID == "" {
			return nil // not an email event (domain.*, contact.*)
		}
		var rows []messageRow
		if err := tx.Where("provider_id = ?", ev.Data.EmailID).Limit(1).Find(&rows).Error; err != nil {
			return fmt.Errorf("mail: find message: %w", err)
		}
		if len(rows) == 0 {
			w.log.Info("mail: resend webhook for an unknown email, ignored", "svix_id", svixID, "type", ev.Type)
			return nil
		}
		m := rows[0]
		upd := func(q string, args ...any) error {
			if err := tx.Exec(`UPDATE mail_messages SET `+q+`, updated_at = now() WHERE id = ?`, append(args, m.ID)...).Error; err != nil {
				return fmt.Errorf("mail: update message %d on %s: %w", m.ID, ev.Type, err)
			}
			return nil
		}
		contactID := int64(0)
		if m.ContactID != nil {
			contactID = *m.ContactID
		}
		// Events arrive out of order: timestamps keep the first
		// occurrence, and status only moves forward (a late "delivered"
		// never hides a bounce).
		switch ev.Type {
		case "email.sent":
			return upd(`sent_at = COALESCE(sent_at, ?)`, at)
		case "email.delivered":
			return upd(`delivered_at = COALESCE(delivered_at, ?),
status = CASE WHEN status IN ('queued', 'sending', 'sent', 'delivery_delayed') THEN 'delivered' ELSE status END`, at)
		case "email.delivery_delayed":
			return upd(`delayed_at = COALESCE(delayed_at, ?),
status = CASE WHEN status IN ('queued', 'sending', 'sent') THEN 'delivery_delayed' ELSE status END`, at)
		case "email.opened":
			if err := upd(`opened_at = COALESCE(opened_at, ?), open_count = open_count + 1`, at); err != nil {
				return err
			}
			return w.engage.RecordEngagement(ctx, Engagement{ShopID: m.ShopID, ContactID: contactID, Email: m.ToEmail, MessageID: m.ID, Kind: "open", At: at})
		case "email.clicked":
			if err := upd(`clicked_at = COALESCE(clicked_at, ?), click_count = click_count + 1`, at); err != nil {
				return err
			}
			return w.engage.RecordEngagement(ctx, Engagement{ShopID: m.ShopID, ContactID: contactID, Email: m.ToEmail, MessageID: m.ID, Kind: "click", At: at})
		case "email.bounced":
			hard := ev.Data.Bounce == nil || !strings.EqualFold(ev.Data.Bounce.Type, "Transient")
			reason := ""
			if b := ev.Data.Bounce; b != nil {
				reason = strings.TrimSpace(b.Type + " " + b.SubType)
			}
			if err := upd(`bounced_at = COALESCE(bounced_at, ?), status = CASE WHEN status <> 'complained' THEN 'bounced' ELSE status END,
error = ?`, at, truncate("bounced: "+reason, 200)); err != nil {
				return err
			}
			if !hard {
				return nil
			}
			return w.suppress.Suppress(ctx, m.ShopID, m.ToEmail, ReasonHardBounce)
		case "email.complained":
			if err := upd(`complained_at = COALESCE(complained_at, ?), status = 'complained'`, at); err != nil {
				return err
			}
			return w.suppress.Suppress(ctx, m.ShopID, m.ToEmail, ReasonComplaint)
		case "email.failed":
			return upd(`status = CASE WHEN status IN ('queued', 'sending', 'sent') THEN 'failed' ELSE status END, error = 'resend could not send it'`)
		}
		return nil
	})
}
