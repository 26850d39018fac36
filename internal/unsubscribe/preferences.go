package unsubscribe

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"

	"github.com/relance/relance/internal/contact"
	"github.com/relance/relance/internal/mail"
)

// purposePreferences is the footer's "manage preferences" link.
const purposePreferences = mail.PurposePreferences

// prefState is what the shopper receives, as the preferences page tells it.
type prefState int

const (
	prefSubscribed    prefState = iota // marketing emails
	prefNotSubscribed                  // never opted in, or pending: at most reminders of their own cart
	prefUnsubscribed
	prefSuppressed // hard bounce, complaint or sunset: nothing is sent at all
)

// prefNotice is the outcome of a choice, shown above the choices.
type prefNotice int

const (
	noticeNone prefNotice = iota
	noticeKept
	noticeUnsubscribed
	noticeResubscribed
	noticeRefused // may not subscribe again from this page
	noticeChoose  // a POST without a known choice
)

// The choices of the preferences page: the values of its buttons.
const (
	choiceKeep        = "keep"
	choiceUnsubscribe = "unsubscribe"
	choiceResubscribe = "resubscribe"
)

// prefView is one contact's preferences page.
type prefView struct {
	State   prefState
	Choices []string
	Notice  prefNotice
}

// preferencesOf is what the page shows a contact and lets them choose.
func preferencesOf(ct *contact.Contact) prefView {
	var v prefView
	switch {
	case ct.SuppressedAt != nil:
		v.State = prefSuppressed
	case ct.Consent == contact.Subscribed:
		v.State = prefSubscribed
	case ct.Consent == contact.Unsubscribed:
		v.State = prefUnsubscribed
	default:
		v.State = prefNotSubscribed
	}
	if v.State == prefSubscribed {
		v.Choices = append(v.Choices, choiceKeep)
	}
	// Even a suppressed contact may record an unsubscribe: Shopify and the
	// merchant's other tools then know it too.
	if ct.Consent != contact.Unsubscribed {
		v.Choices = append(v.Choices, choiceUnsubscribe)
	}
	if canResubscribe(ct) {
		v.Choices = append(v.Choices, choiceResubscribe)
	}
	return v
}

// canResubscribe reports whether a contact may subscribe again from our
// links: only one who unsubscribed through them, and whom nothing
// suppressed since. A hard bounce or a complaint is the mailbox's answer,
// which a click on a link cannot overrule (sending again would hurt the
// sending reputation of every shop), and an unsubscribe made in Shopify is
// the shopper's or the merchant's to undo there.
func canResubscribe(ct *contact.Contact) bool {
	return ct.SuppressedAt == nil && ct.Consent == contact.Unsubscribed && ct.ConsentSource == ConsentSource
}

// manageLink is the contact's preferences page when they may subscribe
// again from it, else "": the unsubscribed page links it for a shopper who
// clicked by mistake.
func (s *Service) manageLink(ct *contact.Contact) string {
	if !canResubscribe(ct) {
		return ""
	}
	return linkPrefix + s.o.Links.Sign(mail.LinkClaims{Purpose: purposePreferences, ShopID: ct.ShopID, ContactID: ct.ID})
}

// postPreferences applies a choice of the preferences page and shows the
// page again with its outcome: 200, 409 for a subscription this page may
// not restore, 400 without a known choice (nothing changes then).
func (s *Service) postPreferences(c echo.Context, l *link) error {
	ctx := c.Request().Context()
	status, notice := http.StatusOK, noticeNone
	choice := c.FormValue("choice")
	switch choice {
	case choiceKeep:
		notice = noticeKept
	case choiceUnsubscribe:
		if err := s.Unsubscribe(ctx, l.contact); err != nil {
			return err
		}
		notice = noticeUnsubscribed
	case choiceResubscribe:
		err := s.Resubscribe(ctx, l.claims.ShopID, l.claims.ContactID)
		switch {
		case errors.Is(err, ErrCannotResubscribe):
			status, notice = http.StatusConflict, noticeRefused
		case err != nil:
			return err
		default:
			notice = noticeResubscribed
		}
	default:
		status, notice, choice = http.StatusBadRequest, noticeChoose, "none"
	}
	s.log.InfoContext(ctx, "unsubscribe: preferences choice", "shop_id", l.claims.ShopID, "contact_id", l.claims.ContactID,
		"choice", choice, "status", status)
	ct, err := s.o.Contacts.Get(ctx, l.claims.ShopID, l.claims.ContactID)
	if errors.Is(err, contact.ErrNotFound) {
		return s.notFound(c) // erased meanwhile
	}
	if err != nil {
		return fmt.Errorf("unsubscribe: reload contact %d: %w", l.claims.ContactID, err)
	}
	v := preferencesOf(ct)
	v.Notice = notice
	return s.render(c, status, page{Kind: kindPreferences, Locale: l.locale, Shop: l.shopName, Action: c.Request().URL.Path, Prefs: v})
}

// ErrCannotResubscribe is returned by Resubscribe for a contact who did not
// unsubscribe through our links or was suppressed since.
var ErrCannotResubscribe = errors.New("unsubscribe: contact may not subscribe again from a link")

// Resubscribe subscribes again, now, a contact who had unsubscribed through
// our links (recorded with ResubscribeSource), and queues the write-back to
// Shopify. The rules are checked under the contact's row lock, so a bounce
// or a Shopify change landing at the same moment is never overwritten from
// a stale read. It starts no sequence: welcome is for new subscribers.
func (s *Service) Resubscribe(ctx context.Context, shopID, contactID int64) error {
	var ct *contact.Contact
	var applied bool
	var at time.Time
	err := s.o.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		contacts := s.o.Contacts.WithTx(tx)
		if ct, err = contacts.Lock(ctx, shopID, contactID); err != nil {
			return err
		}
		if ct.Consent == contact.Subscribed && ct.SuppressedAt == nil {
			return nil // already done (a second click, another tab)
		}
		if !canResubscribe(ct) {
			return ErrCannotResubscribe
		}
		at = s.clickTime(ct)
		applied, err = contacts.SetConsent(ctx, shopID, contactID, contact.Subscribed, at, ResubscribeSource)
		return err
	})
	if err != nil {
		return fmt.Errorf("unsubscribe: subscribe contact %d of shop %d again: %w", contactID, shopID, err)
	}
	s.log.InfoContext(ctx, "unsubscribe: contact subscribed again", "shop_id", shopID, "contact_id", contactID, "applied", applied)
	// Queued after the commit: the task reads the state it writes.
	if applied && ct.CustomerID != nil {
		s.enqueueWriteBack(ctx, shopID, contactID, at)
	}
	return nil
}
