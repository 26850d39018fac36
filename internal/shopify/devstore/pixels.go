package devstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// The web pixel part of the Admin API, built in: the webPixel query and the
// webPixelCreate, webPixelUpdate and webPixelDelete mutations, for the one
// web pixel extension of the app (extensions/relance-pixel). It behaves like
// Shopify where the app can tell: one pixel per shop and app (a second
// create is TAKEN), settings arrive as a JSON string validated against the
// extension's [settings] (INVALID_CONFIGURATION_JSON, INVALID_SETTINGS),
// an unknown id is NOT_FOUND, and the webPixel query of a shop without a
// pixel is a null field with a top-level error, as Shopify answers (the
// message is the one seen from Shopify; the documentation does not list it).
//
// PixelSettingsFields are the settings the stand-in accepts, the fields of
// the extension's shopify.extension.toml: each must be a non-empty string,
// and no other key is allowed.
var PixelSettingsFields = []string{"accountID", "appUrl"}

// ErrNoWebPixel is the top-level error of the webPixel query for a shop
// without a pixel.
var ErrNoWebPixel = errors.New("No web pixel was found for this app.") // Shopify's wording

// WebPixel is the web pixel the stand-in holds for a shop.
type WebPixel struct {
	ID       string            // gid://shopify/WebPixel/N
	Settings map[string]string // decoded settings
	Raw      string            // settings as received (a JSON string)
	Updates  int               // webPixelUpdate calls that changed it
}

type pixelStore struct {
	mu     sync.Mutex
	nextID int
	pixels map[string]*WebPixel // shop -> pixel
}

// registerPixels installs the web pixel root fields (called by New).
func (s *Server) registerPixels() {
	p := &pixelStore{pixels: map[string]*WebPixel{}}
	s.pixels = p
	s.HandleGraphQL("webPixel", 1, p.query)
	s.HandleGraphQL("webPixelCreate", 10, p.create)
	s.HandleGraphQL("webPixelUpdate", 10, p.update)
	s.HandleGraphQL("webPixelDelete", 10, p.delete)
}

// WebPixel returns shop's web pixel, if the app activated one.
func (s *Server) WebPixel(shop string) (WebPixel, bool) {
	p := s.pixels
	p.mu.Lock()
	defer p.mu.Unlock()
	px := p.pixels[strings.ToLower(shop)]
	if px == nil {
		return WebPixel{}, false
	}
	out := *px
	out.Settings = make(map[string]string, len(px.Settings))
	for k, v := range px.Settings {
		out.Settings[k] = v
	}
	return out, true
}

// SetWebPixel stores shop's pixel with these settings (kept as given, not
// validated), as if it had been activated earlier (e.g. by another app URL);
// it returns the pixel's id.
func (s *Server) SetWebPixel(shop string, settings map[string]string) string {
	p := s.pixels
	raw, _ := json.Marshal(settings)
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.putLocked(strings.ToLower(shop), settings, string(raw)).ID
}

// DeleteWebPixel removes shop's pixel (as if the merchant disconnected it);
// it reports whether there was one.
func (s *Server) DeleteWebPixel(shop string) bool {
	p := s.pixels
	p.mu.Lock()
	defer p.mu.Unlock()
	shop = strings.ToLower(shop)
	_, ok := p.pixels[shop]
	delete(p.pixels, shop)
	return ok
}

func (p *pixelStore) putLocked(shop string, settings map[string]string, raw string) *WebPixel {
	if px := p.pixels[shop]; px != nil {
		px.Settings, px.Raw = settings, raw
		return px
	}
	p.nextID++
	px := &WebPixel{ID: fmt.Sprintf("gid://shopify/WebPixel/%d", 500+p.nextID), Settings: settings, Raw: raw}
	p.pixels[shop] = px
	return px
}

func pixelJSON(px *WebPixel) map[string]any {
	// settings is a JSON scalar; Shopify returns it as a JSON-encoded string.
	return map[string]any{"id": px.ID, "settings": px.Raw}
}

// settingsOf validates the webPixel input's settings.
func settingsOf(vars map[string]any) (map[string]string, string, []any, error) {
	in, ok := vars["webPixel"].(map[string]any)
	if !ok {
		return nil, "", nil, errors.New("Variable $webPixel of type WebPixelInput! was provided invalid value") //nolint:staticcheck
	}
	field := []string{"webPixel", "settings"}
	raw, ok := in["settings"].(string)
	if !ok {
		// A JSON object instead of a string is accepted by the JSON scalar.
		if obj, isObj := in["settings"].(map[string]any); isObj {
			b, _ := json.Marshal(obj)
			raw = string(b)
		}
	}
	if strings.TrimSpace(raw) == "" {
		return nil, "", []any{userErr(field, "BLANK", "Settings can't be blank")}, nil
	}
	var decoded map[string]any
	if err := json.Unmarshal([]byte(raw), &decoded); err != nil || decoded == nil {
		return nil, "", []any{userErr(field, "INVALID_CONFIGURATION_JSON", "The provided settings is not a valid JSON.")}, nil
	}
	var problems []string
	out := map[string]string{}
	allowed := map[string]bool{}
	for _, f := range PixelSettingsFields {
		allowed[f] = true
		v, _ := decoded[f].(string)
		if v == "" {
			problems = append(problems, fmt.Sprintf("%s must be a non-empty string", f))
			continue
		}
		out[f] = v
	}
	var extra []string
	for k := range decoded {
		if !allowed[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	for _, k := range extra {
		problems = append(problems, fmt.Sprintf("%s is not a setting of the extension", k))
	}
	if len(problems) > 0 {
		return nil, "", []any{userErr(field, "INVALID_SETTINGS",
			"The provided settings does not match the expected settings definition on the app: "+strings.Join(problems, "; "))}, nil
	}
	return out, raw, nil, nil
}

func (p *pixelStore) query(shop string, vars map[string]any) (any, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	px := p.pixels[shop]
	if px == nil {
		return nil, ErrNoWebPixel
	}
	if id, ok := vars["id"].(string); ok && id != px.ID {
		return nil, ErrNoWebPixel
	}
	return pixelJSON(px), nil
}

func (p *pixelStore) create(shop string, vars map[string]any) (any, error) {
	settings, raw, errs, err := settingsOf(vars)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if errs == nil && p.pixels[shop] != nil {
		errs = []any{userErr([]string{"webPixel"}, "TAKEN", "Web pixel is taken.")}
	}
	if errs != nil {
		return map[string]any{"webPixel": nil, "userErrors": errs}, nil
	}
	return map[string]any{"webPixel": pixelJSON(p.putLocked(shop, settings, raw)), "userErrors": []any{}}, nil
}

func (p *pixelStore) update(shop string, vars map[string]any) (any, error) {
	settings, raw, errs, err := settingsOf(vars)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	px := p.pixels[shop]
	if errs == nil && (px == nil || fmt.Sprint(vars["id"]) != px.ID) {
		errs = []any{userErr([]string{"id"}, "NOT_FOUND", "Web pixel not found.")}
	}
	if errs != nil {
		return map[string]any{"webPixel": nil, "userErrors": errs}, nil
	}
	px.Settings, px.Raw = settings, raw
	px.Updates++
	return map[string]any{"webPixel": pixelJSON(px), "userErrors": []any{}}, nil
}

func (p *pixelStore) delete(shop string, vars map[string]any) (any, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	px := p.pixels[shop]
	if px == nil || fmt.Sprint(vars["id"]) != px.ID {
		return map[string]any{"deletedWebPixelId": nil,
			"userErrors": []any{userErr([]string{"id"}, "NOT_FOUND", "Web pixel not found.")}}, nil
	}
	delete(p.pixels, shop)
	return map[string]any{"deletedWebPixelId": px.ID, "userErrors": []any{}}, nil
}
