package web

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/relance/relance/internal/mail"
	"github.com/relance/relance/internal/mail/resendtest"
)

// withDomains serves the admin API again with sending domains through the
// Resend stand-in.
func (env *adminEnv) withDomains(t *testing.T) *resendtest.Server {
	t.Helper()
	fake := resendtest.New(t, resendtest.Options{RateLimit: -1})
	u, err := url.Parse(fake.URL)
	require.NoError(t, err)
	deps := env.deps
	deps.Domains = mail.NewDomains(mail.DomainsOptions{DB: env.db, APIKey: fake.APIKey(), BaseURL: u})
	env.serve(t, deps)
	return fake
}

func TestSendingDomainAPI(t *testing.T) {
	t.Parallel()
	env := newAdminEnv(t)

	// The outbox (no Resend): nothing to register with.
	code, got := env.call(t, shopA, http.MethodGet, "/api/sending-domain", nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, false, got["available"])
	require.Nil(t, got["domain"])
	require.Equal(t, "hello@relance.example", got["from_email"])
	code, got = env.call(t, shopA, http.MethodPost, "/api/sending-domain", map[string]any{"domain": "mail.alpha.example"})
	require.Equal(t, http.StatusConflict, code)
	require.Equal(t, "sending domains need Resend", got["message"])

	fake := env.withDomains(t)
	code, got = env.call(t, shopA, http.MethodPost, "/api/sending-domain", map[string]any{"domain": "not a domain"})
	require.Equal(t, http.StatusUnprocessableEntity, code)
	require.Contains(t, got["fields"], "domain")
	code, got = env.call(t, shopA, http.MethodPost, "/api/sending-domain", map[string]any{"domain": ""})
	require.Equal(t, http.StatusUnprocessableEntity, code)
	require.Equal(t, "is required", got["fields"].(map[string]any)["domain"])

	code, got = env.call(t, shopA, http.MethodPost, "/api/sending-domain", map[string]any{"domain": "Mail.Alpha.Example"})
	require.Equal(t, http.StatusOK, code, "%v", got)
	require.Equal(t, true, got["available"])
	require.Equal(t, "hello@relance.example", got["from_email"], "not verified yet")
	d := got["domain"].(map[string]any)
	require.Equal(t, "mail.alpha.example", d["name"])
	require.Equal(t, "pending", d["status"])
	require.Equal(t, false, d["verified"])
	require.Len(t, d["records"], 3)

	// Shop B sees nothing of A's, cannot verify it, cannot take it.
	code, got = env.call(t, shopB, http.MethodGet, "/api/sending-domain", nil)
	require.Equal(t, http.StatusOK, code)
	require.Nil(t, got["domain"])
	code, _ = env.call(t, shopB, http.MethodPost, "/api/sending-domain/verify", nil)
	require.Equal(t, http.StatusNotFound, code)
	code, _ = env.call(t, shopB, http.MethodPost, "/api/sending-domain", map[string]any{"domain": "mail.alpha.example"})
	require.Equal(t, http.StatusConflict, code)

	code, got = env.call(t, shopA, http.MethodPost, "/api/sending-domain/verify", nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "pending", got["domain"].(map[string]any)["status"], "records not published yet")
	fake.PublishDNS("mail.alpha.example")
	code, got = env.call(t, shopA, http.MethodPost, "/api/sending-domain/verify", nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "verified", got["domain"].(map[string]any)["status"])
	require.Equal(t, "hello@mail.alpha.example", got["from_email"])
	code, got = env.call(t, shopB, http.MethodGet, "/api/sending-domain", nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "hello@relance.example", got["from_email"], "B still sends from the app's address")

	from, err := mail.FromAddress(context.Background(), env.db, env.shopA.ID, "hello@relance.example")
	require.NoError(t, err)
	require.Equal(t, "hello@mail.alpha.example", from)
}
