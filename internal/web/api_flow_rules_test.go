package web

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/relance/relance/internal/flow"
)

// TestAdminFlowRules: exits and re-entry travel with the draft, are
// validated field by field, are published as a new version, and stay the
// shop's own.
func TestAdminFlowRules(t *testing.T) {
	t.Parallel()
	env := newAdminEnv(t)
	ctx := context.Background()
	const path = "/api/flows/checkout_abandonment"

	code, got := env.call(t, shopA, http.MethodGet, path, nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, []any{"emptied"}, got["exits"])
	require.Equal(t, []any{"leave", "emptied"}, got["available_exits"])
	require.Equal(t, map[string]any{"once": false, "cooldown_days": 1.0}, got["reentry"])
	_, welcome := env.call(t, shopA, http.MethodGet, "/api/flows/welcome", nil)
	require.Equal(t, []any{}, welcome["available_exits"])
	require.Equal(t, map[string]any{"once": true, "cooldown_days": 0.0}, welcome["reentry"])

	// The editor sends back what it read (available_exits included).
	draft := got
	for _, bad := range []struct {
		exits   []any
		reentry map[string]any
		field   string
	}{
		{[]any{"emptied"}, map[string]any{"once": true, "cooldown_days": 3}, "reentry"},
		{[]any{"emptied"}, map[string]any{"once": false, "cooldown_days": 9999}, "reentry.cooldown_days"},
		{[]any{"emptied", "bogus"}, map[string]any{"once": false, "cooldown_days": 1}, "exits.1"},
		{[]any{"leave"}, map[string]any{"once": false, "cooldown_days": 1}, "exits"},
	} {
		draft["exits"], draft["reentry"] = bad.exits, bad.reentry
		code, got = env.call(t, shopA, http.MethodPut, path+"/draft", draft)
		require.Equal(t, http.StatusUnprocessableEntity, code, "%v", bad)
		require.Contains(t, fields(t, got), bad.field, "%v", bad)
	}
	welcome["exits"] = []any{"leave"}
	code, got = env.call(t, shopA, http.MethodPut, "/api/flows/welcome/draft", welcome)
	require.Equal(t, http.StatusUnprocessableEntity, code)
	require.Contains(t, fields(t, got)["exits.0"], "does not apply")

	// A valid change is the draft's until published.
	draft["exits"], draft["reentry"] = []any{"leave", "emptied"}, map[string]any{"once": false, "cooldown_days": 14}
	code, got = env.call(t, shopA, http.MethodPut, path+"/draft", draft)
	require.Equal(t, http.StatusOK, code, "%v", got)
	require.Equal(t, []any{"leave", "emptied"}, got["exits"])
	require.Equal(t, map[string]any{"once": false, "cooldown_days": 14.0}, got["reentry"])
	cur, _, err := env.deps.Flows.Current(ctx, env.shopA.ID, flow.Checkout)
	require.NoError(t, err)
	require.False(t, cur.HasExit(flow.ExitLeave), "the published version is unchanged")

	// A draft that leaves exits and reentry out keeps them.
	delete(draft, "exits")
	delete(draft, "reentry")
	code, got = env.call(t, shopA, http.MethodPut, path+"/draft", draft)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, map[string]any{"once": false, "cooldown_days": 14.0}, got["reentry"])

	code, _ = env.call(t, shopA, http.MethodPost, path+"/publish", map[string]any{"move_waiting": false})
	require.Equal(t, http.StatusOK, code)
	cur, _, err = env.deps.Flows.Current(ctx, env.shopA.ID, flow.Checkout)
	require.NoError(t, err)
	require.Equal(t, 2, cur.Version)
	require.Equal(t, flow.Reentry{CooldownDays: 14}, cur.Reentry)
	require.Equal(t, []flow.Exit{flow.ExitLeave, flow.ExitEmptied}, cur.Exits)

	// Once ever, on the next version.
	draft["reentry"] = map[string]any{"once": true, "cooldown_days": 0}
	code, _ = env.call(t, shopA, http.MethodPut, path+"/draft", draft)
	require.Equal(t, http.StatusOK, code)
	code, _ = env.call(t, shopA, http.MethodPost, path+"/publish", map[string]any{})
	require.Equal(t, http.StatusOK, code)
	cur, _, err = env.deps.Flows.Current(ctx, env.shopA.ID, flow.Checkout)
	require.NoError(t, err)
	require.Equal(t, flow.Reentry{Once: true}, cur.Reentry)

	// Shop B's checkout abandonment keeps the defaults.
	_, got = env.call(t, shopB, http.MethodGet, path, nil)
	require.Equal(t, []any{"emptied"}, got["exits"])
	require.Equal(t, map[string]any{"once": false, "cooldown_days": 1.0}, got["reentry"])
	require.EqualValues(t, 1, got["version"])
}
