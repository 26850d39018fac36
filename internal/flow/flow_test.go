package flow_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/relance/relance/internal/flow"
	"github.com/relance/relance/internal/platform/testenv"
)

func TestParseDelay(t *testing.T) {
	tests := []struct {
		desc, in, want string
		wantErr        bool
	}{
		{desc: "hours", in: "24 hours", want: "24 hours"},
		{desc: "one hour", in: "1 Hour", want: "1 hour"},
		{desc: "days at", in: "2 days at 10:00", want: "2 days at 10:00"},
		{desc: "weekdays", in: "3 days at 09:30 on mon,wed,fri", want: "3 days at 09:30 on mon,wed,fri"},
		{desc: "usable life", in: "usable life at 10:00 on tue", want: "usable life at 10:00 on tue"},
		{desc: "bad time", in: "2 days at 25:00", wantErr: true},
		{desc: "bad weekday", in: "2 days at 10:00 on someday", wantErr: true},
		{desc: "no unit", in: "12", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			d, err := flow.ParseDelay(tt.in)
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, d.String())
			b, err := json.Marshal(d)
			require.NoError(t, err)
			var back flow.Delay
			require.NoError(t, json.Unmarshal(b, &back))
			require.Equal(t, d, back)
		})
	}
}

func TestDelayDueKeepsLocalClockAcrossDST(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	require.NoError(t, err)
	// Saturday 2026-03-28 15:00 Paris (UTC+1); clocks go forward on Sunday 29th.
	from := time.Date(2026, 3, 28, 15, 0, 0, 0, paris)
	due := flow.DaysAt(2, "10:00").Due(from, paris, nil, 0)
	require.Equal(t, time.Date(2026, 3, 30, 10, 0, 0, 0, paris), due)
	require.Equal(t, "2026-03-30T08:00:00Z", due.UTC().Format(time.RFC3339), "10:00 CEST is 08:00 UTC")
	// A plain "N hours" delay is elapsed time, DST or not.
	require.Equal(t, from.Add(48*time.Hour), flow.Hours(48).Due(from, paris, nil, 0))
}

func TestDelayDueWeekdaysAndScale(t *testing.T) {
	utc := time.UTC
	fri := time.Date(2026, 3, 6, 18, 0, 0, 0, utc) // a Friday
	due := flow.DaysAt(1, "10:00", time.Monday, time.Tuesday).Due(fri, utc, nil, 0)
	require.Equal(t, time.Date(2026, 3, 9, 10, 0, 0, 0, utc), due, "Saturday is not allowed: next Monday")
	// "0 days at 10:00" after 10:00 is tomorrow's 10:00.
	require.Equal(t, time.Date(2026, 3, 7, 10, 0, 0, 0, utc), flow.DaysAt(0, "10:00").Due(fri, utc, nil, 0))
	// Usable life uses the given number of days.
	life := flow.Delay{UsableLife: true, At: "10:00"}
	require.Equal(t, time.Date(2026, 4, 5, 10, 0, 0, 0, utc), life.Due(fri, utc, nil, 30))
	// TIME_SCALE compresses both forms into durations.
	x60 := func(d time.Duration) time.Duration { return d / 60 }
	require.Equal(t, fri.Add(time.Minute), flow.Hours(1).Due(fri, utc, x60, 0))
	require.Equal(t, fri.Add(48*time.Minute), flow.DaysAt(2, "10:00").Due(fri, utc, x60, 0))
}

func TestDefaultsAreValid(t *testing.T) {
	defs := flow.Defaults()
	require.Len(t, defs, 9)
	seen := map[flow.Key]bool{}
	for _, f := range defs {
		require.NoError(t, flow.Validate(&f), f.Key)
		seen[f.Key] = true
		if f.Ladder > 0 {
			steps := f.Branches[0].Steps
			require.False(t, steps[0].Offer, "%s: no offer in the first reminder", f.Key)
		}
	}
	require.Len(t, seen, 9)
	co := flow.Default(flow.Checkout)
	steps := co.Branches[0].Steps
	require.Equal(t, []bool{false, false, true}, []bool{steps[0].Offer, steps[1].Offer, steps[2].Offer})
	require.Equal(t, flow.Transactional, steps[0].Class)
	require.Equal(t, flow.Promotional, steps[2].Class)
}

func TestBranchSelection(t *testing.T) {
	w := flow.Default(flow.Welcome)
	require.Equal(t, "customer", w.Branch(flow.Facts{OrdersCount: 2}).Key)
	require.Equal(t, "new", w.Branch(flow.Facts{}).Key)
	q := flow.Default(flow.PostQuiz)
	require.Equal(t, "b", q.Branch(flow.Facts{Segment: "B"}).Key)
	require.Equal(t, "default", q.Branch(flow.Facts{Segment: "zzz"}).Key)
	pp := flow.Default(flow.PostPurchase)
	require.Equal(t, "first", pp.Branch(flow.Facts{OrdersCount: 1}).Key)
	require.Equal(t, "repeat", pp.Branch(flow.Facts{OrdersCount: 3}).Key)
	re := flow.Default(flow.Reengagement)
	require.Equal(t, "sunset", re.Branch(flow.Facts{Trigger: flow.Dormant}).Key)
	require.Equal(t, "winback", re.Branch(flow.Facts{Trigger: flow.Disengaged}).Key)
}

func TestValidateReportsFields(t *testing.T) {
	f := flow.Default(flow.Cart)
	f.Name = ""
	f.Reentry = flow.Reentry{Once: true, CooldownDays: 3}
	f.Branches[0].Steps[0].Offer = true // transactional with an offer
	f.Branches[0].Steps[1].Template = ""
	f.Branches[0].Steps[2].Key = "reminder-1"
	f.Branches[0].Steps = append(f.Branches[0].Steps, flow.Step{Key: "x", Template: "x", Class: "loud", Delay: flow.Delay{Hours: 1, At: "10:00"}})
	err := flow.Validate(f)
	var ve *flow.ValidationError
	require.True(t, errors.As(err, &ve))
	got := map[string]bool{}
	for _, fe := range ve.Fields {
		got[fe.Field] = true
	}
	for _, want := range []string{"name", "reentry", "branches[0].steps", "branches[0].steps[0].class", "branches[0].steps[1].template",
		"branches[0].steps[2].key", "branches[0].steps[3].class", "branches[0].steps[3].delay"} {
		require.True(t, got[want], "missing %s in %v", want, ve.Fields)
	}
}

func TestStoreVersionsArePinned(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.DB(t)
	var shop int64
	require.NoError(t, db.Raw(`INSERT INTO shops (domain) VALUES ('flows.myshopify.com') RETURNING id`).Scan(&shop).Error)
	s := flow.NewStore(db)
	require.NoError(t, s.EnsureDefaults(ctx, shop))
	require.NoError(t, s.EnsureDefaults(ctx, shop))
	states, err := s.List(ctx, shop)
	require.NoError(t, err)
	require.Len(t, states, 9)

	f, enabled, err := s.Current(ctx, shop, flow.Checkout)
	require.NoError(t, err)
	require.False(t, enabled, "defaults ship switched off")
	require.Equal(t, 1, f.Version)

	edited := *f
	edited.Branches = []flow.Branch{{Key: "main", When: "always", Steps: []flow.Step{
		{Key: "only", Delay: flow.Hours(4), Class: flow.Transactional, Template: "checkout/1"}}}}
	v, err := s.Publish(ctx, shop, edited)
	require.NoError(t, err)
	require.Equal(t, 2, v)

	old, err := s.Version(ctx, shop, flow.Checkout, 1)
	require.NoError(t, err)
	require.Len(t, old.Branches[0].Steps, 3, "version 1 is unchanged")
	cur, _, err := s.Current(ctx, shop, flow.Checkout)
	require.NoError(t, err)
	require.Equal(t, 2, cur.Version)
	require.Len(t, cur.Branches[0].Steps, 1)

	bad := edited
	bad.Branches = nil
	_, err = s.Publish(ctx, shop, bad)
	var ve *flow.ValidationError
	require.ErrorAs(t, err, &ve)

	require.NoError(t, s.SetEnabled(ctx, shop, flow.Checkout, true))
	_, enabled, err = s.Current(ctx, shop, flow.Checkout)
	require.NoError(t, err)
	require.True(t, enabled)
	_, err = s.Version(ctx, shop, flow.Checkout, 9)
	require.ErrorIs(t, err, flow.ErrNotFound)
}

func TestValidateExits(t *testing.T) {
	fieldsOf := func(f *flow.Flow) map[string]string {
		var ve *flow.ValidationError
		if err := flow.Validate(f); !errors.As(err, &ve) {
			return nil
		}
		out := map[string]string{}
		for _, fe := range ve.Fields {
			out[fe.Field] = fe.Message
		}
		return out
	}
	require.Equal(t, []flow.Exit{flow.ExitLeave, flow.ExitEmptied}, flow.ApplicableExits(flow.Default(flow.Cart)))
	require.Equal(t, []flow.Exit{flow.ExitLeave, flow.ExitEmptied}, flow.ApplicableExits(flow.Default(flow.Checkout)))
	require.Equal(t, []flow.Exit{flow.ExitLeave}, flow.ApplicableExits(flow.Default(flow.Browse)))
	require.Empty(t, flow.ApplicableExits(flow.Default(flow.Welcome)))

	checkout := flow.Default(flow.Checkout)
	checkout.Exits = []flow.Exit{flow.ExitEmptied, flow.ExitLeave}
	require.NoError(t, flow.Validate(checkout), "leave may be added to checkout abandonment")

	checkout.Exits = []flow.Exit{flow.ExitLeave}
	require.Contains(t, fieldsOf(checkout), "exits", "an emptied checkout always ends the flow")

	checkout.Exits = []flow.Exit{flow.ExitEmptied, flow.ExitEmptied}
	require.Contains(t, fieldsOf(checkout), "exits[1]")

	welcome := flow.Default(flow.Welcome)
	welcome.Exits = []flow.Exit{flow.ExitLeave}
	require.Contains(t, fieldsOf(welcome)["exits[0]"], "does not apply")

	browse := flow.Default(flow.Browse)
	browse.Exits = []flow.Exit{flow.ExitLeave, flow.ExitEmptied}
	require.Contains(t, fieldsOf(browse)["exits[1]"], "does not apply")
	browse.Exits = nil
	require.NoError(t, flow.Validate(browse), "leaving is optional")
}
