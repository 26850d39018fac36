// Package webhook is the inbox: verified Shopify deliveries are recorded,
// deduplicated by (shop, X-Shopify-Webhook-Id), and dispatched to workers,
// where one handler per topic turns the payload into domain changes.
//
// Files are one per topic group (app_uninstalled.go, customers_redact.go,
// checkouts.go, …); each registers its handlers with a Registry.
package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"time"
)

// ErrPermanent marks a delivery that can never be processed (retrying would
// not help); wrap it with the reason.
var ErrPermanent = errors.New("webhook: permanent failure")

// Delivery is one recorded webhook, as a handler sees it.
type Delivery struct {
	ID          int64 // webhook_inbox.id
	ShopDomain  string
	Topic       string
	WebhookID   string
	EventID     string
	APIVersion  string
	TriggeredAt time.Time // X-Shopify-Triggered-At; order by this, never by arrival
	Payload     json.RawMessage
}

// Handler processes one delivery. It must be idempotent: asynq runs tasks at
// least once. Returning an error wrapping ErrPermanent marks the delivery
// failed without retry (a payload that can never be processed); any other
// error is retried.
type Handler func(ctx context.Context, d Delivery) error

// Registry maps topics to handlers. A topic with no handler is acknowledged
// and ignored.
type Registry struct {
	handlers map[string][]Handler
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{handlers: map[string][]Handler{}} }

// Handle adds a handler for a topic; several handlers of one topic run in
// the order they were added.
func (r *Registry) Handle(topic string, h Handler) { r.handlers[topic] = append(r.handlers[topic], h) }

// Handlers returns the handlers of a topic.
func (r *Registry) Handlers(topic string) []Handler { return r.handlers[topic] }

// Topics lists every topic with a handler, sorted.
func (r *Registry) Topics() []string {
	out := make([]string, 0, len(r.handlers))
	for t := range r.handlers {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// ComplianceTopics are the mandatory GDPR topics: they are recorded even for
// shops that are not (or no longer) installed.
var ComplianceTopics = map[string]bool{
	"customers/data_request": true,
	"customers/redact":       true,
	"shop/redact":            true,
}

// KnownTopics are every topic Relance subscribes to (DESIGN.md §4). A verified
// delivery of any other topic is answered 200 and not recorded.
var KnownTopics = map[string]bool{
	"checkouts/create": true, "checkouts/update": true, "checkouts/delete": true,
	"carts/create": true, "carts/update": true,
	"orders/create": true, "orders/paid": true, "orders/fulfilled": true, "orders/cancelled": true,
	"customers/create": true, "customers/update": true, "customers/delete": true,
	"customers_email_marketing_consent/update": true,
	"app/uninstalled":                          true, "app/scopes_update": true,
	"customers/data_request": true, "customers/redact": true, "shop/redact": true,
}
