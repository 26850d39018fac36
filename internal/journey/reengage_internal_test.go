package journey

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/relance/relance/internal/flow"
	"github.com/relance/relance/internal/platform/testenv"
)

// The scan's page query must be one ordered range scan of the
// contacts_reengagement index (no sort, no scan of the shop's contacts),
// whatever the shop's size: the index expression and the query's must match.
func TestInactiveQueryUsesTheIndex(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.DB(t)
	var shop int64
	require.NoError(t, db.Raw(`INSERT INTO shops (domain) VALUES ('plan.myshopify.com') RETURNING id`).Scan(&shop).Error)
	require.NoError(t, db.Exec(`INSERT INTO shops (domain) VALUES ('other.myshopify.com')`).Error)
	now := time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)
	require.NoError(t, db.Exec(`INSERT INTO contacts (shop_id, email, consent, created_at, last_order_at, last_open_at)
		SELECT s.id, 'c' || g || '@' || s.id || '.example', CASE WHEN g % 10 = 0 THEN 'not_subscribed' ELSE 'subscribed' END,
		       ?::timestamptz - interval '2 years', ?::timestamptz - (g % 400) * interval '1 day',
		       CASE WHEN g % 3 = 0 THEN ?::timestamptz - (g % 50) * interval '1 day' END
		FROM shops s, generate_series(1, 20000) g`, now, now, now).Error)
	require.NoError(t, db.Exec(`INSERT INTO enrollments (shop_id, contact_id, flow_key, flow_version, branch, goal_purchase, status,
			trigger_at, started_at)
		SELECT shop_id, id, CASE WHEN id % 3 = 0 THEN 'reengagement' ELSE 'welcome' END, 1, 'main', true, 'completed',
		       ?::timestamptz - (id % 300) * interval '1 day', ?::timestamptz - (id % 300) * interval '1 day'
		FROM contacts`, now, now).Error)
	require.NoError(t, db.Exec(`ANALYZE contacts`).Error)
	require.NoError(t, db.Exec(`ANALYZE enrollments`).Error)

	for _, tr := range []flow.Trigger{flow.Dormant, flow.Disengaged} {
		var plan []string
		require.NoError(t, db.WithContext(ctx).Raw(`EXPLAIN `+inactiveQuery(tr),
			shop, now.Add(-180*24*time.Hour), int64(1<<63-1), now.Add(-90*24*time.Hour), flow.Reengagement, reengageBatch).Scan(&plan).Error)
		text := strings.Join(plan, "\n")
		t.Log(text)
		require.Contains(t, text, "contacts_reengagement", tr)
		require.NotContains(t, text, "Sort", tr)
		require.NotContains(t, text, "Seq Scan on contacts", tr)
	}
}
