package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/relance/relance/internal/flow"
	"github.com/relance/relance/internal/journey"
	"github.com/relance/relance/internal/pixel"
	"github.com/relance/relance/internal/platform/testenv"
	"github.com/relance/relance/internal/shop"
	"github.com/relance/relance/internal/shopify"
	"github.com/relance/relance/internal/webhook"
)

// fakeInstance verifies every delivery as the real ingest does (headers,
// HMAC, JSON) and records what it got.
type fakeInstance struct {
	mu       sync.Mutex
	topics   map[string]int
	ids      map[string]bool
	bad      []string
	bodies   map[string][]map[string]any // topic → payloads
	triggers map[string][]time.Time
	batches  []*pixel.Batch // POST /pixel/events, as the endpoint parses them
}

func newFakeInstance(t *testing.T, secret string) (*fakeInstance, *httptest.Server) {
	f := &fakeInstance{topics: map[string]int{}, ids: map[string]bool{}, bodies: map[string][]map[string]any{}, triggers: map[string][]time.Time{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		defer f.mu.Unlock()
		fail := func(why string) {
			f.bad = append(f.bad, why)
			http.Error(w, why, http.StatusUnauthorized)
		}
		if r.Method == http.MethodPost && r.URL.Path == "/pixel/events" {
			b, err := pixel.Parse(body, time.Now())
			if err != nil || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") {
				f.bad = append(f.bad, fmt.Sprintf("pixel batch: %v", err))
				http.Error(w, "bad batch", http.StatusBadRequest)
				return
			}
			f.batches = append(f.batches, b)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if r.Method != http.MethodPost || r.URL.Path != "/webhooks/shopify" {
			fail("route " + r.Method + " " + r.URL.Path)
			return
		}
		h, err := shopify.ParseWebhookHeaders(r.Header)
		if err != nil {
			fail("headers: " + err.Error())
			return
		}
		if err := (shopify.Secrets{Current: secret}).VerifyWebhook(body, h.HMAC); err != nil {
			fail("hmac")
			return
		}
		if h.ShopDomain != "sim-test.myshopify.com" || h.APIVersion != shopify.APIVersion || h.TriggeredAt.IsZero() || h.EventID == "" {
			fail("header values")
			return
		}
		if f.ids[h.WebhookID] {
			fail("duplicate webhook id " + h.WebhookID)
			return
		}
		f.ids[h.WebhookID] = true
		var p map[string]any
		if err := json.Unmarshal(body, &p); err != nil {
			fail("json")
			return
		}
		f.topics[h.Topic]++
		f.bodies[h.Topic] = append(f.bodies[h.Topic], p)
		f.triggers[h.Topic] = append(f.triggers[h.Topic], h.TriggeredAt)
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	return f, srv
}

func TestSimulateSendsSignedRealisticTraffic(t *testing.T) {
	const secret = "sim-secret"
	f, srv := newFakeInstance(t, secret)
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	var progress bytes.Buffer
	sum, err := simulate(context.Background(), simOptions{URL: srv.URL + "/", Secret: secret, Shop: "sim-test.myshopify.com",
		Shoppers: 60, Seed: 42, Concurrency: 8, Run: "abc123", Now: func() time.Time { return now }}, &progress)
	require.NoError(t, err)
	require.Empty(t, f.bad)

	// What the summary says was sent is what the instance verified.
	require.Equal(t, f.topics, sum.Sent)
	total := 0
	for topic, n := range sum.Sent {
		require.Equal(t, map[int]int{200: n}, sum.Statuses[topic], topic)
		total += n
	}
	require.Equal(t, total, len(f.ids), "a unique webhook id per delivery")
	require.Zero(t, sum.Errors)

	// Every shopper has a cart; paths add up.
	require.Equal(t, 60, sum.Paths[pathBought]+sum.Paths[pathAbandonedCheckout]+sum.Paths[pathAbandonedCart])
	require.Equal(t, 60, f.topics["carts/create"])
	require.Equal(t, sum.Paths[pathBought]+sum.Paths[pathAbandonedCheckout], f.topics["checkouts/create"])
	require.Equal(t, f.topics["checkouts/create"], f.topics["checkouts/update"])
	require.Equal(t, sum.Paths["subscribed"], f.topics["customers_email_marketing_consent/update"])
	require.Equal(t, sum.Paths[pathBought]+sum.Paths["returning (order weeks ago)"], f.topics["orders/create"])
	require.Positive(t, sum.Paths[pathBought])
	require.Positive(t, sum.Paths[pathAbandonedCheckout])
	require.Positive(t, sum.Paths[pathAbandonedCart])
	require.Positive(t, sum.Paths["returning (order weeks ago)"])

	// Checkout updates carry the email; orders of this visit name the
	// checkout and cart they complete; past orders are dated weeks ago.
	checkouts := map[string]bool{}
	for _, c := range f.bodies["checkouts/update"] {
		require.Contains(t, c["email"], "@example.com")
		require.NotEmpty(t, c["line_items"])
		checkouts[c["token"].(string)] = true
	}
	past := 0
	for i, o := range f.bodies["orders/create"] {
		created, err := time.Parse(time.RFC3339, o["created_at"].(string))
		require.NoError(t, err)
		require.True(t, created.Equal(f.triggers["orders/create"][i].Truncate(time.Millisecond)), "triggered when created")
		if tok, ok := o["checkout_token"].(string); ok {
			require.True(t, checkouts[tok], "order completes a checkout that was sent")
			require.Equal(t, now, created)
		} else {
			past++
			require.True(t, created.Before(now.Add(-13*24*time.Hour)) && created.After(now.Add(-57*24*time.Hour)), created)
		}
	}
	require.Equal(t, sum.Paths["returning (order weeks ago)"], past)
	consent := f.bodies["customers_email_marketing_consent/update"][0]["email_marketing_consent"].(map[string]any)
	require.Equal(t, "subscribed", consent["state"])

	// The same seed gives the same paths; the run tag keeps ids apart.
	f2, srv2 := newFakeInstance(t, secret)
	sum2, err := simulate(context.Background(), simOptions{URL: srv2.URL, Secret: secret, Shop: "sim-test.myshopify.com",
		Shoppers: 60, Seed: 42, Concurrency: 3, Run: "def456", Now: func() time.Time { return now }}, nil)
	require.NoError(t, err)
	require.Equal(t, sum.Paths, sum2.Paths)
	require.Equal(t, f.topics, f2.topics)
	require.NotEqual(t, f.bodies["orders/create"][0]["id"], f2.bodies["orders/create"][0]["id"])

	// Progress ends with the full bar; the summary names every topic.
	require.Contains(t, progress.String(), "60/60 shoppers")
	var out bytes.Buffer
	sum.print(&out)
	for topic := range f.topics {
		require.Contains(t, out.String(), topic)
	}
	require.Contains(t, out.String(), "pixel batches sent")

	// Pixel batches follow the contract: every shopper browses and adds
	// each cart change with the cart token of its carts/* webhooks; those
	// with an account log in with their customer id.
	require.Equal(t, len(f.batches), sum.PixelBatches)
	require.Equal(t, map[int]int{204: len(f.batches)}, sum.PixelStatuses)
	cartTokens := map[string]bool{}
	for _, c := range f.bodies["carts/create"] {
		cartTokens[c["token"].(string)] = true
	}
	clients := map[string]bool{}
	names := map[string]int{}
	logins := 0
	for _, b := range f.batches {
		require.Equal(t, "sim-test.myshopify.com", b.Shop)
		clients[b.ClientID] = true
		for _, e := range b.Events {
			names[e.Name]++
			switch e.Name {
			case pixel.ProductViewed:
				require.NotEmpty(t, e.Data.ProductID)
				require.True(t, strings.HasPrefix(e.Data.URL, "/products/"))
			case pixel.ProductAddedToCart:
				require.True(t, cartTokens[e.Data.CartToken], "the cart token of a carts/create webhook")
				require.NotEmpty(t, e.Data.VariantID)
				require.Positive(t, e.Data.Quantity)
			}
		}
		if b.CustomerID != 0 {
			logins++
		}
	}
	require.Equal(t, sum.PixelEvents, names)
	require.Len(t, clients, 60, "one storefront client per shopper")
	require.Equal(t, f.topics["carts/create"]+f.topics["carts/update"], names[pixel.ProductAddedToCart])
	require.GreaterOrEqual(t, names[pixel.ProductViewed], 60)
	require.Equal(t, sum.Paths[pathLoggedIn], logins)
	require.Positive(t, sum.Paths[pathCartIdentified])
	require.Equal(t, sum.Paths[pathAbandonedCart], sum.Paths[pathCartIdentified]+sum.Paths[pathCartAnonymous])
}

func TestSimulateCountsRejections(t *testing.T) {
	f, srv := newFakeInstance(t, "the-real-secret")
	sum, err := simulate(context.Background(), simOptions{URL: srv.URL, Secret: "wrong", Shop: "sim-test.myshopify.com",
		Shoppers: 3, Seed: 1, Concurrency: 2, Think: time.Millisecond}, nil)
	require.NoError(t, err)
	require.NotEmpty(t, f.bad)
	for topic, n := range sum.Sent {
		require.Equal(t, map[int]int{401: n}, sum.Statuses[topic])
	}
	var out bytes.Buffer
	sum.print(&out)
	require.Contains(t, out.String(), "401×")

	// Nothing listening: transport errors are counted, not fatal.
	srv.Close()
	sum, err = simulate(context.Background(), simOptions{URL: srv.URL, Secret: "x", Shop: "sim-test.myshopify.com", Shoppers: 2, Seed: 1}, nil)
	require.NoError(t, err)
	require.Positive(t, sum.Errors)
}

func TestSimulateFlags(t *testing.T) {
	err := run(context.Background(), []string{"simulate", "-shop", "evil.com"}, func(string) string { return "" })
	var ue usageError
	require.ErrorAs(t, err, &ue)
	require.True(t, strings.Contains(err.Error(), "-shop"))
	require.ErrorAs(t, run(context.Background(), []string{"simulate", "-nope"}, func(string) string { return "" }), &ue)
}

// The payloads go through the real topic handlers and the real engine: the
// shoppers' paths end up as the enrollments a storefront's would.
func TestSimulateDrivesTheEngine(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.DB(t)
	eng := journey.New(journey.Options{DB: db, Queue: discardQueue{}, Sender: discardSender{}, Logger: slog.New(slog.DiscardHandler)})
	shops, err := shop.NewStore(db, make([]byte, 32))
	require.NoError(t, err)
	var shopID int64
	require.NoError(t, db.Raw(`INSERT INTO shops (domain, timezone) VALUES ('sim-engine.myshopify.com', 'Europe/Paris') RETURNING id`).Scan(&shopID).Error)
	require.NoError(t, eng.Flows().EnsureDefaults(ctx, shopID))
	for _, k := range flow.Keys {
		require.NoError(t, eng.Flows().SetEnabled(ctx, shopID, k, true))
	}
	reg := webhook.NewRegistry()
	webhook.RegisterCheckouts(reg, shops, eng.Contacts(), eng)
	webhook.RegisterCarts(reg, shops, eng.Contacts(), eng)
	webhook.RegisterOrders(reg, shops, eng.Contacts(), eng)
	webhook.RegisterCustomers(reg, shops, eng.Contacts(), eng, nil)
	pixel.NewProcessor(db, shops, eng.Contacts(), eng, nil).Register(reg)

	var mu sync.Mutex
	var failures []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var d webhook.Delivery
		var err error
		if r.URL.Path == "/pixel/events" {
			// What the endpoint stores, handled by the pixel processor.
			var b *pixel.Batch
			if b, err = pixel.Parse(body, time.Now()); err == nil {
				d = webhook.Delivery{ShopDomain: b.Shop, Topic: pixel.Topic, WebhookID: "px", TriggeredAt: time.Now()}
				d.Payload, err = json.Marshal(b)
			}
		} else {
			var h shopify.WebhookHeaders
			h, err = shopify.ParseWebhookHeaders(r.Header)
			if err == nil {
				err = (shopify.Secrets{Current: "s"}).VerifyWebhook(body, h.HMAC)
			}
			if err == nil {
				d = webhook.Delivery{ShopDomain: h.ShopDomain, Topic: h.Topic, WebhookID: h.WebhookID, TriggeredAt: h.TriggeredAt, Payload: body}
			}
		}
		if err == nil {
			for _, handle := range reg.Handlers(d.Topic) {
				if err = handle(r.Context(), d); err != nil {
					break
				}
			}
		}
		if err != nil {
			mu.Lock()
			failures = append(failures, err.Error())
			mu.Unlock()
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	}))
	t.Cleanup(srv.Close)

	sum, err := simulate(ctx, simOptions{URL: srv.URL, Secret: "s", Shop: "sim-engine.myshopify.com", Shoppers: 30, Seed: 7, Concurrency: 4,
		Run: "e2e"}, nil)
	require.NoError(t, err)
	require.Empty(t, failures)

	var rows []struct {
		FlowKey string
		Status  string
		Reason  string
		N       int
	}
	require.NoError(t, db.Raw(`SELECT flow_key, status, exit_reason AS reason, count(*) AS n FROM enrollments GROUP BY 1, 2, 3`).Scan(&rows).Error)
	got := map[string]int{}
	for _, r := range rows {
		got[r.FlowKey+":"+r.Status+":"+r.Reason] = r.N
	}
	t.Log(got)
	require.Equal(t, sum.Paths[pathAbandonedCheckout], got["checkout_abandonment:active:"], "each abandoned checkout is being reminded")
	require.Equal(t, sum.Paths[pathBought], got["checkout_abandonment:exited:purchased"], "each buyer's checkout reminders stopped")
	require.Positive(t, got["post_purchase:active:"])
	// Cart-only shoppers who logged in on the storefront: the pixel tied
	// their anonymous cart to them, and the cart reminder runs.
	require.Positive(t, sum.Paths[pathCartIdentified])
	require.Equal(t, sum.Paths[pathCartIdentified], got["cart_abandonment:active:"], "each identified abandoned cart is being reminded")
	require.Positive(t, got["browse_abandonment:exited:moved_up"], "logged-in browsing started browse abandonment, superseded by the cart")
	require.Equal(t, sum.Paths["subscribed"], got["welcome:active:"]+got["welcome:exited:purchased"])
	// Known shoppers: subscribed, reached checkout with an email, or
	// ordered weeks ago; a cart-only visitor stays anonymous (no pixel).
	o := simOptions{Shoppers: 30, Seed: 7, Run: "e2e", EmailDomain: "example.com"}
	rng := mrand.New(mrand.NewPCG(o.Seed, 0x5eed))
	known := 0
	for i := range o.Shoppers {
		if sh := newShopper(rng, o, i); sh.Subscribes || sh.Checkout || sh.Returning {
			known++
		}
	}
	var contacts int64
	require.NoError(t, db.Raw(`SELECT count(*) FROM contacts WHERE shop_id = ?`, shopID).Scan(&contacts).Error)
	require.Equal(t, int64(known), contacts)
	require.Less(t, known, 30)
}

type discardQueue struct{}

func (discardQueue) EnqueueContext(context.Context, *asynq.Task, ...asynq.Option) (*asynq.TaskInfo, error) {
	return &asynq.TaskInfo{}, nil
}

type discardSender struct{}

func (discardSender) Send(context.Context, journey.Message) error { return nil }
