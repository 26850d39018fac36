package web

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/relance/relance/internal/mail"
)

// OutboxItemJSON is one email of GET /api/outbox.
type OutboxItemJSON struct {
	ID      int64     `json:"id"`
	At      time.Time `json:"at"`
	To      string    `json:"to"`
	Subject string    `json:"subject"`
}

// OutboxEmailJSON is GET /api/outbox/:id.
type OutboxEmailJSON struct {
	OutboxItemJSON
	HTML string `json:"html"`
	Text string `json:"text"`
}

// listOutbox answers GET /api/outbox?limit=&cursor=, newest first; 404
// unless the outbox mailer is in use.
func (a *admin) listOutbox(c echo.Context) error {
	s, err := sessionShop(c)
	if err != nil {
		return err
	}
	if a.Outbox == nil {
		return notFound("outbox")
	}
	limit, cursor, err := pageParams(c)
	if err != nil {
		return err
	}
	emails, err := a.Outbox.Page(c.Request().Context(), s.ID, limit+1, cursor)
	if err != nil {
		return err
	}
	items := make([]OutboxItemJSON, len(emails))
	for i, e := range emails {
		items[i] = OutboxItemJSON{ID: e.ID, At: e.CreatedAt.UTC(), To: e.To, Subject: e.Subject}
	}
	noStore(c)
	return c.JSON(http.StatusOK, newPage(items, limit, func(x OutboxItemJSON) int64 { return x.ID }))
}

// getOutbox answers GET /api/outbox/:id; another shop's email is a 404.
func (a *admin) getOutbox(c echo.Context) error {
	s, err := sessionShop(c)
	if err != nil {
		return err
	}
	if a.Outbox == nil {
		return notFound("outbox")
	}
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return notFound("email")
	}
	e, err := a.Outbox.Get(c.Request().Context(), s.ID, id)
	if errors.Is(err, mail.ErrNotFound) {
		return notFound("email")
	}
	if err != nil {
		return err
	}
	noStore(c)
	return c.JSON(http.StatusOK, OutboxEmailJSON{
		OutboxItemJSON: OutboxItemJSON{ID: e.ID, At: e.CreatedAt.UTC(), To: e.To, Subject: e.Subject}, HTML: e.HTML, Text: e.Text})
}
