package web

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/relance/relance/internal/analytics"
	"github.com/relance/relance/internal/platform/testenv"
	"github.com/relance/relance/internal/shop"
	"github.com/relance/relance/internal/shopify"
)

// GET /api/metrics over real HTTP behind RequireSession: the figures are
// analytics' (attributions, orders, the roll-up), before and after the
// roll-up runs, in the shop's time zone, scoped to the session's shop.
func TestMetricsFromTheRollUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.DB(t)
	store, err := shop.NewStore(db, bytes.Repeat([]byte{9}, 32))
	require.NoError(t, err)
	const domainA, domainB = "metrics-a.myshopify.com", "metrics-b.myshopify.com"
	a, err := store.SaveInstall(ctx, domainA, &shopify.Token{AccessToken: "tok-a", Scopes: testScopes},
		shop.Info{Name: "Alpha", Timezone: "Asia/Tokyo", Currency: "JPY"})
	require.NoError(t, err)
	_, err = store.SaveInstall(ctx, domainB, &shopify.Token{AccessToken: "tok-b", Scopes: testScopes},
		shop.Info{Name: "Beta", Timezone: "UTC", Currency: "USD"})
	require.NoError(t, err)
	svc := analytics.New(db, nil)
	e := echo.New()
	auth := &Auth{APIKey: testAPIKey, Secrets: shopify.Secrets{Current: testAPISecret}, Scopes: testScopes, Store: store}
	AdminRoutes(e.Group("/api", auth.RequireSession), AdminDeps{DB: db, Analytics: svc})
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	get := func(domain, query string) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, srv.URL+"/api/metrics"+query, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token(domain))
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		var out map[string]any
		_ = json.Unmarshal(b, &out)
		return resp.StatusCode, out
	}

	// Two checkout abandonments reached (Tom twice: counted once), one
	// welcome email; Tom's order is credited to his second reminder, Lea's
	// is nobody's, a cancelled order counts nowhere.
	now := time.Now().UTC()
	sent := now.Add(-3 * time.Hour)
	var tom, lea, enTom, enLea, enWelcome int64
	require.NoError(t, db.Raw(`INSERT INTO contacts (shop_id, email) VALUES (?, 'tom@example.org') RETURNING id`, a.ID).Scan(&tom).Error)
	require.NoError(t, db.Raw(`INSERT INTO contacts (shop_id, email) VALUES (?, 'lea@example.org') RETURNING id`, a.ID).Scan(&lea).Error)
	enrol := func(contactID int64, flowKey string, id *int64) {
		require.NoError(t, db.Raw(`INSERT INTO enrollments (shop_id, contact_id, flow_key, flow_version, branch, goal_purchase, trigger_at, started_at)
			VALUES (?, ?, ?, 1, 'default', true, now(), now()) RETURNING id`, a.ID, contactID, flowKey).Scan(id).Error)
	}
	enrol(tom, "checkout_abandonment", &enTom)
	enrol(lea, "checkout_abandonment", &enLea)
	enrol(lea, "welcome", &enWelcome)
	send := func(contactID, en int64, step int, stepKey, flowKey string, at time.Time) int64 {
		var id int64
		require.NoError(t, db.Raw(`INSERT INTO journey_messages (shop_id, contact_id, enrollment_id, step, step_key, flow_key, flow_version,
			template, class, to_email, status, created_at, sent_at) VALUES (?, ?, ?, ?, ?, ?, 1, 't', 'transactional', 'x@example.org', 'sent', ?, ?)
			RETURNING id`, a.ID, contactID, en, step, stepKey, flowKey, at, at).Scan(&id).Error)
		return id
	}
	send(tom, enTom, 0, "reminder-1", "checkout_abandonment", sent)
	second := send(tom, enTom, 1, "reminder-2", "checkout_abandonment", sent.Add(time.Hour))
	send(lea, enLea, 0, "reminder-1", "checkout_abandonment", sent)
	send(lea, enWelcome, 0, "hello", "welcome", sent)
	ordered := now.Add(-time.Hour)
	require.NoError(t, db.Exec(`INSERT INTO contact_orders (shop_id, order_id, contact_id, total_price, currency, ordered_at, updated_at, cancelled_at)
		VALUES (?, 1, ?, 80, 'JPY', ?, ?, NULL), (?, 2, ?, 40, 'JPY', ?, ?, NULL), (?, 3, ?, 999, 'JPY', ?, ?, ?)`,
		a.ID, tom, ordered, ordered, a.ID, lea, ordered, ordered, a.ID, lea, ordered, ordered, ordered).Error)
	require.NoError(t, db.Exec(`INSERT INTO analytics_attributions (shop_id, order_id, contact_id, message_id, enrollment_id, flow_key, step_key,
		model, revenue, recovered, ordered_at) VALUES (?, 1, ?, ?, ?, 'checkout_abandonment', 'reminder-2', 'click', 80, true, ?)`,
		a.ID, tom, second, enTom, ordered).Error)

	check := func(label string) {
		code, got := get(domainA, "?days=7")
		require.Equal(t, http.StatusOK, code, "%s: %v", label, got)
		keys := make([]string, 0, len(got))
		for k := range got {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		require.Equal(t, []string{"aov_overall", "aov_recovered", "conversion_per_email", "currency", "days", "recovered_orders",
			"recovery_rate", "revenue", "revenue_per_email", "sent", "series"}, keys, label+": the JSON shape of openapi.yaml")
		require.EqualValues(t, 7, got["days"], label)
		require.Equal(t, "JPY", got["currency"], label)
		require.EqualValues(t, 4, got["sent"], label)
		require.EqualValues(t, 1, got["recovered_orders"], label)
		require.EqualValues(t, 0.5, got["recovery_rate"], label+": one of two abandonments reached was recovered")
		require.EqualValues(t, 80, got["revenue"], label)
		require.EqualValues(t, 20, got["revenue_per_email"], label)
		require.EqualValues(t, 0.25, got["conversion_per_email"], label)
		require.EqualValues(t, 80, got["aov_recovered"], label)
		require.EqualValues(t, 60, got["aov_overall"], label+": the cancelled order is left out")
		series := got["series"].([]any)
		require.Len(t, series, 7, label)
		tokyo, err := time.LoadLocation("Asia/Tokyo")
		require.NoError(t, err)
		last := series[6].(map[string]any)
		require.Equal(t, time.Now().In(tokyo).Format(time.DateOnly), last["day"], label+": days are the shop's")
		var sum, revenue float64
		for _, d := range series {
			sum += d.(map[string]any)["sent"].(float64)
			revenue += d.(map[string]any)["revenue"].(float64)
		}
		require.EqualValues(t, 4, sum, label)
		require.EqualValues(t, 80, revenue, label)
	}
	check("before the roll-up")
	n, err := svc.RollUp(ctx)
	require.NoError(t, err)
	require.NotZero(t, n)
	check("after the roll-up")

	// The order is cancelled: out of the figures at once.
	require.NoError(t, svc.OrderCancelled(ctx, a.ID, 1, now))
	_, got := get(domainA, "?days=30")
	require.EqualValues(t, 30, got["days"])
	require.Len(t, got["series"], 30)
	require.EqualValues(t, 0, got["recovered_orders"])
	require.EqualValues(t, 0, got["revenue"])

	// Shop B sees none of it; a period other than 7, 30, 90 is refused.
	code, got := get(domainB, "?days=90")
	require.Equal(t, http.StatusOK, code)
	require.EqualValues(t, 0, got["sent"])
	require.EqualValues(t, 0, got["aov_overall"])
	require.Len(t, got["series"], 90)
	code, _ = get(domainA, "?days=12")
	require.Equal(t, http.StatusUnprocessableEntity, code)
}
