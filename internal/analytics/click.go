// Package analytics attributes orders to Relance emails and reads the KPIs
// the admin shows: tracked clicks (GET /r/:token), attribution of each
// order (discount code used, else last click within the shop's window),
// and the figures of the admin (Home, Summary, Steps, FlowActivity) over a
// period, from hourly pre-aggregated rows (rollup.go) rather than scans.
package analytics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"

	"github.com/relance/relance/internal/mail"
)

// Engagement records a click on the contact (*contact.Store).
type Engagement interface {
	RecordEngagement(ctx context.Context, shopID, contactID int64, kind string, at time.Time) error
}

// Clicks serves GET /r/:token.
type Clicks struct {
	db    *gorm.DB
	links *mail.LinkSigner
	eng   Engagement
	log   *slog.Logger
	now   func() time.Time
}

// NewClicks returns the click endpoint.
func NewClicks(db *gorm.DB, links *mail.LinkSigner, eng Engagement) (*Clicks, error) {
	if db == nil || links == nil || eng == nil {
		return nil, errors.New("analytics: clicks need the database, the link signer and the contact store")
	}
	return &Clicks{db: db, links: links, eng: eng, log: slog.Default(), now: time.Now}, nil
}

// Routes mounts GET /r/:token.
func (k *Clicks) Routes(e *echo.Echo) { e.GET("/r/:token", k.Handle) }

// ClickURL is the /r/:token URL under the app's base URL.
func ClickURL(app *url.URL, token string) string {
	return strings.TrimRight(app.String(), "/") + "/r/" + token
}

type clickShop struct {
	Domain        string
	UninstalledAt *time.Time
}

type clickMessage struct {
	FlowKey string
	StepKey string
}

// Handle records the click and redirects to the store. The redirect is
// always built from the shop's own myshopify domain (from our database) and
// the path the signed token carries: no input can choose the host. An
// invalid token goes to the home page of the shop it names, if that shop is
// ours, else to a neutral 404 page.
func (k *Clicks) Handle(c echo.Context) error {
	ctx := c.Request().Context()
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	token := c.Param("token")
	cl, err := k.links.VerifyClick(token)
	if err != nil {
		clicksTotal.WithLabelValues("invalid").Inc()
		if id, ok := mail.ClickShopHint(token); ok {
			if s, err := k.shop(ctx, id); err == nil && s != nil {
				return c.Redirect(http.StatusFound, storeURL(s.Domain, "/", nil))
			}
		}
		return notFound(c)
	}
	s, err := k.shop(ctx, cl.ShopID)
	if err != nil {
		return fmt.Errorf("analytics: click: %w", err) // 500: try again
	}
	if s == nil {
		clicksTotal.WithLabelValues("unknown_shop").Inc()
		return notFound(c)
	}
	q := url.Values{"utm_source": {"relance"}, "utm_medium": {"email"}}
	if s.UninstalledAt == nil {
		var msgs []clickMessage
		if err := k.db.WithContext(ctx).Raw(`SELECT flow_key, step_key FROM journey_messages WHERE shop_id = ? AND id = ? AND contact_id = ?`,
			cl.ShopID, cl.MessageID, cl.ContactID).Scan(&msgs).Error; err != nil {
			return fmt.Errorf("analytics: click: read message: %w", err)
		}
		if len(msgs) == 1 {
			q.Set("utm_campaign", msgs[0].FlowKey)
			q.Set("utm_content", msgs[0].StepKey)
			if err := k.record(ctx, cl, k.now().UTC()); err != nil {
				// The shopper still gets to the store; the click is lost.
				k.log.Error("analytics: click not recorded", "shop_id", cl.ShopID, "message_id", cl.MessageID, "err", err)
			}
			q.Set("rl", k.links.Sign(mail.LinkClaims{Purpose: mail.PurposeIdentify, ShopID: cl.ShopID, ContactID: cl.ContactID}))
		}
	}
	clicksTotal.WithLabelValues("redirected").Inc()
	return c.Redirect(http.StatusFound, storeURL(s.Domain, cl.Target, q))
}

func (k *Clicks) shop(ctx context.Context, id int64) (*clickShop, error) {
	var rows []clickShop
	if err := k.db.WithContext(ctx).Raw(`SELECT domain, uninstalled_at FROM shops WHERE id = ?`, id).Scan(&rows).Error; err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, nil
	}
	return &rows[0], nil
}

// record keeps the click for attribution and marks the message and contact.
func (k *Clicks) record(ctx context.Context, cl mail.ClickClaims, at time.Time) error {
	err := k.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec(`INSERT INTO analytics_clicks (shop_id, contact_id, message_id, clicked_at)
			SELECT ?, id, ?, ? FROM contacts WHERE shop_id = ? AND id = ?`, cl.ShopID, cl.MessageID, at, cl.ShopID, cl.ContactID).Error; err != nil {
			return err
		}
		if err := tx.Exec(`UPDATE mail_messages SET clicked_at = COALESCE(clicked_at, ?), click_count = click_count + 1, updated_at = now()
			WHERE id = ? AND shop_id = ?`, at, cl.MessageID, cl.ShopID).Error; err != nil {
			return err
		}
		return nil
	}, nil)
	if err != nil {
		return err
	}
	return k.eng.RecordEngagement(ctx, cl.ShopID, cl.ContactID, "click", at)
}

// storeURL is https://<shop domain><path>?<query>: the host is always the
// shop's own, whatever path says.
func storeURL(domain, path string, extra url.Values) string {
	u := url.URL{Scheme: "https", Host: domain, Path: "/"}
	if p, ok := mail.ClickTarget(path); ok {
		if pu, err := url.Parse(p); err == nil && pu.Host == "" && pu.Scheme == "" && pu.User == nil {
			u.Path, u.RawQuery = pu.Path, pu.RawQuery
			if u.Path == "" || !strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//") {
				u.Path = "/"
			}
		}
	}
	if len(extra) > 0 {
		q := u.Query()
		for key, vs := range extra {
			q[key] = vs
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}

func notFound(c echo.Context) error {
	return c.HTML(http.StatusNotFound, `<!doctype html><meta charset="utf-8"><title>Link not found</title>`+
		`<p style="font-family:sans-serif;margin:3em auto;max-width:30em">This link is no longer valid.</p>`)
}
