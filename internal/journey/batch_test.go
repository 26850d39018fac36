package journey_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/relance/relance/internal/contact"
	"github.com/relance/relance/internal/flow"
	"github.com/relance/relance/internal/journey"
)

// A batch applies its events exactly as the same events applied one by one:
// several events of one contact (ladder moves, a checkout followed to its
// newest update, re-entry), an order exiting what began before it, a late
// checkout after its order, and an event for a contact that is gone.
func TestTriggerBatchMatchesTriggerOneByOne(t *testing.T) {
	type step struct {
		who     string
		trigger flow.Trigger
		subject string
		at      string
		order   int64
	}
	script := []step{
		{"bob", flow.ProductViewed, "prod-1", "10:00", 0},
		{"ann", flow.CheckoutStarted, "tok-a", "10:01", 0},
		{"bob", flow.CartUpdated, "cart-1", "10:02", 0},
		{"cid", flow.Subscribed, "", "10:08", 0}, // first step due at once: same clock in both worlds
		{"bob", flow.CheckoutStarted, "tok-b", "10:03", 0},
		{"ann", flow.CheckoutStarted, "tok-a", "10:04", 0}, // newer update: followed
		{"bob", flow.CartUpdated, "cart-1", "10:05", 0},    // lower rung: ignored
		{"cid", flow.Subscribed, "", "10:08", 0},           // already enrolled
		{"ann", flow.CheckoutStarted, "tok-a", "10:02", 0}, // older update: ignored
		{"dan", flow.OrderPlaced, "", "10:06", 501},
		{"dan", flow.CheckoutStarted, "tok-d", "10:05", 0}, // late checkout of that order
		{"eve", flow.OrderPlaced, "", "10:08", 502},
		{"eve", flow.OrderPlaced, "", "10:08", 502}, // orders/paid after orders/create
		{"gone", flow.CheckoutStarted, "tok-g", "10:08", 0},
	}
	emails := []string{"ann", "bob", "cid", "dan", "eve"}
	run := func(t *testing.T, batch bool) map[string][]string {
		w := newWorld(t, paris, "2026-03-02 09:00")
		ids := map[string]int64{"gone": 1 << 40}
		for _, e := range emails {
			ids[e] = w.contact(e+"@example.com", contact.Subscribed)
		}
		// Before the orders reach the contact history.
		w.trigger(ids["eve"], flow.CheckoutStarted, "tok-e", w.at("09:30"))
		for _, s := range script {
			if s.order != 0 {
				_, err := w.eng.Contacts().RecordOrder(w.ctx, w.shop, contact.Order{ID: s.order, ContactID: ids[s.who], TotalPrice: "9",
					OrderedAt: w.at(s.at), UpdatedAt: w.at(s.at)})
				require.NoError(t, err)
			}
		}
		var evs []journey.Event
		for _, s := range script {
			evs = append(evs, journey.Event{ShopID: w.shop, ContactID: ids[s.who], Trigger: s.trigger, Subject: s.subject,
				At: w.at(s.at), OrderID: s.order, Context: map[string]string{"seen_at": s.at}})
		}
		if batch {
			w.clock.Set(w.at("10:08"))
			require.NoError(t, w.eng.TriggerBatch(w.ctx, evs))
		} else {
			for _, ev := range evs {
				w.clock.Set(ev.At)
				err := w.eng.Trigger(w.ctx, ev)
				if ev.ContactID == ids["gone"] {
					require.ErrorIs(t, err, contact.ErrNotFound)
					continue
				}
				require.NoError(t, err)
			}
		}
		out := map[string][]string{}
		for _, e := range emails {
			for _, en := range w.enrollments(ids[e]) {
				next := "-"
				if en.NextRunAt != nil {
					next = en.NextRunAt.In(w.loc).Format("01-02 15:04")
				}
				out[e] = append(out[e], fmt.Sprintf("%s v%d %s %s/%s subject=%s trigger_at=%s next=%s context=%s", en.FlowKey, en.FlowVersion, en.Branch,
					en.Status, en.ExitReason, en.Subject, en.TriggerAt.In(w.loc).Format("15:04"), next, en.Context))
			}
			out[e] = append(out[e], w.decisions(ids[e])...)
		}
		return out
	}
	var oneByOne, batched map[string][]string
	t.Run("apply", func(t *testing.T) { // returns once both worlds are done
		t.Run("one by one", func(t *testing.T) { oneByOne = run(t, false) })
		t.Run("batch", func(t *testing.T) { batched = run(t, true) })
	})
	require.NotNil(t, oneByOne)
	require.Equal(t, oneByOne, batched)
	// The script means something: the rules it exercises did apply.
	require.Len(t, oneByOne["bob"], 3+2, "browse and cart moved up to checkout")
	require.Contains(t, oneByOne["ann"][0], "subject=tok-a trigger_at=10:04")
	require.Contains(t, oneByOne["dan"][0], "post_purchase", "no checkout reminder after its order")
	require.Len(t, oneByOne["dan"], 2+0)
	require.Contains(t, oneByOne["eve"][0], "checkout_abandonment v1 main exited/purchased")
}

// No cache between the admin and the engine: a flow switched off or on
// takes effect for the very next event and the very next step.
func TestFlowSwitchTakesEffectAtOnce(t *testing.T) {
	w := newWorld(t, paris, "2026-03-02 10:00")
	bob := w.contact("bob@example.com", contact.Subscribed)
	ann := w.contact("ann@example.com", contact.Subscribed)
	w.trigger(bob, flow.CheckoutStarted, "tok-1", w.at("10:00"))
	require.Len(t, w.enrollments(bob), 1)

	require.NoError(t, w.eng.Flows().SetEnabled(w.ctx, w.shop, flow.Checkout, false))
	w.trigger(ann, flow.CheckoutStarted, "tok-2", w.at("10:01"))
	require.Empty(t, w.enrollments(ann), "switched off: no enrollment")
	w.runUntil(w.at("12:00"))
	require.Empty(t, w.out.templates(), "switched off: the waiting step exits")
	require.Equal(t, []string{"exited:flow_disabled"}, w.decisions(bob))

	require.NoError(t, w.eng.Flows().SetEnabled(w.ctx, w.shop, flow.Checkout, true))
	w.trigger(ann, flow.CheckoutStarted, "tok-2", w.at("12:01"))
	require.Len(t, w.enrollments(ann), 1, "switched on again")
	w.settings(func(s *journey.Settings) { s.QuietStart, s.QuietEnd = "13:00", "14:00" })
	w.runUntil(w.at("13:30"))
	require.Empty(t, w.out.templates(), "quiet hours saved a moment ago apply")
	require.Equal(t, []string{"deferred:quiet_hours"}, w.decisions(ann))
}

// Under Defer, Trigger only collects; Flush applies; any other change to
// enrollments under the same context applies what was collected first.
func TestDeferredTriggersKeepTheirOrder(t *testing.T) {
	w := newWorld(t, paris, "2026-03-02 10:00")
	bob := w.contact("bob@example.com", contact.Subscribed)
	ann := w.contact("ann@example.com", contact.Subscribed)
	ctx, d := w.eng.Defer(w.ctx)
	ev := func(who int64, subject string) journey.Event {
		return journey.Event{ShopID: w.shop, ContactID: who, Trigger: flow.CheckoutStarted, Subject: subject, At: w.at("10:00")}
	}

	require.NoError(t, w.eng.Trigger(ctx, ev(bob, "tok-1")))
	require.Equal(t, 1, d.Len())
	require.Empty(t, w.enrollments(bob), "collected, not applied")
	// The deleted checkout comes after its event: the event is applied first.
	require.NoError(t, w.eng.ExitSubject(ctx, w.shop, flow.Checkout, "tok-1", journey.ReasonEmptied))
	require.Equal(t, 0, d.Len())
	require.Equal(t, []string{"exited:emptied"}, w.decisions(bob))

	require.NoError(t, w.eng.Trigger(ctx, ev(ann, "tok-2")))
	require.NoError(t, w.eng.Trigger(ctx, ev(1<<40, "tok-3")), "a contact that is gone is skipped at Flush")
	require.NoError(t, d.Flush(ctx))
	require.Equal(t, 0, d.Len())
	require.Len(t, w.enrollments(ann), 1)
	require.NoError(t, d.Flush(ctx), "nothing left")
}

// Discard drops what was collected after a mark and is not applied yet, also
// after an intermediate apply: a failed delivery's triggers are never applied.
func TestDeferredDiscardDropsOnlyWhatCameAfterTheMark(t *testing.T) {
	w := newWorld(t, paris, "2026-03-02 10:00")
	bob := w.contact("bob@example.com", contact.Subscribed)
	ann := w.contact("ann@example.com", contact.Subscribed)
	zoe := w.contact("zoe@example.com", contact.Subscribed)
	ctx, d := w.eng.Defer(w.ctx)
	ev := func(who int64, subject string) journey.Event {
		return journey.Event{ShopID: w.shop, ContactID: who, Trigger: flow.CheckoutStarted, Subject: subject, At: w.at("10:00")}
	}

	require.NoError(t, w.eng.Trigger(ctx, ev(bob, "tok-1")))
	mark := d.Mark()
	require.NoError(t, w.eng.Trigger(ctx, ev(ann, "tok-2")))
	d.Discard(mark)
	require.Equal(t, 1, d.Len(), "ann's event dropped, bob's kept")

	// An apply in between (an exit) does not shift what a later mark means.
	require.NoError(t, w.eng.ExitSubject(ctx, w.shop, flow.Checkout, "tok-9", journey.ReasonEmptied))
	mark = d.Mark()
	d.Discard(mark - 1)
	require.Equal(t, 0, d.Len(), "nothing pending to drop: bob's event is applied")
	require.NoError(t, w.eng.Trigger(ctx, ev(zoe, "tok-3")))
	d.Discard(mark)
	require.NoError(t, d.Flush(ctx))
	require.Len(t, w.enrollments(bob), 1)
	require.Empty(t, w.enrollments(ann))
	require.Empty(t, w.enrollments(zoe))
}
