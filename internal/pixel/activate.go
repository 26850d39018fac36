package pixel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"

	"gorm.io/gorm"

	"github.com/relance/relance/internal/shop"
	"github.com/relance/relance/internal/shopify"
)

// Web pixel activation. Shopify runs the app's web pixel extension
// (extensions/relance-pixel) on a shop only once the app has created a web
// pixel record there with webPixelCreate; its settings are the JSON of the
// extension's [settings]: {"accountID": shop domain, "appUrl": Relance's
// URL}. Ensure makes the shop's record exist with exactly those settings:
// it is called after every install and by a periodic re-check, so a pixel
// the merchant disconnected, or one still pointing at an old app URL, is
// put back.

// Admin runs GraphQL Admin API calls (*shopify.Client).
type Admin interface {
	Do(ctx context.Context, shop, query string, variables map[string]any, out any) error
}

// Activation is what Ensure did for one shop.
type Activation string

// Activation outcomes.
const (
	PixelUnchanged Activation = "unchanged"
	PixelCreated   Activation = "created"
	PixelUpdated   Activation = "updated"
)

// Activator creates and repairs the shops' web pixel records.
type Activator struct {
	Admin  Admin
	AppURL string   // base URL of Relance (SHOPIFY_APP_URL); events go to {AppURL}/pixel/events
	DB     *gorm.DB // the shops table, for EnsureAll
	Logger *slog.Logger
}

// NewActivator returns an activator whose pixels send to appURL.
func NewActivator(admin Admin, appURL string, db *gorm.DB) *Activator {
	return &Activator{Admin: admin, AppURL: strings.TrimRight(appURL, "/"), DB: db}
}

// Settings are the pixel settings for a shop.
func (a *Activator) Settings(domain string) map[string]string {
	return map[string]string{"accountID": domain, "appUrl": strings.TrimRight(a.AppURL, "/")}
}

const (
	webPixelQuery  = `query WebPixel { webPixel { id settings } }`
	webPixelCreate = `mutation webPixelCreate($webPixel: WebPixelInput!) {
  webPixelCreate(webPixel: $webPixel) { webPixel { id settings } userErrors { field code message } }
}`
	webPixelUpdate = `mutation webPixelUpdate($id: ID!, $webPixel: WebPixelInput!) {
  webPixelUpdate(id: $id, webPixel: $webPixel) { webPixel { id settings } userErrors { field code message } }
}`
)

type webPixel struct {
	ID       string          `json:"id"`
	Settings json.RawMessage `json:"settings"`
}

type pixelPayload struct {
	WebPixel   *webPixel           `json:"webPixel"`
	UserErrors []shopify.UserError `json:"userErrors"`
}

// Ensure makes shop's web pixel exist with the right settings. Shops that
// are not installed are left alone.
func (a *Activator) Ensure(ctx context.Context, s *shop.Shop) error {
	_, err := a.ensure(ctx, s)
	return err
}

func (a *Activator) ensure(ctx context.Context, s *shop.Shop) (Activation, error) {
	if s == nil || !s.Installed() {
		return PixelUnchanged, nil
	}
	want := a.Settings(s.Domain)
	current, err := a.current(ctx, s.Domain)
	if err != nil {
		return "", err
	}
	if current == nil {
		created, err := a.create(ctx, s.Domain, want)
		if err == nil {
			return PixelCreated, nil
		}
		if !created {
			return "", err
		}
		// TAKEN: made meanwhile (another replica, or a query that did not
		// see it); compare with what is there.
		if current, err = a.current(ctx, s.Domain); err != nil {
			return "", err
		}
		if current == nil {
			return "", fmt.Errorf("pixel: web pixel of %s: create says taken, query finds none", s.Domain)
		}
	}
	got, err := decodeSettings(current.Settings)
	if err == nil && maps.Equal(got, want) {
		return PixelUnchanged, nil
	}
	if err := a.update(ctx, s.Domain, current.ID, want); err != nil {
		return "", err
	}
	return PixelUpdated, nil
}

// current returns the app's web pixel on shop, nil when there is none.
// Shopify answers the webPixel query of a shop without one with a null
// field and a top-level "not found" error.
func (a *Activator) current(ctx context.Context, domain string) (*webPixel, error) {
	var out struct {
		WebPixel *webPixel `json:"webPixel"`
	}
	err := a.Admin.Do(ctx, domain, webPixelQuery, nil, &out)
	var gqlErr *shopify.GraphQLError
	if errors.As(err, &gqlErr) && out.WebPixel == nil && notFound(gqlErr) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pixel: web pixel of %s: %w", domain, err)
	}
	return out.WebPixel, nil
}

func notFound(e *shopify.GraphQLError) bool {
	if len(e.Messages) == 0 {
		return false
	}
	for i, m := range e.Messages {
		m = strings.ToLower(m)
		code := ""
		if i < len(e.Codes) {
			code = e.Codes[i]
		}
		if code != "RESOURCE_NOT_FOUND" && code != "NOT_FOUND" && !strings.Contains(m, "not found") && !strings.Contains(m, "no web pixel") {
			return false
		}
	}
	return true
}

// create reports taken=true (with an error) when Shopify says the pixel
// already exists.
func (a *Activator) create(ctx context.Context, domain string, settings map[string]string) (taken bool, err error) {
	var out struct {
		Create pixelPayload `json:"webPixelCreate"`
	}
	vars, err := pixelInput(settings)
	if err != nil {
		return false, err
	}
	if err := a.Admin.Do(ctx, domain, webPixelCreate, vars, &out); err != nil {
		return false, fmt.Errorf("pixel: webPixelCreate on %s: %w", domain, err)
	}
	if len(out.Create.UserErrors) > 0 {
		for _, e := range out.Create.UserErrors {
			if e.Code == "TAKEN" || strings.Contains(strings.ToLower(e.Message), "already") {
				return true, fmt.Errorf("pixel: webPixelCreate on %s: %w", domain, shopify.UserErrors(out.Create.UserErrors))
			}
		}
		return false, fmt.Errorf("pixel: webPixelCreate on %s: %w", domain, shopify.UserErrors(out.Create.UserErrors))
	}
	if out.Create.WebPixel == nil {
		return false, fmt.Errorf("pixel: webPixelCreate on %s: no web pixel returned", domain)
	}
	return false, nil
}

func (a *Activator) update(ctx context.Context, domain, id string, settings map[string]string) error {
	var out struct {
		Update pixelPayload `json:"webPixelUpdate"`
	}
	vars, err := pixelInput(settings)
	if err != nil {
		return err
	}
	vars["id"] = id
	if err := a.Admin.Do(ctx, domain, webPixelUpdate, vars, &out); err != nil {
		return fmt.Errorf("pixel: webPixelUpdate on %s: %w", domain, err)
	}
	if err := shopify.CheckUserErrors(out.Update.UserErrors); err != nil {
		return fmt.Errorf("pixel: webPixelUpdate on %s: %w", domain, err)
	}
	return nil
}

// pixelInput is the WebPixelInput variable: settings as a JSON string.
func pixelInput(settings map[string]string) (map[string]any, error) {
	b, err := json.Marshal(settings)
	if err != nil {
		return nil, fmt.Errorf("pixel: encoding settings: %w", err)
	}
	return map[string]any{"webPixel": map[string]any{"settings": string(b)}}, nil
}

// decodeSettings reads the settings JSON scalar, a JSON-encoded string or
// an object.
func decodeSettings(raw json.RawMessage) (map[string]string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		raw = json.RawMessage(s)
	}
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, err
	}
	out := make(map[string]string, len(obj))
	for k, v := range obj {
		str, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("setting %s is not a string", k)
		}
		out[k] = str
	}
	return out, nil
}

// EnsureResult counts what EnsureAll did.
type EnsureResult struct {
	Checked, Created, Updated, Failed int
}

// EnsureAll runs Ensure over every installed shop, pageSize shops at a
// time (by id, so shops installed meanwhile are still reached). A shop that
// fails is logged and counted; the others go on. It returns an error only
// when the shops cannot be read or ctx ends.
func (a *Activator) EnsureAll(ctx context.Context, pageSize int) (EnsureResult, error) {
	var res EnsureResult
	if pageSize <= 0 {
		pageSize = 100
	}
	log := a.Logger
	if log == nil {
		log = slog.Default()
	}
	var after int64
	for {
		var page []shop.Shop
		err := a.DB.WithContext(ctx).
			Where("id > ? AND uninstalled_at IS NULL AND access_token_enc IS NOT NULL", after).
			Order("id").Limit(pageSize).Find(&page).Error
		if err != nil {
			return res, fmt.Errorf("pixel: listing installed shops: %w", err)
		}
		for i := range page {
			if err := ctx.Err(); err != nil {
				return res, err
			}
			s := &page[i]
			after = s.ID
			res.Checked++
			what, err := a.ensure(ctx, s)
			switch {
			case err != nil:
				res.Failed++
				log.Warn("web pixel check failed", "shop", s.Domain, "err", err)
			case what == PixelCreated:
				res.Created++
				log.Info("web pixel re-activated", "shop", s.Domain)
			case what == PixelUpdated:
				res.Updated++
				log.Info("web pixel settings repaired", "shop", s.Domain)
			}
		}
		if len(page) < pageSize {
			return res, nil
		}
	}
}
