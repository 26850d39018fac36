package quiz

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/relance/relance/internal/shop"
)

// maxSubmissionBody caps a POST body: an email, a uuid and ten answer ids.
const maxSubmissionBody = 8 << 10

const ctxShop = "quiz.shop"

// Routes registers the storefront endpoints on the app proxy group (mounted
// at /proxy: the storefront's /apps/relance/quiz arrives as /proxy/quiz):
// GET /quiz (the definition the block renders) and POST /quiz (a
// submission). Both require a valid app proxy signature.
func Routes(proxy *echo.Group, s *Service) {
	proxy.GET("/quiz", s.GetProxy, s.RequireProxySignature)
	proxy.POST("/quiz", s.PostProxy, s.RequireProxySignature)
}

// RequireProxySignature verifies the app proxy signature of the query
// (shopify.Secrets.VerifyProxy: HMAC and timestamp within 90 s) and loads
// the installed shop it names. A forged or stale signature is a 401, logged
// with the shop the request claimed (not trusted) and the reason.
func (s *Service) RequireProxySignature(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		q := c.QueryParams()
		if err := s.o.Secrets.VerifyProxy(q, s.o.Now()); err != nil {
			s.log.WarnContext(c.Request().Context(), "quiz: app proxy request refused", "claimed_shop", cut(q.Get("shop"), 100),
				"path", c.Request().URL.Path, "remote", c.RealIP(), "err", err)
			return c.JSON(http.StatusUnauthorized, map[string]string{"error": "invalid signature"})
		}
		sh, err := s.o.Shops.Installed(c.Request().Context(), q.Get("shop"))
		if errors.Is(err, shop.ErrNotInstalled) {
			return c.JSON(http.StatusNotFound, map[string]string{"error": "shop not installed"})
		}
		if err != nil {
			return err
		}
		c.Set(ctxShop, sh)
		// Proxied JSON must not be cached by the storefront's CDN across shoppers.
		c.Response().Header().Set("Cache-Control", "no-store")
		return next(c)
	}
}

func cut(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// PublicQuestion is a question as the storefront sees it: no segment mapping.
type PublicQuestion struct {
	ID      string         `json:"id"`
	Text    string         `json:"text"`
	Answers []PublicAnswer `json:"answers"`
}

// PublicAnswer is an answer without its segment.
type PublicAnswer struct {
	ID   string `json:"id"`
	Text string `json:"text"`
}

// PublicQuiz is the JSON of GET /proxy/quiz.
type PublicQuiz struct {
	Title     string           `json:"title"`
	Intro     string           `json:"intro"`
	Questions []PublicQuestion `json:"questions"`
}

// GetProxy answers GET /proxy/quiz: the questions and answers, without the
// segment mapping. 404 when the shop has no quiz.
func (s *Service) GetProxy(c echo.Context) error {
	sh := c.Get(ctxShop).(*shop.Shop)
	d, err := s.Definition(c.Request().Context(), sh.ID)
	if errors.Is(err, ErrNoQuiz) {
		return c.JSON(http.StatusNotFound, map[string]string{"error": "no quiz"})
	}
	if err != nil {
		return err
	}
	out := PublicQuiz{Title: d.Title, Intro: d.Intro, Questions: make([]PublicQuestion, 0, len(d.Questions))}
	for _, q := range d.Questions {
		pq := PublicQuestion{ID: q.ID, Text: q.Text, Answers: make([]PublicAnswer, 0, len(q.Answers))}
		for _, a := range q.Answers {
			pq.Answers = append(pq.Answers, PublicAnswer{ID: a.ID, Text: a.Text})
		}
		out.Questions = append(out.Questions, pq)
	}
	return c.JSON(http.StatusOK, out)
}

// PostProxy answers POST /proxy/quiz: 200 {segment, name, products} (also on
// a replay), 422 {errors: {field: message}}, 404 without a quiz.
func (s *Service) PostProxy(c echo.Context) error {
	sh := c.Get(ctxShop).(*shop.Shop)
	ct := c.Request().Header.Get(echo.HeaderContentType)
	if ct != "" && !strings.HasPrefix(ct, echo.MIMEApplicationJSON) && !strings.HasPrefix(ct, echo.MIMETextPlain) {
		return c.JSON(http.StatusUnsupportedMediaType, map[string]string{"error": "send JSON"})
	}
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, maxSubmissionBody+1))
	if err != nil {
		return c.JSON(http.StatusBadRequest, map[string]string{"error": "unreadable body"})
	}
	if len(body) > maxSubmissionBody {
		return c.JSON(http.StatusRequestEntityTooLarge, map[string]string{"error": "body too large"})
	}
	var sub Submission
	if err := json.Unmarshal(body, &sub); err != nil {
		return c.JSON(http.StatusBadRequest, map[string]string{"error": "malformed JSON"})
	}
	res, _, err := s.Submit(c.Request().Context(), sh, sub)
	var fe FieldErrors
	switch {
	case errors.As(err, &fe):
		return c.JSON(http.StatusUnprocessableEntity, map[string]any{"errors": fe})
	case errors.Is(err, ErrNoQuiz):
		return c.JSON(http.StatusNotFound, map[string]string{"error": "no quiz"})
	case err != nil:
		return err
	}
	return c.JSON(http.StatusOK, res)
}
