//go:build !no_frontend

package frontend

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
)

// The contract of the built document with the Go server, which fills in the
// API key when it serves index.html.
func TestDist(t *testing.T) {
	if _, err := fs.Stat(Dist, ".gitkeep"); err != nil {
		t.Fatalf("dist/.gitkeep missing from the embedded files: %v", err)
	}
	b, err := fs.ReadFile(Dist, "index.html")
	if errors.Is(err, fs.ErrNotExist) {
		t.Skip("frontend not built (make frontend)")
	}
	if err != nil {
		t.Fatal(err)
	}
	html := string(b)
	if !strings.Contains(html, `<meta name="shopify-api-key" content="%SHOPIFY_API_KEY%" />`) {
		t.Error("index.html lacks the shopify-api-key meta tag with the %SHOPIFY_API_KEY% placeholder")
	}
	if n := strings.Count(html, "%SHOPIFY_API_KEY%"); n != 1 {
		t.Errorf("placeholder appears %d times, want 1", n)
	}
	ab := strings.Index(html, `<script src="https://cdn.shopify.com/shopifycloud/app-bridge.js"></script>`)
	if ab < 0 {
		t.Fatal("index.html does not load App Bridge from Shopify's CDN")
	}
	if first := strings.Index(html, "<script"); first != ab {
		t.Error("App Bridge must be the first script of the document")
	}
	if !strings.Contains(html, `src="/assets/`) {
		t.Error("index.html does not load the built bundle from /assets/")
	}
}
