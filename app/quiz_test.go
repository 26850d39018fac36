package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/relance/relance/internal/flow"
	"github.com/relance/relance/internal/quiz"
	"github.com/relance/relance/internal/shopify"
)

func (a *testApp) send(t *testing.T, method, path, bearer string, body any) (int, map[string]any) {
	t.Helper()
	b, err := json.Marshal(body)
	require.NoError(t, err)
	req, err := http.NewRequest(method, a.URL()+path, bytes.NewReader(b))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return res.StatusCode, out
}

// proxyQuery is what Shopify's app proxy appends to /apps/relance/quiz.
func proxyQuery(domain, secret string) string {
	q := url.Values{"shop": {domain}, "path_prefix": {"/apps/relance"}, "timestamp": {strconv.FormatInt(time.Now().Unix(), 10)},
		"logged_in_customer_id": {""}}
	q.Set("signature", shopify.SignProxy(secret, q))
	return q.Encode()
}

// The merchant saves a quiz in the admin; a shopper takes it on the
// storefront (through the app proxy) and gets the results email of their
// segment's branch; the consent is written back to Shopify. A forged
// signature is refused and a replay changes nothing.
func TestQuizToSegmentBranchEmail(t *testing.T) {
	t.Parallel()
	a := MustRunMain(t)
	var mu sync.Mutex
	var created []map[string]any
	a.store.HandleGraphQL("customerCreate", 10, func(shop string, vars map[string]any) (any, error) {
		mu.Lock()
		created = append(created, vars)
		mu.Unlock()
		return map[string]any{"customer": map[string]any{"id": "gid://shopify/Customer/9001"}, "userErrors": []any{}}, nil
	})
	const domain = "quiz-story.myshopify.com"
	shopID := a.enableFlow(t, domain, flow.PostQuiz)
	// The story must not depend on the hour it runs at.
	require.NoError(t, a.DB.Exec(`INSERT INTO journey_settings (shop_id, quiet_start, quiet_end) VALUES (?, '00:00', '00:00')
		ON CONFLICT (shop_id) DO UPDATE SET quiet_start = '00:00', quiet_end = '00:00'`, shopID).Error)

	def := quiz.Starter()
	def.Segments[1].Products = []quiz.Product{{ID: 31, Title: "Bold scarf", URL: "/products/bold-scarf"}}
	code, body := a.send(t, http.MethodPut, "/api/quiz", a.sessionToken(domain), def)
	require.Equal(t, http.StatusOK, code, "%v", body)

	code, body = a.send(t, http.MethodGet, "/proxy/quiz?"+proxyQuery(domain, testSecret), "", nil)
	require.Equal(t, http.StatusOK, code, "%v", body)
	require.Len(t, body["questions"], 2)

	sub := map[string]any{"email": "june@example.org", "consent": true, "answers": map[string]string{"goal": "treat", "style": "bold"},
		"submission_id": "0b9c1d2e-3f40-4a5b-8c6d-7e8f90a1b2c3"}
	code, _ = a.send(t, http.MethodPost, "/proxy/quiz?"+proxyQuery(domain, "forged-secret"), "", sub)
	require.Equal(t, http.StatusUnauthorized, code)

	code, body = a.send(t, http.MethodPost, "/proxy/quiz?"+proxyQuery(domain, testSecret), "", sub)
	require.Equal(t, http.StatusOK, code, "%v", body)
	require.Equal(t, "b", body["segment"])
	require.Equal(t, "Bold scarf", body["products"].([]any)[0].(map[string]any)["title"])
	code, _ = a.send(t, http.MethodPost, "/proxy/quiz?"+proxyQuery(domain, testSecret), "", sub)
	require.Equal(t, http.StatusOK, code)

	eventually(t, "the segment b results email in the outbox", func() bool {
		return a.scalar(t, `SELECT count(*)::text FROM mail_messages m JOIN mail_outbox o ON o.id = m.id
			WHERE m.shop_id = ? AND m.flow = 'post_quiz' AND m.step = 'results' AND o.to_email = 'june@example.org'`, shopID) == "1"
	})
	require.Equal(t, "b", a.scalar(t, `SELECT branch FROM enrollments WHERE shop_id = ? AND flow_key = 'post_quiz'`, shopID))
	require.Equal(t, "1", a.scalar(t, `SELECT count(*)::text FROM quiz_submissions WHERE shop_id = ?`, shopID))

	eventually(t, "the customer written back to Shopify", func() bool {
		return a.scalar(t, `SELECT customer_id::text FROM contacts WHERE shop_id = ? AND email = 'june@example.org'`, shopID) == "9001"
	})
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, created, 1)
	consent := created[0]["input"].(map[string]any)["emailMarketingConsent"].(map[string]any)
	require.Equal(t, "SUBSCRIBED", consent["marketingState"])

	code, body = a.send(t, http.MethodGet, "/api/quiz/stats", a.sessionToken(domain), nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, float64(1), body["segments"].([]any)[1].(map[string]any)["submissions"])
	_ = context.Background()
}
