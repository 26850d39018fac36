package quiz_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/relance/relance/internal/contact"
	"github.com/relance/relance/internal/flow"
	"github.com/relance/relance/internal/journey"
	"github.com/relance/relance/internal/platform/testenv"
	"github.com/relance/relance/internal/quiz"
	"github.com/relance/relance/internal/shop"
	"github.com/relance/relance/internal/shopify"
)

const secret = "quiz-test-secret"

var shopSeq atomic.Int64

type nopSender struct{}

func (nopSender) Send(context.Context, journey.Message) error { return nil }

// recordingQueue records enqueued tasks.
type recordingQueue struct {
	mu    sync.Mutex
	tasks []*asynq.Task
}

func (q *recordingQueue) EnqueueContext(_ context.Context, t *asynq.Task, _ ...asynq.Option) (*asynq.TaskInfo, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.tasks = append(q.tasks, t)
	return &asynq.TaskInfo{}, nil
}

// fakeAdmin answers Admin API calls from a function and records them.
type fakeAdmin struct {
	mu     sync.Mutex
	calls  []map[string]any
	answer func(query string, vars map[string]any) string
}

func (a *fakeAdmin) Do(_ context.Context, shop, query string, vars map[string]any, out any) error {
	a.mu.Lock()
	a.calls = append(a.calls, map[string]any{"shop": shop, "query": query, "vars": vars})
	a.mu.Unlock()
	return json.Unmarshal([]byte(a.answer(query, vars)), out)
}

type harness struct {
	t      *testing.T
	ctx    context.Context
	db     *gorm.DB
	svc    *quiz.Service
	e      *echo.Echo
	shopID int64
	domain string
	now    time.Time
	queue  *recordingQueue
	admin  *fakeAdmin
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	t.Parallel()
	ctx := context.Background()
	db := testenv.DB(t)
	redisOpt, err := asynq.ParseRedisURI(testenv.RedisURL(t))
	require.NoError(t, err)
	client := asynq.NewClient(redisOpt)
	t.Cleanup(func() { client.Close() })
	shops, err := shop.NewStore(db, bytes.Repeat([]byte{7}, 32))
	require.NoError(t, err)

	h := &harness{t: t, ctx: ctx, db: db, now: time.Now(), queue: &recordingQueue{}, admin: &fakeAdmin{}}
	h.domain = fmt.Sprintf("quiz-%d-%d.myshopify.com", time.Now().UnixNano(), shopSeq.Add(1))
	require.NoError(t, db.Raw(`INSERT INTO shops (domain, access_token_enc, installed_at) VALUES (?, '\x01', now()) RETURNING id`,
		h.domain).Scan(&h.shopID).Error)
	eng := journey.New(journey.Options{DB: db, Queue: client, Sender: nopSender{}})
	require.NoError(t, eng.Flows().EnsureDefaults(ctx, h.shopID))
	require.NoError(t, eng.Flows().SetEnabled(ctx, h.shopID, flow.PostQuiz, true))

	h.svc, err = quiz.New(quiz.Options{DB: db, Secrets: shopify.Secrets{Current: secret}, Shops: shops, Contacts: eng.Contacts(),
		Engine: eng, Queue: h.queue, Admin: h.admin, Now: func() time.Time { return h.now }})
	require.NoError(t, err)
	h.e = echo.New()
	quiz.Routes(h.e.Group("/proxy"), h.svc)
	return h
}

func definition() quiz.Definition {
	return quiz.Definition{
		Title: "Skin quiz",
		Questions: []quiz.Question{
			{ID: "type", Text: "Your skin?", Answers: []quiz.Answer{{ID: "dry", Text: "Dry", Segment: "a"}, {ID: "oily", Text: "Oily", Segment: "b"}}},
			{ID: "age", Text: "Your age?", Answers: []quiz.Answer{{ID: "young", Text: "<30", Segment: "b"}, {ID: "old", Text: "30+"}}},
		},
		Segments: []quiz.Segment{
			{Key: "a", Name: "Dry skin", Products: []quiz.Product{{ID: 11, Title: "Rich cream", URL: "/products/rich-cream"}}},
			{Key: "b", Name: "Oily skin", Products: []quiz.Product{{ID: 22, Title: "Clay mask", URL: "/products/clay-mask"}}},
		},
	}
}

// signed is the query Shopify's app proxy adds, signed at ts.
func (h *harness) signed(ts time.Time, sec string) url.Values {
	q := url.Values{"shop": {h.domain}, "path_prefix": {"/apps/relance"}, "timestamp": {strconv.FormatInt(ts.Unix(), 10)},
		"logged_in_customer_id": {""}}
	q.Set("signature", shopify.SignProxy(sec, q))
	return q
}

func (h *harness) do(method string, q url.Values, body any) (int, map[string]any) {
	h.t.Helper()
	var r *http.Request
	target := "/proxy/quiz?" + q.Encode()
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(h.t, err)
		r = httptest.NewRequest(method, target, bytes.NewReader(b))
		r.Header.Set("Content-Type", "application/json")
	} else {
		r = httptest.NewRequest(method, target, nil)
	}
	w := httptest.NewRecorder()
	h.e.ServeHTTP(w, r)
	var out map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &out)
	return w.Code, out
}

func (h *harness) count(query string, args ...any) int {
	h.t.Helper()
	var n int
	require.NoError(h.t, h.db.Raw(query, args...).Scan(&n).Error)
	return n
}

func TestForgedOrStaleProxySignatureIs401(t *testing.T) {
	h := newHarness(t)
	_, err := h.svc.Save(h.ctx, h.shopID, definition())
	require.NoError(t, err)

	code, body := h.do(http.MethodGet, h.signed(h.now, secret), nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "Skin quiz", body["title"])
	// The storefront never sees the segment mapping.
	require.NotContains(t, fmt.Sprint(body), "segment")

	tampered := h.signed(h.now, secret)
	tampered.Set("shop", "other-shop.myshopify.com")
	noSig := h.signed(h.now, secret)
	noSig.Del("signature")
	twoShops := h.signed(h.now, secret)
	twoShops.Add("shop", h.domain)
	sub := map[string]any{"email": "x@example.com", "consent": true, "answers": map[string]string{"type": "dry", "age": "old"},
		"submission_id": "5f0c8a8e-8d7a-4d53-9b1e-0c1d2e3f4a5b"}
	for name, q := range map[string]url.Values{
		"other secret":        h.signed(h.now, "not-our-secret"),
		"stale (5 min)":       h.signed(h.now.Add(-5*time.Minute), secret),
		"tampered shop":       tampered,
		"no signature":        noSig,
		"repeated shop param": twoShops,
	} {
		for _, m := range []string{http.MethodGet, http.MethodPost} {
			code, _ := h.do(m, q, sub)
			require.Equal(t, http.StatusUnauthorized, code, "%s %s", m, name)
		}
	}
	require.Zero(t, h.count(`SELECT count(*) FROM quiz_submissions WHERE shop_id = ?`, h.shopID))
	require.Zero(t, h.count(`SELECT count(*) FROM contacts WHERE shop_id = ?`, h.shopID))
}

func TestQuizStartsTheSegmentBranch(t *testing.T) {
	h := newHarness(t)
	_, err := h.svc.Save(h.ctx, h.shopID, definition())
	require.NoError(t, err)

	// Oily + young: two votes for b.
	code, body := h.do(http.MethodPost, h.signed(h.now, secret), map[string]any{"email": " Ann@Example.com ", "consent": true,
		"answers": map[string]string{"type": "oily", "age": "young"}, "submission_id": "6a1f7c2e-1111-4c4c-8888-0123456789ab"})
	require.Equal(t, http.StatusOK, code, "%v", body)
	require.Equal(t, "b", body["segment"])
	require.Equal(t, "Oily skin", body["name"])
	require.Equal(t, "Clay mask", body["products"].([]any)[0].(map[string]any)["title"])

	var c struct {
		ID            int64
		Consent       string
		ConsentSource string
	}
	require.NoError(t, h.db.Raw(`SELECT id, consent, consent_source FROM contacts WHERE shop_id = ? AND email = 'ann@example.com'`, h.shopID).Scan(&c).Error)
	require.Equal(t, "subscribed", c.Consent)
	require.Equal(t, quiz.ConsentSource, c.ConsentSource)

	var en []struct {
		FlowKey string
		Branch  string
		Status  string
	}
	require.NoError(t, h.db.Raw(`SELECT flow_key, branch, status FROM enrollments WHERE shop_id = ? AND contact_id = ?`, h.shopID, c.ID).Scan(&en).Error)
	require.Len(t, en, 1)
	require.Equal(t, "post_quiz", en[0].FlowKey)
	require.Equal(t, "b", en[0].Branch)
	require.Equal(t, "active", en[0].Status)

	// The consent goes back to Shopify through one queued task.
	require.Len(t, h.queue.tasks, 1)
	require.Equal(t, quiz.TypeWriteBack, h.queue.tasks[0].Type())

	// No answer pointing anywhere: the default segment (the first one).
	code, body = h.do(http.MethodPost, h.signed(h.now, secret), map[string]any{"email": "bob@example.com", "consent": false,
		"answers": map[string]string{"type": "dry", "age": "old"}, "submission_id": "6a1f7c2e-2222-4c4c-8888-0123456789ab"})
	require.Equal(t, http.StatusOK, code, "%v", body)
	require.Equal(t, "a", body["segment"])
	// Unticked consent: the contact exists but is not subscribed, nothing
	// is written back.
	require.Equal(t, 1, h.count(`SELECT count(*) FROM contacts WHERE shop_id = ? AND email = 'bob@example.com' AND consent = 'not_subscribed'`, h.shopID))
	require.Len(t, h.queue.tasks, 1)
}

func TestReplayedQuizPostIsIdempotent(t *testing.T) {
	h := newHarness(t)
	_, err := h.svc.Save(h.ctx, h.shopID, definition())
	require.NoError(t, err)
	sub := map[string]any{"email": "cat@example.com", "consent": true, "answers": map[string]string{"type": "dry", "age": "old"},
		"submission_id": "7b2e8d3f-3333-4d4d-9999-0123456789ab"}
	code, first := h.do(http.MethodPost, h.signed(h.now, secret), sub)
	require.Equal(t, http.StatusOK, code)

	// Replays, even with other answers or another email, change nothing.
	replay := map[string]any{"email": "eve@example.com", "consent": true, "answers": map[string]string{"type": "oily", "age": "young"},
		"submission_id": "7b2e8d3f-3333-4d4d-9999-0123456789ab"}
	for range 3 {
		h.now = h.now.Add(time.Second)
		code, again := h.do(http.MethodPost, h.signed(h.now, secret), replay)
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, first, again)
	}
	require.Equal(t, 1, h.count(`SELECT count(*) FROM quiz_submissions WHERE shop_id = ?`, h.shopID))
	require.Equal(t, 1, h.count(`SELECT count(*) FROM contacts WHERE shop_id = ?`, h.shopID))
	require.Equal(t, 1, h.count(`SELECT count(*) FROM enrollments WHERE shop_id = ?`, h.shopID))
	require.Len(t, h.queue.tasks, 1)

	// Concurrent duplicates too.
	sub["submission_id"] = "7b2e8d3f-4444-4d4d-9999-0123456789ab"
	sub["email"] = "dan@example.com"
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, _ := h.do(http.MethodPost, h.signed(h.now, secret), sub)
			require.Equal(t, http.StatusOK, code)
		}()
	}
	wg.Wait()
	require.Equal(t, 2, h.count(`SELECT count(*) FROM quiz_submissions WHERE shop_id = ? AND status = 'done'`, h.shopID))
	require.Equal(t, 2, h.count(`SELECT count(*) FROM enrollments WHERE shop_id = ?`, h.shopID))
}

func TestBadSubmissionsAre422(t *testing.T) {
	h := newHarness(t)
	q := h.signed(h.now, secret)
	code, _ := h.do(http.MethodGet, q, nil)
	require.Equal(t, http.StatusNotFound, code, "no quiz saved yet")

	_, err := h.svc.Save(h.ctx, h.shopID, definition())
	require.NoError(t, err)
	for name, tc := range map[string]struct {
		sub   map[string]any
		field string
	}{
		"bad email":      {map[string]any{"email": "nope", "answers": map[string]string{"type": "dry", "age": "old"}, "submission_id": "8c3f9e40-5555-4e4e-aaaa-0123456789ab"}, "email"},
		"missing answer": {map[string]any{"email": "a@b.co", "answers": map[string]string{"type": "dry"}, "submission_id": "8c3f9e40-5555-4e4e-aaaa-0123456789ab"}, "answers.age"},
		"foreign answer": {map[string]any{"email": "a@b.co", "answers": map[string]string{"type": "young", "age": "old"}, "submission_id": "8c3f9e40-5555-4e4e-aaaa-0123456789ab"}, "answers.type"},
		"no uuid":        {map[string]any{"email": "a@b.co", "answers": map[string]string{"type": "dry", "age": "old"}, "submission_id": "1"}, "submission_id"},
	} {
		code, body := h.do(http.MethodPost, q, tc.sub)
		require.Equal(t, http.StatusUnprocessableEntity, code, name)
		require.Contains(t, body["errors"], tc.field, name)
	}
	require.Zero(t, h.count(`SELECT count(*) FROM quiz_submissions WHERE shop_id = ?`, h.shopID))
}

func TestStatsBySegment(t *testing.T) {
	h := newHarness(t)
	_, err := h.svc.Save(h.ctx, h.shopID, definition())
	require.NoError(t, err)
	for i, answer := range []string{"oily", "oily", "dry"} {
		code, _ := h.do(http.MethodPost, h.signed(h.now, secret), map[string]any{"email": fmt.Sprintf("s%d@example.com", i), "consent": i == 0,
			"answers": map[string]string{"type": answer, "age": "old"}, "submission_id": fmt.Sprintf("9d4fa051-6666-4f4f-bbbb-%012d", i)})
		require.Equal(t, http.StatusOK, code)
	}
	// s0 (segment b) orders after the quiz.
	var contactID int64
	require.NoError(t, h.db.Raw(`SELECT id FROM contacts WHERE shop_id = ? AND email = 's0@example.com'`, h.shopID).Scan(&contactID).Error)
	_, err = contact.NewStore(h.db).RecordOrder(h.ctx, h.shopID, contact.Order{ID: 501, ContactID: contactID, TotalPrice: "20.00",
		OrderedAt: h.now.Add(time.Hour), UpdatedAt: h.now.Add(time.Hour)})
	require.NoError(t, err)

	st, err := h.svc.Stats(h.ctx, h.shopID)
	require.NoError(t, err)
	require.Equal(t, []quiz.SegmentStats{
		{Segment: "a", Name: "Dry skin", Submissions: 1},
		{Segment: "b", Name: "Oily skin", Submissions: 2, Subscribed: 1, Converted: 1, Conversion: 0.5},
	}, st)
}

func TestWriteBackCreatesTheCustomerWithConsent(t *testing.T) {
	h := newHarness(t)
	_, err := h.svc.Save(h.ctx, h.shopID, definition())
	require.NoError(t, err)
	h.admin.answer = func(query string, _ map[string]any) string {
		return `{"customerCreate": {"customer": {"id": "gid://shopify/Customer/4242"}, "userErrors": []}}`
	}
	code, _ := h.do(http.MethodPost, h.signed(h.now, secret), map[string]any{"email": "fay@example.com", "consent": true,
		"answers": map[string]string{"type": "dry", "age": "old"}, "submission_id": "ae5ab162-7777-4a4a-cccc-0123456789ab"})
	require.Equal(t, http.StatusOK, code)
	require.Len(t, h.queue.tasks, 1)
	require.NoError(t, h.svc.HandleWriteBack(h.ctx, h.queue.tasks[0]))

	require.Len(t, h.admin.calls, 1)
	require.Equal(t, h.domain, h.admin.calls[0]["shop"])
	input := h.admin.calls[0]["vars"].(map[string]any)["input"].(map[string]any)
	require.Equal(t, "fay@example.com", input["email"])
	require.Equal(t, "SUBSCRIBED", input["emailMarketingConsent"].(map[string]any)["marketingState"])
	require.Equal(t, 1, h.count(`SELECT count(*) FROM contacts WHERE shop_id = ? AND email = 'fay@example.com' AND customer_id = 4242`, h.shopID))
}

func TestWriteBackFindsAnExistingCustomer(t *testing.T) {
	h := newHarness(t)
	_, err := h.svc.Save(h.ctx, h.shopID, definition())
	require.NoError(t, err)
	h.admin.answer = func(query string, _ map[string]any) string {
		switch {
		case bytes.Contains([]byte(query), []byte("customerCreate(")):
			return `{"customerCreate": {"customer": null, "userErrors": [{"field": ["email"], "message": "Email has already been taken"}]}}`
		case bytes.Contains([]byte(query), []byte("customers(")):
			return `{"customers": {"nodes": [{"id": "gid://shopify/Customer/77"}]}}`
		default:
			return `{"customerEmailMarketingConsentUpdate": {"customer": {"id": "gid://shopify/Customer/77"}, "userErrors": []}}`
		}
	}
	code, _ := h.do(http.MethodPost, h.signed(h.now, secret), map[string]any{"email": "gus@example.com", "consent": true,
		"answers": map[string]string{"type": "dry", "age": "old"}, "submission_id": "bf6bc273-8888-4b4b-dddd-0123456789ab"})
	require.Equal(t, http.StatusOK, code)
	require.NoError(t, h.svc.HandleWriteBack(h.ctx, h.queue.tasks[0]))
	require.Len(t, h.admin.calls, 3)
	input := h.admin.calls[2]["vars"].(map[string]any)["input"].(map[string]any)
	require.Equal(t, "gid://shopify/Customer/77", input["customerId"])
	require.Equal(t, 1, h.count(`SELECT count(*) FROM contacts WHERE shop_id = ? AND customer_id = 77`, h.shopID))

	// Unsubscribed since: the task is skipped.
	require.NoError(t, h.db.Exec(`UPDATE contacts SET consent = 'unsubscribed' WHERE shop_id = ?`, h.shopID).Error)
	require.NoError(t, h.svc.HandleWriteBack(h.ctx, h.queue.tasks[0]))
	require.Len(t, h.admin.calls, 3)
}
