package main

import (
	"context"
	"errors"

	"github.com/relance/relance/internal/contact"
	"github.com/relance/relance/internal/journey"
	"github.com/relance/relance/internal/mail"
)

// The adapters below give Resend's delivery webhooks what they need
// (mail.Suppressor, mail.EngagementRecorder): the mail package knows
// addresses and message ids, the contact package knows contacts.
var (
	_ mail.Suppressor         = mailSuppressor{}
	_ mail.EngagementRecorder = mailEngagement{}
)

// mailSuppressor suppresses the contact holding an address (hard bounce,
// complaint) and ends its enrollments at once. Unknown addresses are
// ignored; repeating it is harmless.
type mailSuppressor struct {
	contacts *contact.Store
	engine   *journey.Engine
	clock    journey.Clock
}

func (s mailSuppressor) Suppress(ctx context.Context, shopID int64, email, reason string) error {
	c, err := s.contacts.ByEmail(ctx, shopID, email)
	if errors.Is(err, contact.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := s.contacts.Suppress(ctx, shopID, c.ID, reason, s.clock.Now()); err != nil {
		return err
	}
	return s.engine.ExitContact(ctx, shopID, c.ID, journey.ReasonSuppressed)
}

// mailEngagement moves a contact's last open or click forward.
type mailEngagement struct {
	contacts *contact.Store
}

func (e mailEngagement) RecordEngagement(ctx context.Context, g mail.Engagement) error {
	id := g.ContactID
	if id == 0 {
		c, err := e.contacts.ByEmail(ctx, g.ShopID, g.Email)
		if errors.Is(err, contact.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		id = c.ID
	}
	kind := map[string]string{"open": contact.Open, "click": contact.Click}[g.Kind]
	if kind == "" {
		return nil // an engagement kind the contact does not keep
	}
	return e.contacts.RecordEngagement(ctx, g.ShopID, id, kind, g.At)
}
