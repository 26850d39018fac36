package journey_test

import (
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/relance/relance/internal/contact"
	"github.com/relance/relance/internal/flow"
	"github.com/relance/relance/internal/journey"
)

const day = 24 * time.Hour

// inactive gives a subscribed contact we have known for a year whose last
// order was daysAgo days before the story's clock (no order when daysAgo is 0).
func (w *world) inactive(email string, orderDaysAgo int) int64 {
	w.t.Helper()
	id := w.contact(email, contact.Subscribed)
	now := w.clock.Now()
	require.NoError(w.t, w.db.Exec(`UPDATE contacts SET created_at = ? WHERE id = ?`, now.Add(-365*day), id).Error)
	if orderDaysAgo > 0 {
		at := now.Add(-time.Duration(orderDaysAgo) * day)
		_, err := w.eng.Contacts().RecordOrder(w.ctx, w.shop, contact.Order{ID: id*1000 + 1, ContactID: id, TotalPrice: "30", OrderedAt: at, UpdatedAt: at})
		require.NoError(w.t, err)
	}
	return id
}

func (w *world) scan() int {
	w.t.Helper()
	n, err := w.eng.ScanReengagement(w.ctx, w.clock.Now())
	require.NoError(w.t, err)
	return n
}

func (w *world) reengagements(contactID int64) []string {
	w.t.Helper()
	out := []string{}
	for _, en := range w.enrollments(contactID) {
		if en.FlowKey == flow.Reengagement {
			out = append(out, en.Branch+":"+en.Status+":"+en.ExitReason)
		}
	}
	return out
}

func (w *world) contactRow(id int64) *contact.Contact {
	w.t.Helper()
	c, err := w.eng.Contacts().Get(w.ctx, w.shop, id)
	require.NoError(w.t, err)
	return c
}

func TestStoryLastOrder100DaysAgoGetsWinBack(t *testing.T) {
	w := newWorld(t, paris, "2026-03-02 07:00") // a Monday
	bob := w.inactive("bob@example.com", 100)
	require.Equal(t, 1, w.scan())
	require.Equal(t, []string{"winback:active:"}, w.reengagements(bob))

	w.runUntil(w.at("10:00"))
	require.Equal(t, []string{"reengagement/winback/1"}, w.out.templates(), "at 10:00 shop time, the same day")
	require.Equal(t, "disengaged", w.out.order[0].Context[journey.CtxInactivity])
	require.Equal(t, "100", w.out.order[0].Context[journey.CtxInactiveDays])
	w.runUntil(w.at("2026-03-09 10:00"))
	require.Equal(t, []string{"reengagement/winback/1", "reengagement/winback/2"}, w.out.templates())
	require.Nil(t, w.contactRow(bob).SuppressedAt, "win-back never suppresses")
}

func TestStory200DaysDormantLastChanceThenSuppressed(t *testing.T) {
	w := newWorld(t, paris, "2026-03-02 07:00")
	bob := w.inactive("bob@example.com", 200)
	require.Equal(t, 1, w.scan())
	w.runUntil(w.at("2026-03-02 10:00"))
	require.Equal(t, []string{"reengagement/sunset/1"}, w.out.templates())
	require.Nil(t, w.contactRow(bob).SuppressedAt, "not before the last email")

	w.runUntil(w.at("2026-03-12 12:00"))
	require.Equal(t, []string{"reengagement/sunset/1", "reengagement/sunset/2"}, w.out.templates())
	c := w.contactRow(bob)
	require.NotNil(t, c.SuppressedAt)
	require.Equal(t, "sunset", c.SuppressionReason)
	require.Equal(t, []string{"sunset:completed:"}, w.reengagements(bob))

	// Suppressed: later scans do not see bob, other flows do not enroll him.
	w.clock.Set(w.at("2026-03-20 07:00"))
	require.Equal(t, 0, w.scan())
	w.trigger(bob, flow.CheckoutStarted, "tok-1", w.at("2026-03-20 08:00"))
	w.runUntil(w.at("2026-03-25 08:00"))
	require.Len(t, w.out.templates(), 2)
}

func TestStoryOpenedTenDaysAgoGetsNothing(t *testing.T) {
	w := newWorld(t, paris, "2026-03-02 07:00")
	bob := w.inactive("bob@example.com", 200)
	require.NoError(t, w.eng.Contacts().RecordEngagement(w.ctx, w.shop, bob, contact.Open, w.clock.Now().Add(-10*day)))
	ann := w.inactive("ann@example.com", 0)
	require.NoError(t, w.eng.Contacts().RecordEngagement(w.ctx, w.shop, ann, contact.Click, w.clock.Now().Add(-89*day)))
	eve := w.contact("eve@example.com", contact.Subscribed) // new: we have known her for less than 90 days
	require.NoError(t, w.db.Exec(`UPDATE contacts SET created_at = ? WHERE id = ?`, w.clock.Now().Add(-30*day), eve).Error)

	require.Equal(t, 0, w.scan())
	w.runUntil(w.at("2026-03-05 12:00"))
	require.Empty(t, w.out.templates())
	require.Empty(t, w.reengagements(bob))
	require.Empty(t, w.reengagements(ann))
	require.Empty(t, w.reengagements(eve))
}

func TestStoryOnlyReachableContactsAreScanned(t *testing.T) {
	w := newWorld(t, paris, "2026-03-02 07:00")
	ids := []int64{w.inactive("a@example.com", 200), w.inactive("b@example.com", 200), w.inactive("c@example.com", 200)}
	_, err := w.eng.Contacts().SetConsent(w.ctx, w.shop, ids[0], contact.Unsubscribed, w.clock.Now(), "test")
	require.NoError(t, err)
	require.NoError(t, w.eng.Contacts().Suppress(w.ctx, w.shop, ids[1], "hard_bounce", w.clock.Now()))
	_, err = w.eng.Contacts().SetConsent(w.ctx, w.shop, ids[2], contact.NotSubscribed, w.clock.Now(), "test")
	require.NoError(t, err)
	require.Equal(t, 0, w.scan(), "re-engagement is marketing: subscribed contacts only")
}

func TestScanRunTwiceTheSameDayEnrollsOnce(t *testing.T) {
	w := newWorld(t, paris, "2026-03-02 07:00")
	bob := w.inactive("bob@example.com", 100)
	// Many replicas call it at once, then again later that day.
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	for range 4 {
		wg.Go(func() {
			n, err := w.eng.ScanReengagement(w.ctx, w.clock.Now())
			require.NoError(t, err)
			mu.Lock()
			total += n
			mu.Unlock()
		})
	}
	wg.Wait()
	require.Equal(t, 1, total)
	w.clock.Set(w.at("23:50"))
	require.Equal(t, 0, w.scan())
	require.Len(t, w.reengagements(bob), 1)

	var rows []struct {
		Day        int64
		Disengaged int
		Finished   bool
	}
	require.NoError(t, w.db.Raw(`SELECT day, disengaged, finished_at IS NOT NULL AS finished FROM reengagement_scans WHERE shop_id = ?`, w.shop).Scan(&rows).Error)
	require.Len(t, rows, 1)
	require.Equal(t, 1, rows[0].Disengaged)
	require.True(t, rows[0].Finished)

	// The next days: bob is still inactive but already handled for this
	// inactivity period, so nothing more (not even a no-op trigger).
	w.clock.Set(w.at("2026-03-03 00:05"))
	require.Equal(t, 0, w.scan())
	w.clock.Set(w.at("2026-03-20 07:00"))
	require.Equal(t, 0, w.scan())
	require.Len(t, w.reengagements(bob), 1)
}

func TestScanDayFollowsTheShopTimeZone(t *testing.T) {
	w := newWorld(t, "Pacific/Auckland", "2026-03-02 23:30")
	w.inactive("bob@example.com", 100)
	require.Equal(t, 1, w.scan())

	ann := w.inactive("ann@example.com", 100)
	w.clock.Set(w.at("23:59"))
	require.Equal(t, 0, w.scan(), "same day in Auckland")
	require.Empty(t, w.reengagements(ann))
	w.clock.Set(w.at("2026-03-03 00:01")) // still 2 March in UTC
	require.Equal(t, 1, w.scan(), "a new day in Auckland")
	require.Len(t, w.reengagements(ann), 1)
}

func TestScanDormantAfterWinBackGetsSunset(t *testing.T) {
	w := newWorld(t, paris, "2026-03-02 07:00")
	bob := w.inactive("bob@example.com", 100)
	require.Equal(t, 1, w.scan())
	w.runUntil(w.at("2026-03-12 12:00"))
	require.Equal(t, []string{"winback:completed:"}, w.reengagements(bob))

	// 80 days later bob is dormant (180 days). The win-back started 80
	// days ago, inside the flow's 90-day re-entry cool-down: each daily scan
	// tries again until the cool-down allows the sunset.
	for d := 80; d <= 95; d++ {
		w.clock.Set(w.at("2026-03-02 07:00").Add(time.Duration(d) * day))
		w.scan()
	}
	require.Equal(t, []string{"winback:completed:", "sunset:active:"}, w.reengagements(bob))
	ens := w.enrollments(bob)
	require.Equal(t, w.at("2026-03-02 07:00").Add(90*day).UTC(), ens[len(ens)-1].StartedAt.UTC(), "the first day the cool-down allows")
}

func TestStorySunsetContactWhoEngagesIsKept(t *testing.T) {
	w := newWorld(t, paris, "2026-03-02 07:00")
	bob := w.inactive("bob@example.com", 200)
	require.Equal(t, 1, w.scan())
	w.runUntil(w.at("10:00"))
	require.Equal(t, []string{"reengagement/sunset/1"}, w.out.templates())

	// Bob clicks the last chance two days later.
	require.NoError(t, w.eng.Contacts().RecordEngagement(w.ctx, w.shop, bob, contact.Click, w.at("2026-03-04 18:00")))
	w.runUntil(w.at("2026-03-20 12:00"))
	require.Equal(t, []string{"reengagement/sunset/1"}, w.out.templates(), "no goodbye")
	require.Nil(t, w.contactRow(bob).SuppressedAt, "not suppressed")
	require.Equal(t, []string{"sunset:exited:engaged"}, w.reengagements(bob))
}

func TestScanUsesShopThresholds(t *testing.T) {
	w := newWorld(t, paris, "2026-03-02 07:00")
	require.ErrorIs(t, w.eng.SaveReengagementSettings(w.ctx, w.shop, journey.ReengagementSettings{DisengagedDays: 60, DormantDays: 60}),
		journey.ErrInvalidReengagement)
	s, err := w.eng.ReengagementSettings(w.ctx, w.shop)
	require.NoError(t, err)
	require.Equal(t, journey.DefaultReengagementSettings(), s)

	w.settings(func(s *journey.Settings) { s.FrequencyCapHours = 0 }) // a settings row without thresholds: defaults
	require.NoError(t, w.eng.SaveReengagementSettings(w.ctx, w.shop, journey.ReengagementSettings{DisengagedDays: 30, DormantDays: 60}))
	w.settings(func(s *journey.Settings) { s.FrequencyCapHours = 24 }) // saving the other settings keeps them
	s, err = w.eng.ReengagementSettings(w.ctx, w.shop)
	require.NoError(t, err)
	require.Equal(t, journey.ReengagementSettings{DisengagedDays: 30, DormantDays: 60}, s)

	fresh := w.inactive("fresh@example.com", 20)
	dis := w.inactive("dis@example.com", 40)
	dor := w.inactive("dor@example.com", 70)
	require.Equal(t, 2, w.scan())
	require.Empty(t, w.reengagements(fresh))
	require.Equal(t, []string{"winback:active:"}, w.reengagements(dis))
	require.Equal(t, []string{"sunset:active:"}, w.reengagements(dor))
}

func TestScanSkipsShopsWithoutTheFlow(t *testing.T) {
	w := newWorld(t, paris, "2026-03-02 07:00")
	require.NoError(t, w.eng.Flows().SetEnabled(w.ctx, w.shop, flow.Reengagement, false))
	bob := w.inactive("bob@example.com", 100)
	require.Equal(t, 0, w.scan())
	var n int64
	require.NoError(t, w.db.Raw(`SELECT count(*) FROM reengagement_scans`).Scan(&n).Error)
	require.Zero(t, n)

	// Switched on later the same day: the scan runs then.
	require.NoError(t, w.eng.Flows().SetEnabled(w.ctx, w.shop, flow.Reengagement, true))
	require.Equal(t, 1, w.scan())
	require.Len(t, w.reengagements(bob), 1)
}

func TestScanTakesOverAnAbandonedClaim(t *testing.T) {
	w := newWorld(t, paris, "2026-03-02 07:00")
	bob := w.inactive("bob@example.com", 100)
	today := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC).Unix() / 86400
	// Another replica claimed today a minute ago and is still working.
	require.NoError(t, w.db.Exec(`INSERT INTO reengagement_scans (shop_id, day, claimed_at) VALUES (?, ?, ?)`,
		w.shop, today, w.clock.Now().Add(-time.Minute)).Error)
	require.Equal(t, 0, w.scan())
	// It died: its heartbeat stops, and after the lease the scan is taken over.
	w.clock.Set(w.clock.Now().Add(10 * time.Minute))
	require.Equal(t, 1, w.scan())
	require.Len(t, w.reengagements(bob), 1)
	var attempts int
	require.NoError(t, w.db.Raw(`SELECT attempts FROM reengagement_scans WHERE shop_id = ?`, w.shop).Scan(&attempts).Error)
	require.Equal(t, 2, attempts)
}

func TestScanPagesThroughManyContacts(t *testing.T) {
	w := newWorld(t, paris, "2026-03-02 07:00")
	now := w.clock.Now()
	// 1,234 inactive subscribers (more than two pages), plus as many active ones.
	require.NoError(t, w.db.Exec(`INSERT INTO contacts (shop_id, email, consent, created_at, last_order_at)
		SELECT ?, 'c' || g || '@example.com', 'subscribed', ?::timestamptz - interval '1 year',
		       ?::timestamptz - (CASE WHEN g % 2 = 0 THEN 100 ELSE 10 END) * interval '1 day' - g * interval '1 second'
		FROM generate_series(1, 2468) g`, w.shop, now, now).Error)
	require.Equal(t, 1234, w.scan())
	var n int64
	require.NoError(t, w.db.Raw(`SELECT count(DISTINCT contact_id) FROM enrollments WHERE shop_id = ? AND flow_key = ?`, w.shop, flow.Reengagement).Scan(&n).Error)
	require.Equal(t, int64(1234), n)
}

func TestScanUnderTimeScale(t *testing.T) {
	w := newWorld(t, paris, "2026-03-02 07:00")
	client := asynq.NewClient(w.redis)
	t.Cleanup(func() { client.Close() })
	w.eng = journey.New(journey.Options{DB: w.db, Queue: client, Sender: w.out, Clock: w.clock,
		Scale: func(d time.Duration) time.Duration { return d / 1440 }}) // a day is a minute
	require.Equal(t, 2500*time.Millisecond, w.eng.ReengagementScanInterval())
	bob := w.contact("bob@example.com", contact.Subscribed)
	// Known for 100 scaled days, never ordered nor opened.
	require.NoError(t, w.db.Exec(`UPDATE contacts SET created_at = ? WHERE id = ?`, w.clock.Now().Add(-100*time.Minute), bob).Error)
	ann := w.contact("ann@example.com", contact.Subscribed)
	require.NoError(t, w.db.Exec(`UPDATE contacts SET created_at = ? WHERE id = ?`, w.clock.Now().Add(-80*time.Minute), ann).Error)

	require.Equal(t, 1, w.scan())
	w.clock.Set(w.clock.Now().Add(20 * time.Second))
	require.Equal(t, 0, w.scan(), "same scaled day")
	w.clock.Set(w.clock.Now().Add(11 * time.Minute)) // ann now inactive for 91 scaled days
	require.Equal(t, 1, w.scan())
	w.runUntil(w.clock.Now().Add(10 * time.Minute)) // the win-back's 5 days are 5 minutes
	require.Equal(t, []string{"reengagement/winback/1", "reengagement/winback/1", "reengagement/winback/2", "reengagement/winback/2"},
		w.out.templates())
}
