// Package unsubscribe serves the shopper links of our emails (GET and POST
// /u/:token) and writes consent changes back to Shopify.
//
//   - An unsubscribe link (mail.PurposeUnsubscribe) opens a small page in the
//     shopper's language with a confirm button; POSTing to the same URL
//     unsubscribes. The RFC 8058 one-click POST (body
//     List-Unsubscribe=One-Click, sent by mailbox providers from the
//     List-Unsubscribe header) answers 200 with an empty body, no redirect.
//     Unsubscribing takes effect at once: the contact's consent becomes
//     unsubscribed, every active enrollment ends, and an asynq task writes
//     the consent to Shopify (customerEmailMarketingConsentUpdate) so the
//     page never waits on the Admin API.
//   - A "not interested" link (mail.PurposeNotInterested) leaves one
//     enrollment (the cart in that email) and nothing else.
//   - A preferences link (purposePreferences, the footer's "manage
//     preferences") shows whether the shopper receives marketing emails and
//     lets them keep it, unsubscribe, or subscribe again when they had
//     unsubscribed through our links (preferences.go). Subscribing again is
//     written back to Shopify like an unsubscribe.
//
// A page is answered with buttons rather than acting on GET, because mail
// security scanners fetch every link of an email: a GET that unsubscribed
// would unsubscribe shoppers who never clicked.
//
// A bad token is a 404 page, logged without the token.
package unsubscribe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"github.com/labstack/echo/v4"
	"gorm.io/gorm"

	"github.com/relance/relance/internal/contact"
	"github.com/relance/relance/internal/flow"
	"github.com/relance/relance/internal/journey"
	"github.com/relance/relance/internal/mail"
	"github.com/relance/relance/internal/platform"
	"github.com/relance/relance/internal/shop"
	"github.com/relance/relance/internal/shopify"
)

// TypeWriteBack is the asynq task writing a consent change made through our
// links (unsubscribe, subscribe again) to Shopify.
const TypeWriteBack = "consent:write_back"

// Consent sources recorded on contacts whose consent changed through our
// links. Only a contact whose source is ConsentSource may subscribe again
// from the preferences page.
const (
	ConsentSource     = "unsubscribe_link"
	ResubscribeSource = "preferences_page"
)

// Engine is what the links ask of the sequence engine (*journey.Engine).
type Engine interface {
	ExitContact(ctx context.Context, shopID, contactID int64, reason string, keys ...flow.Key) error
	Leave(ctx context.Context, shopID, enrollmentID int64) error
}

// GraphQL runs an Admin API call for a shop (*shopify.Client).
type GraphQL interface {
	Do(ctx context.Context, shop, query string, variables map[string]any, out any) error
}

// Enqueuer is the part of *asynq.Client used.
type Enqueuer interface {
	EnqueueContext(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error)
}

// Options configure a Service. Logger and Now are optional.
type Options struct {
	DB       *gorm.DB
	Links    *mail.LinkSigner
	Contacts *contact.Store
	Engine   Engine
	Queue    Enqueuer
	Admin    GraphQL
	Logger   *slog.Logger
	Now      func() time.Time
}

// Service handles shopper links and the consent write-back.
type Service struct {
	o   Options
	log *slog.Logger
}

// New returns a Service.
func New(o Options) (*Service, error) {
	if o.DB == nil || o.Links == nil || o.Contacts == nil || o.Engine == nil || o.Queue == nil || o.Admin == nil {
		return nil, errors.New("unsubscribe: DB, Links, Contacts, Engine, Queue and Admin are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Service{o: o, log: o.Logger}
	if s.log == nil {
		s.log = slog.Default()
	}
	return s, nil
}

// linkPrefix is where shopper links are served: linkPrefix + token.
const linkPrefix = "/u/"

// Routes registers GET and POST /u/:token (every purpose of shopper link).
func (s *Service) Routes(e *echo.Echo) {
	e.GET(linkPrefix+":token", s.Page)
	e.POST(linkPrefix+":token", s.Post)
}

// maxFormBody caps a POST body: the one-click body is 26 bytes.
const maxFormBody = 4 << 10

// link is a verified token with what the page needs.
type link struct {
	claims   mail.LinkClaims
	contact  *contact.Contact
	shopName string
	locale   string
}

// purposes are the shopper links /u/:token serves.
var purposes = []mail.Purpose{mail.PurposeUnsubscribe, mail.PurposeNotInterested, purposePreferences}

// resolve verifies the token (any purpose served here) and loads its
// contact and shop. ok=false means the 404 page was written.
func (s *Service) resolve(c echo.Context) (*link, bool, error) {
	token := c.Param("token")
	var claims mail.LinkClaims
	err := mail.ErrInvalidToken
	for _, p := range purposes {
		if claims, err = s.o.Links.Verify(token, p); err == nil {
			break
		}
	}
	if err != nil {
		s.log.WarnContext(c.Request().Context(), "unsubscribe: invalid shopper link", "method", c.Request().Method, "token_len", len(token))
		return nil, false, s.notFound(c)
	}
	ctx := c.Request().Context()
	ct, err := s.o.Contacts.Get(ctx, claims.ShopID, claims.ContactID)
	if errors.Is(err, contact.ErrNotFound) {
		// Erased (GDPR) or the shop is gone: nothing is sent to them anyway.
		s.log.InfoContext(ctx, "unsubscribe: link for a contact that no longer exists", "shop_id", claims.ShopID,
			"contact_id", claims.ContactID, "purpose", claims.Purpose.String())
		return nil, false, s.notFound(c)
	}
	if err != nil {
		return nil, false, err
	}
	var names []string
	if err := s.o.DB.WithContext(ctx).Raw(`SELECT name FROM shops WHERE id = ?`, claims.ShopID).Scan(&names).Error; err != nil {
		return nil, false, fmt.Errorf("unsubscribe: shop %d: %w", claims.ShopID, err)
	}
	l := &link{claims: claims, contact: ct, locale: mail.PickLocale(ct.Locale, "")}
	if len(names) > 0 {
		l.shopName = names[0]
	}
	return l, true, nil
}

// Page is GET /u/:token: a confirm page, the preferences page, or the done
// page when there is nothing left to do. It never changes anything.
func (s *Service) Page(c echo.Context) error {
	l, ok, err := s.resolve(c)
	if !ok || err != nil {
		return err
	}
	p := page{Locale: l.locale, Shop: l.shopName, Action: c.Request().URL.Path}
	switch l.claims.Purpose {
	case mail.PurposeUnsubscribe:
		p.Kind = kindConfirmUnsubscribe
		if l.contact.Consent == contact.Unsubscribed {
			p.Kind, p.Manage = kindUnsubscribed, s.manageLink(l.contact)
		}
	case mail.PurposeNotInterested:
		p.Kind = kindConfirmLeave
	case purposePreferences:
		p.Kind, p.Prefs = kindPreferences, preferencesOf(l.contact)
	}
	return s.render(c, http.StatusOK, p)
}

// Post is POST /u/:token: the confirm button of the page, a choice of the
// preferences page, or RFC 8058 one-click (answered 200 with an empty body).
func (s *Service) Post(c echo.Context) error {
	req := c.Request()
	req.Body = http.MaxBytesReader(c.Response(), req.Body, maxFormBody)
	oneClick := c.FormValue("List-Unsubscribe") == "One-Click"
	l, ok, err := s.resolve(c)
	if !ok || err != nil {
		return err
	}
	ctx := req.Context()
	p := page{Locale: l.locale, Shop: l.shopName}
	switch l.claims.Purpose {
	case purposePreferences:
		return s.postPreferences(c, l)
	case mail.PurposeUnsubscribe:
		if err := s.Unsubscribe(ctx, l.contact); err != nil {
			return err
		}
		if oneClick {
			return c.NoContent(http.StatusOK)
		}
		ct, err := s.o.Contacts.Get(ctx, l.claims.ShopID, l.claims.ContactID)
		if err != nil {
			return fmt.Errorf("unsubscribe: reload contact %d: %w", l.claims.ContactID, err)
		}
		p.Kind, p.Manage = kindUnsubscribed, s.manageLink(ct)
	case mail.PurposeNotInterested:
		err := s.o.Engine.Leave(ctx, l.claims.ShopID, l.claims.EnrollmentID)
		if err != nil && !errors.Is(err, journey.ErrNotFound) && !errors.Is(err, journey.ErrCannotLeave) {
			return err
		}
		s.log.InfoContext(ctx, "unsubscribe: shopper left a sequence", "shop_id", l.claims.ShopID, "contact_id", l.claims.ContactID,
			"enrollment_id", l.claims.EnrollmentID, "outcome", outcome(err))
		p.Kind = kindLeft
	}
	if oneClick {
		return c.NoContent(http.StatusOK)
	}
	return s.render(c, http.StatusOK, p)
}

func outcome(err error) string {
	switch {
	case err == nil:
		return "left"
	case errors.Is(err, journey.ErrCannotLeave):
		return "flow_cannot_be_left"
	}
	return "no_such_enrollment"
}

// Unsubscribe records the shopper's unsubscribe now, ends their enrollments
// and queues the write-back to Shopify. Repeating it is harmless: an
// already unsubscribed contact is not written again.
func (s *Service) Unsubscribe(ctx context.Context, ct *contact.Contact) error {
	if ct.Consent != contact.Unsubscribed {
		at := s.clickTime(ct)
		applied, err := s.o.Contacts.SetConsent(ctx, ct.ShopID, ct.ID, contact.Unsubscribed, at, ConsentSource)
		if err != nil {
			return err
		}
		s.log.InfoContext(ctx, "unsubscribe: contact unsubscribed", "shop_id", ct.ShopID, "contact_id", ct.ID, "applied", applied)
		if applied && ct.CustomerID != nil {
			s.enqueueWriteBack(ctx, ct.ShopID, ct.ID, at)
		}
	}
	return s.o.Engine.ExitContact(ctx, ct.ShopID, ct.ID, journey.ReasonUnsubscribed)
}

// clickTime is when a shopper's click on one of our links takes effect: now,
// to the microsecond the write-back task identifies the change by. The click
// wins over any state we hold, even one stamped later than our clock.
func (s *Service) clickTime(ct *contact.Contact) time.Time {
	at := s.o.Now().UTC().Truncate(time.Microsecond)
	if ct.ConsentUpdatedAt != nil && !at.After(*ct.ConsentUpdatedAt) {
		at = ct.ConsentUpdatedAt.Add(time.Microsecond)
	}
	return at
}

// writeBackPayload names the contact; the task reads the state to write
// from the database, so a later change wins.
type writeBackPayload struct {
	ShopID    int64 `json:"shop_id"`
	ContactID int64 `json:"contact_id"`
	At        int64 `json:"at"` // consent_updated_at, Unix microseconds
}

// enqueueWriteBack queues the Shopify write-back. The unsubscribe itself is
// already durable; a failure to queue is logged, not shown to the shopper.
func (s *Service) enqueueWriteBack(ctx context.Context, shopID, contactID int64, at time.Time) {
	p := writeBackPayload{ShopID: shopID, ContactID: contactID, At: at.UnixMicro()}
	b, _ := json.Marshal(p) // plain fields always encode
	id := "consent:" + strconv.FormatInt(contactID, 10) + ":" + strconv.FormatInt(p.At, 10)
	_, err := s.o.Queue.EnqueueContext(ctx, asynq.NewTask(TypeWriteBack, b), asynq.TaskID(id), asynq.Queue(platform.QueueDefault),
		asynq.MaxRetry(15), asynq.Timeout(time.Minute))
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		s.log.ErrorContext(ctx, "unsubscribe: could not queue the consent write-back to Shopify", "shop_id", shopID, "contact_id", contactID, "err", err)
	}
}

// HandleWriteBack is the asynq handler of TypeWriteBack: it writes the
// contact's consent (unsubscribed, or subscribed again) to Shopify with
// customerEmailMarketingConsentUpdate. Transient failures are retried;
// userErrors, a lost authorization or an uninstalled shop are final and
// logged. A contact whose consent changed since (in Shopify, or a later
// click), erased, or without a Shopify customer is skipped.
func (s *Service) HandleWriteBack(ctx context.Context, t *asynq.Task) error {
	var p writeBackPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil || p.ShopID <= 0 || p.ContactID <= 0 {
		return fmt.Errorf("unsubscribe: decode write-back %q: %v: %w", t.Payload(), err, asynq.SkipRetry)
	}
	ct, err := s.o.Contacts.Get(ctx, p.ShopID, p.ContactID)
	if errors.Is(err, contact.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	state := writableConsent[ct.Consent]
	ours := ct.ConsentSource == ConsentSource || ct.ConsentSource == ResubscribeSource
	if state == "" || !ours || ct.CustomerID == nil || ct.ConsentUpdatedAt == nil || ct.ConsentUpdatedAt.UnixMicro() != p.At {
		s.log.InfoContext(ctx, "unsubscribe: consent write-back superseded, skipped", "shop_id", p.ShopID, "contact_id", p.ContactID)
		return nil
	}
	var shops []struct {
		Domain        string
		UninstalledAt *time.Time
	}
	if err := s.o.DB.WithContext(ctx).Raw(`SELECT domain, uninstalled_at FROM shops WHERE id = ?`, p.ShopID).Scan(&shops).Error; err != nil {
		return fmt.Errorf("unsubscribe: write-back: shop %d: %w", p.ShopID, err)
	}
	if len(shops) == 0 || shops[0].UninstalledAt != nil {
		s.log.InfoContext(ctx, "unsubscribe: shop gone or uninstalled, consent not written back", "shop_id", p.ShopID, "contact_id", p.ContactID)
		return nil
	}
	err = shopify.UpdateEmailConsent(ctx, s.o.Admin, shops[0].Domain, *ct.CustomerID, state, *ct.ConsentUpdatedAt)
	var userErrs shopify.UserErrors
	switch {
	case err == nil:
		s.log.InfoContext(ctx, "unsubscribe: consent written back to Shopify", "shop_id", p.ShopID, "contact_id", p.ContactID, "state", state)
		return nil
	case errors.As(err, &userErrs), errors.Is(err, shop.ErrReauthorize), errors.Is(err, shop.ErrNotInstalled), errors.Is(err, shop.ErrNotFound):
		s.log.ErrorContext(ctx, "unsubscribe: Shopify refused the consent write-back", "shop_id", p.ShopID, "contact_id", p.ContactID, "err", err)
		return fmt.Errorf("unsubscribe: write back consent of contact %d: %w: %w", p.ContactID, err, asynq.SkipRetry)
	}
	return fmt.Errorf("unsubscribe: write back consent of contact %d: %w", p.ContactID, err)
}

// writableConsent maps the states our links set to Shopify's.
var writableConsent = map[contact.Consent]string{
	contact.Unsubscribed: shopify.ConsentUnsubscribed,
	contact.Subscribed:   shopify.ConsentSubscribed,
}

func (s *Service) notFound(c echo.Context) error {
	return s.render(c, http.StatusNotFound, page{Kind: kindInvalid})
}
