package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/relance/relance/internal/journey"
	"github.com/relance/relance/internal/platform/testenv"
	"github.com/relance/relance/internal/quiz"
	"github.com/relance/relance/internal/shop"
	"github.com/relance/relance/internal/shopify"
)

type nopSender struct{}

func (nopSender) Send(context.Context, journey.Message) error { return nil }

// quizAPIServer serves QuizRoutes with the session's shop taken from the
// X-Test-Shop header (RequireSession itself is tested in web_test.go).
func quizAPIServer(t *testing.T) (*echo.Echo, map[string]*shop.Shop) {
	t.Helper()
	db := testenv.DB(t)
	redisOpt, err := asynq.ParseRedisURI(testenv.RedisURL(t))
	require.NoError(t, err)
	client := asynq.NewClient(redisOpt)
	t.Cleanup(func() { client.Close() })
	store, err := shop.NewStore(db, make([]byte, 32))
	require.NoError(t, err)
	eng := journey.New(journey.Options{DB: db, Queue: client, Sender: nopSender{}})
	q, err := quiz.New(quiz.Options{DB: db, Secrets: shopify.Secrets{Current: "s"}, Shops: store, Contacts: eng.Contacts(), Engine: eng})
	require.NoError(t, err)

	shops := map[string]*shop.Shop{}
	for _, name := range []string{"a", "b"} {
		s := &shop.Shop{Domain: fmt.Sprintf("quiz-api-%s-%d.myshopify.com", name, time.Now().UnixNano())}
		require.NoError(t, db.Raw(`INSERT INTO shops (domain) VALUES (?) RETURNING id`, s.Domain).Scan(&s.ID).Error)
		shops[name] = s
	}
	e := echo.New()
	api := e.Group("/api", func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if s := shops[c.Request().Header.Get("X-Test-Shop")]; s != nil {
				c.Set(shopContextKey, s)
			}
			return next(c)
		}
	})
	QuizRoutes(api, q)
	return e, shops
}

func quizCall(t *testing.T, e *echo.Echo, method, path, shopName string, body any) (int, map[string]any) {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	r := httptest.NewRequest(method, path, rd)
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-Test-Shop", shopName)
	w := httptest.NewRecorder()
	e.ServeHTTP(w, r)
	var out map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &out)
	return w.Code, out
}

func TestQuizAPI(t *testing.T) {
	t.Parallel()
	e, _ := quizAPIServer(t)

	code, _ := quizCall(t, e, http.MethodGet, "/api/quiz", "", nil)
	require.Equal(t, http.StatusUnauthorized, code)

	// Before saving: a starter, not saved.
	code, got := quizCall(t, e, http.MethodGet, "/api/quiz", "a", nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, false, got["saved"])
	starter := quiz.Starter()

	// Invalid: field errors, 422.
	bad := quiz.Starter()
	bad.Questions[0].Text = ""
	bad.Questions[1].Answers[0].Segment = "zzz"
	bad.Segments[0].Products = []quiz.Product{{ID: 1, Title: "x", URL: "javascript:alert(1)"}}
	code, got = quizCall(t, e, http.MethodPut, "/api/quiz", "a", bad)
	require.Equal(t, http.StatusUnprocessableEntity, code)
	require.Equal(t, map[string]any{
		"questions[0].text":               "required",
		"questions[1].answers[0].segment": "must be one of the segments",
		"segments[0].products[0].url":     "a storefront path starting with / or an https URL",
	}, got["errors"])
	code, got = quizCall(t, e, http.MethodPut, "/api/quiz", "a", map[string]any{"title": "x", "unknown": 1})
	require.Equal(t, http.StatusUnprocessableEntity, code)
	require.Contains(t, got["errors"], "")

	// Valid: saved for shop a only.
	starter.Segments[1].Products = []quiz.Product{{ID: 9, Title: "Mask", URL: "/products/mask"}}
	code, got = quizCall(t, e, http.MethodPut, "/api/quiz", "a", starter)
	require.Equal(t, http.StatusOK, code, "%v", got)
	require.Equal(t, true, got["saved"])
	code, got = quizCall(t, e, http.MethodGet, "/api/quiz", "a", nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, true, got["saved"])
	require.Equal(t, "Mask", got["definition"].(map[string]any)["segments"].([]any)[1].(map[string]any)["products"].([]any)[0].(map[string]any)["title"])
	code, got = quizCall(t, e, http.MethodGet, "/api/quiz", "b", nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, false, got["saved"], "shop b does not see shop a's quiz")

	code, got = quizCall(t, e, http.MethodGet, "/api/quiz/stats", "a", nil)
	require.Equal(t, http.StatusOK, code)
	require.Len(t, got["segments"], 3)
	code, got = quizCall(t, e, http.MethodGet, "/api/quiz/stats", "b", nil)
	require.Equal(t, http.StatusOK, code)
	require.Empty(t, got["segments"])
}
