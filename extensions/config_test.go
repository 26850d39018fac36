// Package extensions_test checks the Shopify app extensions' configuration
// against what the Shopify CLI validates (Shopify/cli
// packages/app/src/cli/models/extensions/specifications/{web_pixel_extension,theme}.ts
// and schemas.ts), so a broken config fails `go test` rather than
// `shopify app deploy`.
package extensions_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/stretchr/testify/require"
)

// handleRE is the CLI's HandleSchema: alphanumerics and hyphens, not at the
// ends, at most 30 characters.
var handleRE = regexp.MustCompile(`^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,28}[a-zA-Z0-9])?$`)

func decode(t *testing.T, path string) (map[string]any, toml.MetaData) {
	t.Helper()
	var m map[string]any
	md, err := toml.DecodeFile(path, &m)
	require.NoError(t, err, path)
	return m, md
}

func TestWebPixelExtensionConfig(t *testing.T) {
	m, _ := decode(t, "relance-pixel/shopify.extension.toml")
	require.Equal(t, "web_pixel_extension", m["type"])
	require.NotEmpty(t, m["name"])
	require.Regexp(t, handleRE, m["handle"])
	// App pixels always run in the strict sandbox.
	require.Equal(t, "strict", m["runtime_context"])
	require.NotContains(t, m, "configuration", "deprecated, replaced by settings (CLI preDeployValidation)")

	priv, ok := m["customer_privacy"].(map[string]any)
	require.True(t, ok, "[customer_privacy] is required: Shopify loads the pixel only with the permissions it declares")
	for _, k := range []string{"analytics", "marketing", "preferences"} {
		require.IsType(t, true, priv[k], "customer_privacy.%s must be a boolean", k)
	}
	require.Contains(t, []any{"enabled", "disabled", "ldu"}, priv["sale_of_data"])
	require.Equal(t, true, priv["analytics"])
	require.Equal(t, true, priv["marketing"])
	require.Len(t, priv, 4)

	settings, ok := m["settings"].(map[string]any)
	require.True(t, ok)
	require.Equal(t, "object", settings["type"])
	fields, ok := settings["fields"].(map[string]any)
	require.True(t, ok)
	for _, k := range []string{"accountID", "appUrl"} {
		f, ok := fields[k].(map[string]any)
		require.True(t, ok, "settings.fields.%s", k)
		require.Equal(t, "single_line_text_field", f["type"])
		require.NotEmpty(t, f["name"])
	}

	// The CLI builds a single JS entry with esbuild and requires the
	// web-pixels dependency.
	var pkg struct {
		Dependencies map[string]string `json:"dependencies"`
		Scripts      map[string]string `json:"scripts"`
	}
	b, err := os.ReadFile("relance-pixel/package.json")
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &pkg))
	require.Contains(t, pkg.Dependencies, "@shopify/web-pixels-extension")
	require.NotEmpty(t, pkg.Scripts["test"])
	require.FileExists(t, "relance-pixel/src/index.ts")
	require.FileExists(t, "relance-pixel/package-lock.json")
}

func TestThemeAppExtensionConfig(t *testing.T) {
	const dir = "relance-quiz"
	m, _ := decode(t, filepath.Join(dir, "shopify.extension.toml"))
	require.Equal(t, "theme", m["type"])
	require.NotEmpty(t, m["name"])
	require.Regexp(t, handleRE, m["name"])

	// The CLI accepts only these directories and file types.
	allowed := map[string][]string{
		"assets":   {".jpg", ".jpeg", ".json", ".js", ".css", ".png", ".svg", ".wasm"},
		"blocks":   {".liquid"},
		"locales":  {".json"},
		"snippets": {".liquid"},
	}
	var liquidBytes, total int64
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		if !e.IsDir() {
			require.Equal(t, "shopify.extension.toml", e.Name(), "unexpected file at the extension root")
			continue
		}
		exts, ok := allowed[e.Name()]
		require.True(t, ok, "unsupported directory %s", e.Name())
		files, err := os.ReadDir(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		for _, f := range files {
			require.Contains(t, exts, filepath.Ext(f.Name()), "%s/%s", e.Name(), f.Name())
			info, err := f.Info()
			require.NoError(t, err)
			total += info.Size()
			if e.Name() == "blocks" || e.Name() == "snippets" {
				liquidBytes += info.Size()
			}
			if filepath.Ext(f.Name()) == ".json" {
				b, err := os.ReadFile(filepath.Join(dir, e.Name(), f.Name()))
				require.NoError(t, err)
				require.True(t, json.Valid(b), "%s/%s is not JSON", e.Name(), f.Name())
			}
		}
	}
	require.Less(t, liquidBytes, int64(500<<10))
	require.Less(t, total, int64(10<<20))
}

var schemaRE = regexp.MustCompile(`(?s)\{%-?\s*schema\s*-?%\}(.*?)\{%-?\s*endschema\s*-?%\}`)

func TestQuizBlockSchema(t *testing.T) {
	b, err := os.ReadFile("relance-quiz/blocks/quiz.liquid")
	require.NoError(t, err)
	found := schemaRE.FindAllSubmatch(b, -1)
	require.Len(t, found, 1, "one {%% schema %%} tag")
	var schema struct {
		Name       string `json:"name"`
		Target     string `json:"target"`
		JavaScript string `json:"javascript"`
		Stylesheet string `json:"stylesheet"`
		Settings   []struct {
			Type    string `json:"type"`
			ID      string `json:"id"`
			Label   string `json:"label"`
			Default any    `json:"default"`
		} `json:"settings"`
	}
	require.NoError(t, json.Unmarshal(found[0][1], &schema))
	require.NotEmpty(t, schema.Name)
	require.Contains(t, []string{"section", "head", "body"}, schema.Target)
	require.FileExists(t, filepath.Join("relance-quiz/assets", schema.JavaScript))
	require.FileExists(t, filepath.Join("relance-quiz/assets", schema.Stylesheet))
	ids := map[string]bool{}
	for _, s := range schema.Settings {
		require.NotEmpty(t, s.Type)
		require.NotEmpty(t, s.Label)
		require.False(t, ids[s.ID], "duplicate setting %s", s.ID)
		ids[s.ID] = true
		require.Contains(t, string(b), "block.settings."+s.ID, "setting %s is unused", s.ID)
	}
	require.True(t, ids["consent_label"], "the consent text is the merchant's to adapt")

	// The block talks to the app proxy path declared in shopify.app.toml.
	var app struct {
		AppProxy struct {
			URL, Subpath, Prefix string
		} `toml:"app_proxy"`
	}
	_, err = toml.DecodeFile("../shopify.app.toml", &app)
	require.NoError(t, err)
	require.Equal(t, "/proxy", app.AppProxy.URL)
	require.Contains(t, string(b), "/"+app.AppProxy.Prefix+"/"+app.AppProxy.Subpath+"/quiz")

	// The consent checkbox starts unticked and the script makes no request
	// other than to the proxy endpoint.
	js, err := os.ReadFile("relance-quiz/assets/quiz.js")
	require.NoError(t, err)
	require.Contains(t, string(js), "consent.checked = false")
	require.NotContains(t, string(js), "http://")
	require.Equal(t, 2, strings.Count(string(js), "fetch("), "one GET and one POST, both to data-endpoint")
	require.NotContains(t, string(js), "innerHTML")
}
