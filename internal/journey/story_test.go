package journey_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/relance/relance/internal/contact"
	"github.com/relance/relance/internal/flow"
	"github.com/relance/relance/internal/journey"
)

const paris = "Europe/Paris"

func TestStoryCheckoutThenOrderSendsNothing(t *testing.T) {
	w := newWorld(t, paris, "2026-03-02 10:00")
	bob := w.contact("bob@example.com", contact.Subscribed)
	w.trigger(bob, flow.CheckoutStarted, "tok-1", w.at("10:00"))
	w.order(bob, 1001, w.at("10:40"))
	w.runUntil(w.at("10:40").Add(5 * 24 * time.Hour))

	require.Equal(t, []string{"post_purchase/first/thanks", "post_purchase/first/how_to"}, w.out.templates(), "no checkout reminder")
	require.Equal(t, "purchased", w.enrollments(bob)[0].ExitReason)
}

// Invariant 3: the purchase is re-checked in the database at send time, not
// only by exiting enrollments when the order event is handled.
func TestStoryOrderSeenOnlyInDatabaseStillStopsTheReminder(t *testing.T) {
	w := newWorld(t, paris, "2026-03-02 10:00")
	bob := w.contact("bob@example.com", contact.Subscribed)
	w.trigger(bob, flow.CheckoutStarted, "tok-1", w.at("10:00"))
	// The order reached the contact history, but its trigger was never run.
	_, err := w.eng.Contacts().RecordOrder(w.ctx, w.shop, contact.Order{ID: 7, ContactID: bob, TotalPrice: "1", OrderedAt: w.at("10:40"), UpdatedAt: w.at("10:40")})
	require.NoError(t, err)
	w.runUntil(w.at("12:00"))

	require.Empty(t, w.out.templates())
	require.Equal(t, []string{"exited:purchased"}, w.decisions(bob))
}

func TestStoryUnsubscribedAfterFirstReminder(t *testing.T) {
	w := newWorld(t, paris, "2026-03-02 10:00")
	bob := w.contact("bob@example.com", contact.Subscribed)
	w.trigger(bob, flow.CheckoutStarted, "tok-1", w.at("10:00"))
	w.runUntil(w.at("11:30"))
	require.Equal(t, []string{"checkout/1"}, w.out.templates())

	// Consent changes in the contact only: the step re-checks it.
	_, err := w.eng.Contacts().SetConsent(w.ctx, w.shop, bob, contact.Unsubscribed, w.at("15:00"), "shopify")
	require.NoError(t, err)
	w.runUntil(w.at("15:00").Add(5 * 24 * time.Hour))

	require.Equal(t, []string{"checkout/1"}, w.out.templates())
	require.Equal(t, []string{"sent", "exited:unsubscribed"}, w.decisions(bob))
}

func TestStoryCartThenCheckoutMovesUpTheLadder(t *testing.T) {
	w := newWorld(t, paris, "2026-03-02 10:00")
	bob := w.contact("bob@example.com", contact.Subscribed)
	w.trigger(bob, flow.ProductViewed, "prod-1", w.at("09:50"))
	w.trigger(bob, flow.CartUpdated, "cart-1", w.at("10:00"))
	w.trigger(bob, flow.CheckoutStarted, "tok-1", w.at("10:20"))
	w.trigger(bob, flow.CartUpdated, "cart-1", w.at("10:25")) // lower rung: ignored
	w.runUntil(w.at("10:20").Add(4 * 24 * time.Hour))

	ens := w.enrollments(bob)
	require.Len(t, ens, 3)
	require.Equal(t, []string{"browse_abandonment:exited:moved_up", "cart_abandonment:exited:moved_up", "checkout_abandonment:completed:"},
		[]string{string(ens[0].FlowKey) + ":" + ens[0].Status + ":" + ens[0].ExitReason, string(ens[1].FlowKey) + ":" + ens[1].Status + ":" + ens[1].ExitReason,
			string(ens[2].FlowKey) + ":" + ens[2].Status + ":" + ens[2].ExitReason})
	require.Equal(t, []string{"checkout/1", "checkout/2", "checkout/3"}, w.out.templates())
}

func TestStoryQuietHoursDeferToMorningInShopZone(t *testing.T) {
	w := newWorld(t, "America/New_York", "2026-03-02 22:00")
	bob := w.contact("bob@example.com", contact.Subscribed)
	w.trigger(bob, flow.CheckoutStarted, "tok-1", w.at("22:00")) // reminder due 23:00 New York
	w.runUntil(w.at("2026-03-03 12:00"))

	require.Equal(t, []string{"checkout/1"}, w.out.templates())
	ds, err := w.eng.Decisions(w.ctx, w.shop, bob)
	require.NoError(t, err)
	require.Equal(t, journey.DecisionDeferred, ds[0].Decision)
	require.Equal(t, journey.ReasonQuietHours, ds[0].Reason)
	require.Equal(t, w.at("2026-03-03 08:00").UTC(), ds[0].Until.UTC(), "08:00 in New York, not UTC")
	require.Equal(t, journey.DecisionSent, ds[1].Decision)
	require.Equal(t, w.at("2026-03-03 08:00").UTC(), ds[1].At.UTC())
}

func TestStoryDaylightSavingInsideTwoDaysAtTen(t *testing.T) {
	w := newWorld(t, paris, "2026-03-28 09:00") // Saturday; clocks go forward Sunday 29th
	bob := w.contact("bob@example.com", contact.Subscribed)
	w.trigger(bob, flow.Subscribed, "", w.at("09:00"))
	w.runUntil(w.at("09:01"))
	require.Equal(t, []string{"welcome/new/1"}, w.out.templates())

	// "2 days at 10:00": Monday 10:00 Paris, which is now 08:00 UTC (was 09:00 UTC before the change).
	en := w.enrollments(bob)[0]
	require.Equal(t, time.Date(2026, 3, 30, 8, 0, 0, 0, time.UTC), en.NextRunAt.UTC())
	w.runUntil(w.at("2026-03-30 09:59"))
	require.Len(t, w.out.templates(), 1, "not an hour early")
	w.runUntil(w.at("2026-03-30 10:00"))
	require.Equal(t, []string{"welcome/new/1", "welcome/new/2"}, w.out.templates())
}

func TestStoryFrequencyCapDefersPromotionalNotTransactional(t *testing.T) {
	w := newWorld(t, paris, "2026-03-02 10:00")
	bob := w.contact("bob@example.com", contact.Subscribed)
	w.trigger(bob, flow.Subscribed, "", w.at("10:00"))
	w.runUntil(w.at("10:01"))
	require.Equal(t, []string{"welcome/new/1"}, w.out.templates())

	w.trigger(bob, flow.CheckoutStarted, "tok-1", w.at("10:30")) // transactional reminder at 11:30: exempt
	w.runUntil(w.at("11:31"))
	require.Equal(t, []string{"welcome/new/1", "checkout/1"}, w.out.templates())

	// A promotional step 6 hours after the welcome waits for the 16 h cap
	// (02:00 next day), then for the end of quiet hours (08:00).
	alice := w.contact("alice@example.com", contact.Subscribed)
	w.trigger(alice, flow.Subscribed, "", w.at("11:31"))
	w.runUntil(w.at("11:32"))
	w.trigger(alice, flow.QuizCompleted, "", w.at("17:31"))
	w.runUntil(w.at("2026-03-03 09:00"))
	require.Equal(t, []string{"sent", "deferred:frequency_cap", "deferred:quiet_hours", "sent"}, w.decisions(alice))
	ds, err := w.eng.Decisions(w.ctx, w.shop, alice)
	require.NoError(t, err)
	require.Equal(t, w.at("2026-03-03 03:31").UTC(), ds[1].Until.UTC())
	require.Equal(t, w.at("2026-03-03 08:00").UTC(), ds[3].At.UTC())
}

func TestStoryPromotionalWithoutConsentIsSkipped(t *testing.T) {
	w := newWorld(t, paris, "2026-03-02 10:00")
	w.settings(func(s *journey.Settings) { s.RemindersWithoutConsent = true })
	eve := w.contact("eve@example.com", contact.NotSubscribed)
	w.trigger(eve, flow.CheckoutStarted, "tok-1", w.at("10:00"))
	w.runUntil(w.at("10:00").Add(4 * 24 * time.Hour))

	// Plain reminders go (the shop allows it); the offer needs consent.
	require.Equal(t, []string{"checkout/1", "checkout/2"}, w.out.templates())
	require.Equal(t, []string{"sent", "sent", "skipped:no_consent"}, w.decisions(eve))

	// Without the shop setting, nothing goes to a shopper without consent.
	w.settings(func(s *journey.Settings) { s.RemindersWithoutConsent = false })
	mallory := w.contact("mallory@example.com", contact.Pending)
	w.trigger(mallory, flow.CheckoutStarted, "tok-2", w.at("2026-03-06 10:00"))
	w.runUntil(w.at("2026-03-10 10:00"))
	require.Equal(t, []string{"skipped:no_consent", "skipped:no_consent", "skipped:no_consent"}, w.decisions(mallory))
	require.Len(t, w.out.templates(), 2)
}

// Invariant 2: one email at most per (enrollment, step).
func TestStoryStepRunTwiceSendsOnce(t *testing.T) {
	w := newWorld(t, paris, "2026-03-02 10:00")
	bob := w.contact("bob@example.com", contact.Subscribed)
	w.trigger(bob, flow.CheckoutStarted, "tok-1", w.at("10:00"))
	w.clock.Set(w.at("11:00"))
	_, err := w.eng.Pump(w.ctx)
	require.NoError(t, err)
	tasks := w.tasks()
	require.Len(t, tasks, 1)

	var wg sync.WaitGroup
	for range 4 { // the same task delivered four times, concurrently
		wg.Go(func() { require.NoError(t, w.eng.HandleRunStep(w.ctx, asynqTask(tasks[0]))) })
	}
	wg.Wait()
	require.NoError(t, w.eng.HandleRunStep(w.ctx, asynqTask(tasks[0]))) // and once more later
	require.Equal(t, 1, w.out.calls)
	require.Equal(t, []string{"sent"}, w.decisions(bob))
}

func TestStoryCrashAfterInsertSendsExactlyOnce(t *testing.T) {
	for _, tt := range []struct {
		desc      string
		delivered bool // the provider got it before the "crash"
	}{
		{desc: "crash before the provider call returned", delivered: false},
		{desc: "crash after the provider accepted it", delivered: true},
	} {
		t.Run(tt.desc, func(t *testing.T) {
			w := newWorld(t, paris, "2026-03-02 10:00")
			w.out.fail = func(call int) (bool, error) {
				if call == 1 {
					return tt.delivered, errors.New("connection reset")
				}
				return false, nil
			}
			bob := w.contact("bob@example.com", contact.Subscribed)
			w.trigger(bob, flow.CheckoutStarted, "tok-1", w.at("10:00"))
			w.clock.Set(w.at("11:00"))
			_, err := w.eng.Pump(w.ctx)
			require.NoError(t, err)
			task := asynqTask(w.tasks()[0])
			require.Error(t, w.eng.HandleRunStep(w.ctx, task), "first attempt fails: asynq retries")
			var rows int64
			require.NoError(t, w.db.Raw(`SELECT count(*) FROM journey_messages`).Scan(&rows).Error)
			require.Equal(t, int64(1), rows, "the message row survived the failed attempt")

			require.NoError(t, w.eng.HandleRunStep(w.ctx, task)) // the retry
			require.NoError(t, w.eng.HandleRunStep(w.ctx, task)) // a duplicate
			require.Equal(t, 2, w.out.calls, "the retry re-sends the same message id")
			require.Equal(t, []string{"checkout/1"}, w.out.templates(), "exactly one email")
			require.NoError(t, w.db.Raw(`SELECT count(*) FROM journey_messages WHERE status = 'sent'`).Scan(&rows).Error)
			require.Equal(t, int64(1), rows)
		})
	}
}

func TestStoryRedisFlushedPumpRebuildsFromPostgres(t *testing.T) {
	w := newWorld(t, paris, "2026-03-02 10:00")
	bob := w.contact("bob@example.com", contact.Subscribed)
	w.trigger(bob, flow.CheckoutStarted, "tok-1", w.at("10:00"))

	// Due at 11:00: not in Redis yet, PostgreSQL holds it.
	w.pumpAndWork()
	require.Empty(t, w.tasks())
	w.clock.Set(w.at("10:59"))
	w.pumpAndWork()
	require.Len(t, w.tasks(), 1)

	flushRedis(t, w)
	require.Empty(t, w.tasks())
	w.clock.Set(w.at("11:00"))
	w.pumpAndWork()
	require.Empty(t, w.out.templates())

	// Overdue by more than the grace period: the reconcile pass re-offers it.
	w.clock.Set(w.at("11:02"))
	w.pumpAndWork()
	require.Equal(t, []string{"checkout/1"}, w.out.templates())
}

func TestStoryWelcomeThenNurturingAndReentryOnce(t *testing.T) {
	w := newWorld(t, paris, "2026-03-02 10:00")
	bob := w.contact("bob@example.com", contact.Subscribed)
	w.trigger(bob, flow.Subscribed, "", w.at("10:00"))
	w.runUntil(w.at("2026-03-10 10:00"))
	require.Equal(t, []string{"welcome/new/1", "welcome/new/2", "welcome/new/3"}, w.out.templates())
	ens := w.enrollments(bob)
	require.Len(t, ens, 2)
	require.Equal(t, flow.Nurturing, ens[1].FlowKey, "welcome ended without a purchase")

	w.trigger(bob, flow.Subscribed, "", w.at("2026-03-10 10:00")) // subscribes again: welcome is once ever
	require.Len(t, w.enrollments(bob), 2)
}

func TestStoryPostPurchaseReviewWaitsForFulfilment(t *testing.T) {
	w := newWorld(t, paris, "2026-03-02 10:00")
	bob := w.contact("bob@example.com", contact.Subscribed)
	w.order(bob, 1, w.at("10:00"))
	w.runUntil(w.at("2026-03-20 12:00"))
	require.Equal(t, []string{"post_purchase/first/thanks", "post_purchase/first/how_to"}, w.out.templates())

	w.clock.Set(w.at("2026-03-21 09:00"))
	require.NoError(t, w.eng.OrderFulfilled(w.ctx, w.shop, 1, w.at("2026-03-21 09:00")))
	w.runUntil(w.at("2026-03-26 09:59"))
	require.Len(t, w.out.templates(), 2)
	w.runUntil(w.at("2026-03-26 10:00"))
	require.Equal(t, "post_purchase/review", w.out.templates()[2])
}

// Invariant 4: a task naming another shop touches nothing.
func TestStepTaskIsScopedToItsShop(t *testing.T) {
	w := newWorld(t, paris, "2026-03-02 10:00")
	bob := w.contact("bob@example.com", contact.Subscribed)
	w.trigger(bob, flow.CheckoutStarted, "tok-1", w.at("10:00"))
	en := w.enrollments(bob)[0]
	w.clock.Set(w.at("11:00"))
	require.NoError(t, w.eng.RunStep(w.ctx, journey.RunStepPayload{ShopID: w.shop + 1000, EnrollmentID: en.ID, Step: 0, RunAt: en.NextRunAt.UnixMicro()}))
	require.Empty(t, w.out.templates())
	require.NoError(t, w.eng.RunStep(w.ctx, journey.RunStepPayload{ShopID: w.shop, EnrollmentID: en.ID, Step: 0, RunAt: en.NextRunAt.UnixMicro()}))
	require.Equal(t, []string{"checkout/1"}, w.out.templates())
}

func TestUndecodableTaskIsNotRetried(t *testing.T) {
	w := newWorld(t, paris, "2026-03-02 10:00")
	err := w.eng.HandleRunStep(w.ctx, asynq.NewTask(journey.TypeRunStep, []byte("{not json")))
	require.ErrorIs(t, err, asynq.SkipRetry)
}

func TestStoryReplenishmentAfterUsableLife(t *testing.T) {
	w := newWorld(t, paris, "2026-03-02 10:00") // a Monday
	require.NoError(t, w.eng.SetProductLife(w.ctx, w.shop, 42, 20))
	bob := w.contact("bob@example.com", contact.Subscribed)
	buy := func(orderID int64, at time.Time) {
		w.clock.Set(at)
		_, err := w.eng.Contacts().RecordOrder(w.ctx, w.shop, contact.Order{ID: orderID, ContactID: bob, TotalPrice: "20", OrderedAt: at, UpdatedAt: at,
			Items: []contact.OrderItem{{ProductID: 42, Quantity: 1, Price: "20"}}})
		require.NoError(t, err)
		for range 2 { // orders/create then orders/paid
			require.NoError(t, w.eng.Trigger(w.ctx, journey.Event{ShopID: w.shop, ContactID: bob, Trigger: flow.OrderPlaced, OrderID: orderID,
				ProductIDs: []int64{99, 42}, At: at}))
		}
	}
	buy(1, w.at("10:00"))
	w.runUntil(w.at("2026-03-23 09:00"))
	require.NotContains(t, w.out.templates(), "replenishment/1")
	w.runUntil(w.at("2026-03-23 10:00")) // 20 days later (the shortest usable life), 10:00, a Monday
	require.Contains(t, w.out.templates(), "replenishment/1")
	msgs := w.out.order
	require.Equal(t, "42", msgs[len(msgs)-1].Context["product_id"])

	// Bought twice more: the third purchase gets the subscription suggestion.
	buy(2, w.at("2026-03-24 10:00"))
	buy(3, w.at("2026-03-25 10:00"))
	ens := w.enrollments(bob)
	var repl []string
	for _, en := range ens {
		if en.FlowKey == flow.Replenishment {
			repl = append(repl, en.Branch+":"+en.Status+":"+en.ExitReason)
		}
	}
	require.Equal(t, []string{"main:exited:purchased", "main:exited:purchased", "subscribe:active:"}, repl)
}

func TestStorySuppressedOrDisabledMidFlowStops(t *testing.T) {
	w := newWorld(t, paris, "2026-03-02 10:00")
	bob := w.contact("bob@example.com", contact.Subscribed)
	ann := w.contact("ann@example.com", contact.Subscribed)
	w.trigger(bob, flow.CheckoutStarted, "tok-1", w.at("10:00"))
	w.trigger(ann, flow.CartUpdated, "cart-1", w.at("10:00"))
	require.NoError(t, w.eng.Contacts().Suppress(w.ctx, w.shop, bob, "hard_bounce", w.at("10:30")))
	require.NoError(t, w.eng.Flows().SetEnabled(w.ctx, w.shop, flow.Cart, false))
	w.runUntil(w.at("2026-03-06 10:00"))
	require.Empty(t, w.out.templates())
	require.Equal(t, []string{"exited:suppressed"}, w.decisions(bob))
	require.Equal(t, []string{"exited:flow_disabled"}, w.decisions(ann))
}

func TestTimeScaleCompressesDelays(t *testing.T) {
	w := newWorld(t, paris, "2026-03-02 23:00") // quiet hours do not apply under a time scale
	client := asynq.NewClient(w.redis)
	t.Cleanup(func() { client.Close() })
	w.eng = journey.New(journey.Options{DB: w.db, Queue: client, Sender: w.out, Clock: w.clock,
		Scale: func(d time.Duration) time.Duration { return d / 60 }})
	bob := w.contact("bob@example.com", contact.Subscribed)
	w.trigger(bob, flow.CheckoutStarted, "tok-1", w.at("23:00"))
	w.runUntil(w.at("23:00").Add(59 * time.Second))
	require.Empty(t, w.out.templates())
	w.runUntil(w.at("23:01"))
	require.Equal(t, []string{"checkout/1"}, w.out.templates(), "1 hour at ×60 is 1 minute")
	w.runUntil(w.at("23:01").Add(72 * time.Minute))
	require.Equal(t, []string{"checkout/1", "checkout/2", "checkout/3"}, w.out.templates())
}
