package config_test

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/relance/relance/internal/config"
)

func validEnv() map[string]string {
	return map[string]string{
		"SHOPIFY_API_KEY":    "key",
		"SHOPIFY_API_SECRET": "secret",
		"SHOPIFY_APP_URL":    "https://relance.example",
		"SHOPIFY_SCOPES":     "read_orders, write_discounts",
		"DATABASE_URL":       "postgres://u@localhost:5432/relance",
		"REDIS_URL":          "redis://localhost:6379/0",
		"ENCRYPTION_KEY":     base64.StdEncoding.EncodeToString(make([]byte, 32)),
	}
}

func load(env map[string]string, need config.Need) (*config.Config, error) {
	return config.Load(func(k string) string { return env[k] }, need)
}

func TestLoadValid(t *testing.T) {
	c, err := load(validEnv(), config.NeedAll)
	require.NoError(t, err)
	require.Equal(t, []string{"read_orders", "write_discounts"}, c.ShopifyScopes)
	require.Equal(t, 8080, c.Port)
	require.Equal(t, 1.0, c.TimeScale)
	require.Len(t, c.EncryptionKey, 32)
	require.Equal(t, time.Hour, c.Scale(time.Hour))
}

func TestLoadNamesTheFaultyVariable(t *testing.T) {
	tests := []struct {
		desc    string
		set     map[string]string
		unset   string
		wantVar string
	}{
		{desc: "missing api key", unset: "SHOPIFY_API_KEY", wantVar: "SHOPIFY_API_KEY"},
		{desc: "missing secret", unset: "SHOPIFY_API_SECRET", wantVar: "SHOPIFY_API_SECRET"},
		{desc: "missing database", unset: "DATABASE_URL", wantVar: "DATABASE_URL"},
		{desc: "missing redis", unset: "REDIS_URL", wantVar: "REDIS_URL"},
		{desc: "missing key", unset: "ENCRYPTION_KEY", wantVar: "ENCRYPTION_KEY"},
		{desc: "relative app url", set: map[string]string{"SHOPIFY_APP_URL": "/relance"}, wantVar: "SHOPIFY_APP_URL"},
		{desc: "empty scopes", set: map[string]string{"SHOPIFY_SCOPES": " , "}, wantVar: "SHOPIFY_SCOPES"},
		{desc: "database not postgres", set: map[string]string{"DATABASE_URL": "mysql://x"}, wantVar: "DATABASE_URL"},
		{desc: "redis not redis", set: map[string]string{"REDIS_URL": "http://x"}, wantVar: "REDIS_URL"},
		{desc: "short key", set: map[string]string{"ENCRYPTION_KEY": base64.StdEncoding.EncodeToString(make([]byte, 16))}, wantVar: "ENCRYPTION_KEY"},
		{desc: "key not base64", set: map[string]string{"ENCRYPTION_KEY": "%%%"}, wantVar: "ENCRYPTION_KEY"},
		{desc: "port not a number", set: map[string]string{"PORT": "http"}, wantVar: "PORT"},
		{desc: "port out of range", set: map[string]string{"PORT": "70000"}, wantVar: "PORT"},
		{desc: "time scale zero", set: map[string]string{"TIME_SCALE": "0"}, wantVar: "TIME_SCALE"},
		{desc: "mail from with a name", set: map[string]string{"MAIL_FROM": "Shop <hello@relance.example>"}, wantVar: "MAIL_FROM"},
		{desc: "mail from not an address", set: map[string]string{"MAIL_FROM": "hello"}, wantVar: "MAIL_FROM"},
		{desc: "admin base not a url", set: map[string]string{"SHOPIFY_ADMIN_BASE_URL": "localhost"}, wantVar: "SHOPIFY_ADMIN_BASE_URL"},
		{desc: "resend key without webhook secret", set: map[string]string{"RESEND_API_KEY": "re_x"}, wantVar: "RESEND_WEBHOOK_SECRET"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			env := validEnv()
			delete(env, tt.unset)
			for k, v := range tt.set {
				env[k] = v
			}
			_, err := load(env, config.NeedAll)
			require.Error(t, err)
			require.True(t, strings.HasPrefix(err.Error(), tt.wantVar+":"), "error %q should name %s", err, tt.wantVar)
		})
	}
}

func TestLoadReportsEveryProblemAtOnce(t *testing.T) {
	_, err := load(map[string]string{}, config.NeedAll)
	require.Error(t, err)
	for _, v := range []string{"SHOPIFY_API_KEY", "SHOPIFY_API_SECRET", "SHOPIFY_APP_URL", "SHOPIFY_SCOPES", "DATABASE_URL", "REDIS_URL", "ENCRYPTION_KEY"} {
		require.Contains(t, err.Error(), v)
	}
}

func TestMigrateNeedsOnlyTheDatabase(t *testing.T) {
	c, err := load(map[string]string{"DATABASE_URL": "postgres://localhost/x"}, config.NeedDatabase)
	require.NoError(t, err)
	require.Equal(t, "postgres://localhost/x", c.DatabaseURL)
}

func TestTimeScale(t *testing.T) {
	env := validEnv()
	env["TIME_SCALE"] = "3600"
	c, err := load(env, config.NeedAll)
	require.NoError(t, err)
	require.Equal(t, time.Second, c.Scale(time.Hour))
}

func TestMailFrom(t *testing.T) {
	c, err := load(validEnv(), config.NeedAll)
	require.NoError(t, err)
	require.Equal(t, "hello@relance.example", c.MailFrom, "default: hello@ the app's host")
	env := validEnv()
	env["MAIL_FROM"] = "reminders@mail.relance.example"
	c, err = load(env, config.NeedAll)
	require.NoError(t, err)
	require.Equal(t, "reminders@mail.relance.example", c.MailFrom)
}
