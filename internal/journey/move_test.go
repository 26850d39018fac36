package journey_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/relance/relance/internal/contact"
	"github.com/relance/relance/internal/flow"
	"github.com/relance/relance/internal/journey"
)

// Moving waiting shoppers to a new version re-times their next step by the
// new delays, and ends at once those whose step the new version dropped.
func TestMoveToVersionRetimesAndEndsDroppedSteps(t *testing.T) {
	w := newWorld(t, paris, "2026-03-01 10:00")
	cid := w.contact("cid@example.com", contact.Subscribed)
	ann := w.contact("ann@example.com", contact.Subscribed)
	bob := w.contact("bob@example.com", contact.Subscribed)
	w.trigger(cid, flow.CheckoutStarted, "tok-c", w.at("2026-03-01 10:00"))
	w.runUntil(w.at("2026-03-02 08:30"))
	w.trigger(ann, flow.CheckoutStarted, "tok-a", w.at("2026-03-02 08:30"))
	w.runUntil(w.at("2026-03-02 10:30"))
	w.trigger(bob, flow.CheckoutStarted, "tok-b", w.at("2026-03-02 10:30"))
	require.Equal(t, 2, w.enrollments(cid)[0].Step, "cid waits for the third reminder")
	require.Equal(t, 1, w.enrollments(ann)[0].Step, "ann's first reminder went at 09:30")

	v2 := *flow.Default(flow.Checkout)
	steps := v2.Branches[0].Steps[:2:2]
	steps[0].Delay, steps[1].Delay = flow.Hours(2), flow.Hours(5)
	v2.Branches = []flow.Branch{{Key: "main", When: "always", Steps: steps}}
	version, err := w.eng.Flows().Publish(w.ctx, w.shop, v2)
	require.NoError(t, err)
	moved, err := w.eng.MoveToVersion(w.ctx, w.shop, flow.Checkout, version)
	require.NoError(t, err)
	require.EqualValues(t, 3, moved)

	next := func(id int64) string {
		en := w.enrollments(id)[0]
		require.Equal(t, version, en.FlowVersion)
		return en.NextRunAt.In(w.loc).Format("01-02 15:04")
	}
	require.Equal(t, "03-02 12:30", next(bob), "trigger + the new 2 hours")
	require.Equal(t, "03-02 14:30", next(ann), "first reminder's run + the new 5 hours")
	require.Equal(t, journey.StatusExited, w.enrollments(cid)[0].Status)
	require.Equal(t, []string{"sent", "sent", "exited:flow_changed"}, w.decisions(cid))

	w.runUntil(w.at("2026-03-02 15:00"))
	require.Equal(t, []string{"checkout/1", "checkout/1", "checkout/2", "checkout/1", "checkout/2"}, w.out.templates())
}
