package shopify

import (
	"fmt"
	"net/http"
	"net/textproto"
	"strings"
	"time"
)

// WebhookHeaders are the delivery headers of a webhook (or Events) request.
type WebhookHeaders struct {
	Topic       string
	ShopDomain  string // lowercased, validated
	WebhookID   string // unique per delivery; retries repeat it (dedupe key)
	EventID     string // shared by the deliveries of one merchant action
	APIVersion  string
	HMAC        string
	TriggeredAt time.Time // zero when absent or unparsable
}

// maxHeaderValue bounds header values kept from a delivery.
const maxHeaderValue = 1024

// ParseWebhookHeaders reads the X-Shopify-* headers, or the un-prefixed
// shopify-* headers used by Events deliveries. It does not verify the HMAC.
func ParseWebhookHeaders(h http.Header) (WebhookHeaders, error) {
	w := WebhookHeaders{
		Topic:      webhookHeader(h, "Topic"),
		ShopDomain: webhookHeader(h, "Shop-Domain"),
		WebhookID:  webhookHeader(h, "Webhook-Id"),
		EventID:    webhookHeader(h, "Event-Id"),
		APIVersion: webhookHeader(h, "Api-Version"),
		HMAC:       webhookHeader(h, "Hmac-Sha256"),
	}
	if w.Topic == "" || w.WebhookID == "" || w.HMAC == "" || !ValidShopDomain(w.ShopDomain) {
		return WebhookHeaders{}, errMalformedHeaders
	}
	for _, v := range []string{w.Topic, w.WebhookID, w.EventID, w.APIVersion, w.HMAC} {
		if len(v) > maxHeaderValue {
			return WebhookHeaders{}, errMalformedHeaders
		}
	}
	w.ShopDomain = strings.ToLower(w.ShopDomain)
	// Triggered-At only orders deliveries; a format Shopify might change must
	// not make a verified delivery fail, so an unparsable value is dropped.
	if ts := webhookHeader(h, "Triggered-At"); ts != "" {
		if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
			w.TriggeredAt = t
		}
	}
	return w, nil
}

var errMalformedHeaders = fmt.Errorf("shopify: parsing webhook headers: %w", ErrMalformed)

// webhookHeader returns X-Shopify-{name}, else Shopify-{name}; it also scans
// non-canonical keys, for headers built by hand rather than by net/http.
func webhookHeader(h http.Header, name string) string {
	for _, key := range []string{"X-Shopify-" + name, "Shopify-" + name} {
		if v := strings.TrimSpace(h.Get(key)); v != "" {
			return v
		}
	}
	for k, vs := range h {
		ck := textproto.CanonicalMIMEHeaderKey(k)
		if (ck == textproto.CanonicalMIMEHeaderKey("X-Shopify-"+name) || ck == textproto.CanonicalMIMEHeaderKey("Shopify-"+name)) && len(vs) > 0 {
			if v := strings.TrimSpace(vs[0]); v != "" {
				return v
			}
		}
	}
	return ""
}
