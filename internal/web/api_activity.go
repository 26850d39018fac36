package web

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/relance/relance/internal/contact"
	"github.com/relance/relance/internal/journey"
)

// ActivityJSON is one decision of the engine. Decision is "sent",
// "skipped" or "deferred": an enrollment that ended (the shopper bought,
// unsubscribed, …) is a skipped step with that reason, and a send the
// provider refused is skipped with reason "send_failed".
type ActivityJSON struct {
	ID        int64     `json:"id"`
	At        time.Time `json:"at"`
	ContactID int64     `json:"contact_id"`
	Email     string    `json:"email"`
	Flow      string    `json:"flow"`
	Step      string    `json:"step"`
	Decision  string    `json:"decision"`
	Reason    string    `json:"reason"`
}

func activityJSON(it journey.ActivityItem) ActivityJSON {
	out := ActivityJSON{ID: it.ID, At: it.At.UTC(), ContactID: it.ContactID, Email: it.Email, Flow: string(it.Flow), Step: it.Step,
		Decision: it.Decision, Reason: it.Reason}
	switch it.Decision {
	case journey.DecisionExited:
		out.Decision = journey.DecisionSkipped
	case journey.DecisionFailed:
		out.Decision, out.Reason = journey.DecisionSkipped, "send_failed"
	}
	return out
}

func (a *admin) activityPage(c echo.Context, shopID int64, q journey.ActivityQuery) (page[ActivityJSON], error) {
	limit, cursor, err := pageParams(c)
	if err != nil {
		return page[ActivityJSON]{}, err
	}
	q.Limit, q.Before = limit+1, cursor
	items, err := a.Engine.Activity(c.Request().Context(), shopID, q)
	if err != nil {
		return page[ActivityJSON]{}, err
	}
	out := make([]ActivityJSON, len(items))
	for i, it := range items {
		out[i] = activityJSON(it)
	}
	return newPage(out, limit, func(x ActivityJSON) int64 { return x.ID }), nil
}

// activity answers GET /api/activity?q=&limit=&cursor=: the shop's
// decisions, newest first, q filtering on a substring of the email.
func (a *admin) activity(c echo.Context) error {
	s, err := sessionShop(c)
	if err != nil {
		return err
	}
	p, err := a.activityPage(c, s.ID, journey.ActivityQuery{EmailContains: c.QueryParam("q")})
	if err != nil {
		return err
	}
	noStore(c)
	return c.JSON(http.StatusOK, p)
}

// ContactJSON is a contact as the timeline shows it.
type ContactJSON struct {
	ID         int64  `json:"id"`
	Email      string `json:"email"`
	FirstName  string `json:"first_name"`
	Consent    string `json:"consent"`
	Suppressed bool   `json:"suppressed"`
}

// TimelineJSON is GET /api/contacts/:id/timeline.
type TimelineJSON struct {
	Contact    ContactJSON    `json:"contact"`
	Items      []ActivityJSON `json:"items"`
	NextCursor *string        `json:"next_cursor"`
}

// timeline answers GET /api/contacts/:id/timeline?limit=&cursor=: one
// contact of the shop and its decisions across flows, newest first.
func (a *admin) timeline(c echo.Context) error {
	s, err := sessionShop(c)
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return notFound("contact")
	}
	who, err := a.Contacts.Get(c.Request().Context(), s.ID, id)
	if errors.Is(err, contact.ErrNotFound) {
		return notFound("contact")
	}
	if err != nil {
		return err
	}
	p, err := a.activityPage(c, s.ID, journey.ActivityQuery{ContactID: who.ID})
	if err != nil {
		return err
	}
	noStore(c)
	return c.JSON(http.StatusOK, TimelineJSON{
		Contact: ContactJSON{ID: who.ID, Email: who.EmailAddress(), FirstName: who.FirstName, Consent: string(who.Consent),
			Suppressed: who.Suppressed()},
		Items: p.Items, NextCursor: p.NextCursor,
	})
}
