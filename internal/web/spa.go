package web

import (
	"bytes"
	"html"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// apiKeyPlaceholder is replaced in index.html by the app's client id, which
// App Bridge reads from <meta name="shopify-api-key">. The key is public.
const apiKeyPlaceholder = "%SHOPIFY_API_KEY%"

// SPA serves the built admin UI: files under assets/ as they are (cacheable,
// their names carry a content hash), and index.html for every other path so
// client-side routes survive a reload. With no build in dist (a fresh clone,
// or a -tags no_frontend binary) it answers 503 with a hint.
func SPA(dist fs.FS, apiKey string) http.Handler {
	var index []byte
	if dist != nil {
		if b, err := fs.ReadFile(dist, "index.html"); err == nil {
			index = bytes.ReplaceAll(b, []byte(apiKeyPlaceholder), []byte(html.EscapeString(apiKey)))
		}
	}
	files := http.FileServer(http.FS(orEmpty(dist)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if index == nil {
			http.Error(w, "admin UI not built: run `make frontend`", http.StatusServiceUnavailable)
			return
		}
		p := path.Clean("/" + r.URL.Path)
		if strings.HasPrefix(p, "/assets/") {
			if _, err := fs.Stat(dist, strings.TrimPrefix(p, "/")); err == nil {
				w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
				files.ServeHTTP(w, r)
				return
			}
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		http.ServeContent(w, r, "index.html", time.Time{}, bytes.NewReader(index))
	})
}

func orEmpty(f fs.FS) fs.FS {
	if f == nil {
		return emptyFS{}
	}
	return f
}

type emptyFS struct{}

func (emptyFS) Open(string) (fs.File, error) { return nil, fs.ErrNotExist }
