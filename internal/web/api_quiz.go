package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/relance/relance/internal/quiz"
)

// maxQuizBody caps PUT /api/quiz; a valid definition is far smaller.
const maxQuizBody = 128 << 10

// QuizRoutes registers the admin's Quiz page endpoints on the /api group
// (behind RequireSession): the definition and the stats by segment, always
// of the session's shop.
func QuizRoutes(api *echo.Group, q *quiz.Service) {
	h := &quizAPI{q: q}
	api.GET("/quiz", h.Get)
	api.PUT("/quiz", h.Put)
	api.GET("/quiz/stats", h.Stats)
}

type quizAPI struct{ q *quiz.Service }

// QuizResponse is the JSON of GET and PUT /api/quiz. Saved is false while
// the shop has no quiz (the definition is then a starter to edit, and the
// storefront block shows nothing).
type QuizResponse struct {
	Saved      bool            `json:"saved"`
	Definition quiz.Definition `json:"definition"`
}

// Get answers GET /api/quiz.
func (h *quizAPI) Get(c echo.Context) error {
	s := ShopFrom(c)
	if s == nil {
		return echo.NewHTTPError(http.StatusUnauthorized, "invalid session")
	}
	d, err := h.q.Definition(c.Request().Context(), s.ID)
	if errors.Is(err, quiz.ErrNoQuiz) {
		return c.JSON(http.StatusOK, QuizResponse{Saved: false, Definition: quiz.Starter()})
	}
	if err != nil {
		return fmt.Errorf("web: get quiz: %w", err)
	}
	return c.JSON(http.StatusOK, QuizResponse{Saved: true, Definition: *d})
}

// Put answers PUT /api/quiz: 200 with the stored definition, 422
// {"errors": {"questions[0].text": "required", …}} when it is invalid.
func (h *quizAPI) Put(c echo.Context) error {
	s := ShopFrom(c)
	if s == nil {
		return echo.NewHTTPError(http.StatusUnauthorized, "invalid session")
	}
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, maxQuizBody+1))
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "unreadable body")
	}
	if len(body) > maxQuizBody {
		return echo.NewHTTPError(http.StatusRequestEntityTooLarge, "quiz too large")
	}
	var d quiz.Definition
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return c.JSON(http.StatusUnprocessableEntity, map[string]any{"errors": map[string]string{"": "malformed quiz JSON: " + err.Error()}})
	}
	saved, err := h.q.Save(c.Request().Context(), s.ID, d)
	var fe quiz.FieldErrors
	if errors.As(err, &fe) {
		return c.JSON(http.StatusUnprocessableEntity, map[string]any{"errors": fe})
	}
	if err != nil {
		return fmt.Errorf("web: save quiz: %w", err)
	}
	return c.JSON(http.StatusOK, QuizResponse{Saved: true, Definition: *saved})
}

// QuizStatsResponse is the JSON of GET /api/quiz/stats.
type QuizStatsResponse struct {
	Segments []quiz.SegmentStats `json:"segments"`
}

// Stats answers GET /api/quiz/stats: submissions, consents and conversion
// by segment.
func (h *quizAPI) Stats(c echo.Context) error {
	s := ShopFrom(c)
	if s == nil {
		return echo.NewHTTPError(http.StatusUnauthorized, "invalid session")
	}
	st, err := h.q.Stats(c.Request().Context(), s.ID)
	if err != nil {
		return fmt.Errorf("web: quiz stats: %w", err)
	}
	return c.JSON(http.StatusOK, QuizStatsResponse{Segments: st})
}
