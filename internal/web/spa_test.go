package web

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"
)

func TestSPA(t *testing.T) {
	dist := fstest.MapFS{
		"index.html":        {Data: []byte(`<meta name="shopify-api-key" content="%SHOPIFY_API_KEY%">`)},
		"assets/app-abc.js": {Data: []byte(`console.log(1)`)},
	}
	h := SPA(dist, `key"<x>`)
	tests := []struct {
		desc       string
		path       string
		wantStatus int
		wantBody   string
		wantCache  string
	}{
		{desc: "index with escaped key", path: "/", wantStatus: 200, wantBody: `<meta name="shopify-api-key" content="key&#34;&lt;x&gt;">`, wantCache: "no-store"},
		{desc: "client route falls back to index", path: "/sequences/checkout", wantStatus: 200, wantBody: `<meta name="shopify-api-key" content="key&#34;&lt;x&gt;">`},
		{desc: "hashed asset", path: "/assets/app-abc.js", wantStatus: 200, wantBody: "console.log(1)", wantCache: "public, max-age=31536000, immutable"},
		{desc: "missing asset is a 404, not index", path: "/assets/nope.js", wantStatus: 404},
		{desc: "traversal stays inside dist", path: "/assets/../../etc/passwd", wantStatus: 200, wantBody: `<meta name="shopify-api-key" content="key&#34;&lt;x&gt;">`},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.path, nil))
			require.Equal(t, tt.wantStatus, rec.Code)
			if tt.wantBody != "" {
				require.Equal(t, tt.wantBody, rec.Body.String())
			}
			if tt.wantCache != "" {
				require.Equal(t, tt.wantCache, rec.Header().Get("Cache-Control"))
			}
		})
	}
}

func TestSPAWithoutBuild(t *testing.T) {
	rec := httptest.NewRecorder()
	SPA(nil, "k").ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
	rec = httptest.NewRecorder()
	SPA(fstest.MapFS{}, "k").ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
}
