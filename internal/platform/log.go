package platform

import (
	"io"
	"log/slog"
	"strings"
)

// secretKeys are attribute names whose values never reach a log line.
var secretKeys = []string{"token", "secret", "password", "authorization", "hmac", "signature", "api_key", "encryption_key", "cookie", "refresh"}

// NewLogger returns a JSON slog logger that masks any attribute whose name
// looks like a credential, wherever it is nested.
func NewLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Value.Kind() == slog.KindGroup {
				return a
			}
			if IsSecretName(a.Key) {
				return slog.String(a.Key, "[redacted]")
			}
			return a
		},
	}))
}

// IsSecretName reports whether an attribute or header name denotes a credential.
func IsSecretName(name string) bool {
	n := strings.ToLower(name)
	for _, k := range secretKeys {
		if strings.Contains(n, k) {
			return true
		}
	}
	return false
}
