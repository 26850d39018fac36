package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/relance/relance/internal/shopify"
)

// `relance simulate` drives a running instance as a storefront's traffic
// would: for each simulated shopper it posts signed Shopify webhooks along a
// realistic path (subscribe, cart, checkout, buy or abandon; some are
// returning customers with an order from weeks ago), and the web pixel's
// event batches to POST /pixel/events (docs/pixel-contract.md): products
// viewed, each add to cart with the cart token of the carts/* webhooks, and
// for shoppers with an account a login (customer_id), which ties the
// anonymous browsing and cart to their contact, so a cart abandoned before
// checkout gets its reminder. It installs nothing: the shop must already be
// installed on the target (the dev shop of `relance dev` is, by default).

type simOptions struct {
	URL         string // base URL of the instance
	Secret      string // SHOPIFY_API_SECRET of the instance
	Shop        string
	Shoppers    int
	Seed        uint64
	Concurrency int
	Think       time.Duration // pause between two actions of one shopper
	Timeout     time.Duration // per request
	EmailDomain string
	Run         string // tag that makes this run's shoppers, orders and carts unique
	Now         func() time.Time
	HTTP        *http.Client
}

// simSummary is what a run sent and how the instance answered.
type simSummary struct {
	Run      string
	Sent     map[string]int         // topic → webhooks sent
	Statuses map[string]map[int]int // topic → HTTP status → count (0: transport error)
	Errors   int                    // transport errors
	Paths    map[string]int         // shopper outcome → shoppers
	Shoppers int

	PixelBatches  int            // POST /pixel/events requests
	PixelEvents   map[string]int // event name → events sent
	PixelStatuses map[int]int    // HTTP status → batches (0: transport error)
}

func runSimulate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	o := simOptions{}
	fs.StringVar(&o.URL, "url", "http://localhost:8080", "base URL of the running Relance instance")
	fs.StringVar(&o.Secret, "secret", devAPISecret, "its SHOPIFY_API_SECRET (webhooks are signed with it)")
	fs.StringVar(&o.Shop, "shop", devShop, "installed shop the traffic comes from")
	fs.IntVar(&o.Shoppers, "shoppers", 20, "number of shoppers")
	seed := fs.Int64("seed", 0, "seed of the shoppers' paths (0: random); the same seed gives the same paths")
	fs.IntVar(&o.Concurrency, "concurrency", 4, "shoppers active at once")
	fs.DurationVar(&o.Think, "think", 150*time.Millisecond, "pause between two actions of a shopper")
	fs.DurationVar(&o.Timeout, "timeout", 10*time.Second, "per-request timeout")
	fs.StringVar(&o.EmailDomain, "email-domain", "example.com", "domain of the shoppers' email addresses")
	fs.StringVar(&o.Run, "run", "", "tag that makes emails, customer, cart and order ids unique to this run (default: random)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageError("relance simulate: " + err.Error())
	}
	if *seed != 0 {
		o.Seed = uint64(*seed)
	}
	sum, err := simulate(ctx, o, os.Stderr)
	if sum != nil {
		sum.print(os.Stdout)
	}
	return err
}

func (o *simOptions) defaults() error {
	if o.Shoppers < 0 {
		return usageError("relance simulate: -shoppers must be ≥ 0")
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 1
	}
	if o.Secret == "" {
		return usageError("relance simulate: -secret is required")
	}
	if !shopify.ValidShopDomain(o.Shop) {
		return usageError("relance simulate: -shop must be a *.myshopify.com domain")
	}
	if o.Seed == 0 {
		o.Seed = mrand.Uint64()
	}
	if o.Run == "" {
		o.Run = randomHex(3)
	}
	if o.EmailDomain == "" {
		o.EmailDomain = "example.com"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.HTTP == nil {
		o.HTTP = &http.Client{Timeout: o.Timeout}
	}
	o.URL = strings.TrimRight(o.URL, "/")
	return nil
}

// simulate runs every shopper's path against o.URL and returns what was
// sent. Progress goes to progress as a single \r-rewritten line.
func simulate(ctx context.Context, o simOptions, progress io.Writer) (*simSummary, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	s := &simulator{o: o, sum: &simSummary{Run: o.Run, Sent: map[string]int{}, Statuses: map[string]map[int]int{}, Paths: map[string]int{},
		Shoppers: o.Shoppers, PixelEvents: map[string]int{}, PixelStatuses: map[int]int{}}}
	rng := mrand.New(mrand.NewPCG(o.Seed, 0x5eed))
	shoppers := make([]*shopper, o.Shoppers)
	for i := range shoppers {
		shoppers[i] = newShopper(rng, o, i)
	}

	stop := make(chan struct{})
	var progressDone sync.WaitGroup
	if progress != nil {
		progressDone.Go(func() {
			t := time.NewTicker(200 * time.Millisecond)
			defer t.Stop()
			for {
				s.drawProgress(progress, false)
				select {
				case <-stop:
					s.drawProgress(progress, true)
					return
				case <-t.C:
				}
			}
		})
	}

	jobs := make(chan *shopper)
	var wg sync.WaitGroup
	for range min(o.Concurrency, max(o.Shoppers, 1)) {
		wg.Go(func() {
			for sh := range jobs {
				s.walk(ctx, sh)
				s.done.Add(1)
			}
		})
	}
feed:
	for _, sh := range shoppers {
		select {
		case jobs <- sh:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	close(stop)
	progressDone.Wait()
	return s.sum, ctx.Err()
}

type simulator struct {
	o       simOptions
	mu      sync.Mutex
	sum     *simSummary
	done    atomic.Int64
	sent    atomic.Int64
	batches atomic.Int64 // pixel batches
	bad     atomic.Int64 // non-2xx or transport errors
}

func (s *simulator) drawProgress(w io.Writer, final bool) {
	total := s.o.Shoppers
	done := int(s.done.Load())
	const width = 30
	filled := width
	if total > 0 {
		filled = width * done / total
	}
	bar := strings.Repeat("=", filled) + strings.Repeat(" ", width-filled)
	fmt.Fprintf(w, "\rsimulate [%s] %d/%d shoppers, %d webhooks, %d pixel batches, %d failed", bar, done, total, s.sent.Load(),
		s.batches.Load(), s.bad.Load())
	if final {
		fmt.Fprintln(w)
	}
}

// product is one item of the simulated catalog.
type product struct {
	ID, VariantID int64
	Title         string
	Variant       string
	Price         string
}

var catalog = []product{
	{632910392, 808950810, "IPod Nano - 8GB", "Pink", "199.00"},
	{788032119674292900, 704912205188288500, "Example T-Shirt", "Small", "19.99"},
	{921728736, 457924702, "Linen Shirt", "Blue / M", "59.00"},
	{1071559582, 1070325044, "Organic Face Cream", "50 ml", "32.50"},
	{1071559583, 1070325045, "Coffee Beans", "1 kg", "24.90"},
	{1071559584, 1070325046, "Leather Wallet", "Brown", "89.00"},
}

type cartLine struct {
	product
	Quantity int
}

// Shopper outcomes, as the summary counts them.
const (
	pathBought            = "bought"
	pathAbandonedCheckout = "abandoned checkout"
	pathAbandonedCart     = "abandoned cart"
	pathLoggedIn          = "logged in (pixel customer_id)"
	pathCartIdentified    = "abandoned cart, known by login"
	pathCartAnonymous     = "abandoned cart, anonymous"
)

// shopper is one simulated visitor and the path drawn for them.
type shopper struct {
	Index      int
	Email      string
	First      string
	Last       string
	CustomerID int64
	Subscribes bool
	Returning  bool // has an order from weeks ago
	PastDays   int  // how long ago that order was
	Carts      [][]cartLine
	CartToken  string
	Checkout   bool
	EmailFirst bool // the checkout has the email from checkouts/create (logged in)
	CheckoutID int64
	Token      string
	Buys       bool
	OrderID    int64
	PastOrder  int64

	// The web pixel's view of the visit.
	ClientID string     // the storefront's client id
	Views    []product  // viewed before the first add to cart
	Adds     []cartLine // what each cart change added (Quantity: units added)
	LogsIn   bool       // has an account and logs in after filling the cart
	events   int        // pixel event ids used
}

var firstNames = []string{"Alice", "Bruno", "Chloé", "David", "Emma", "Farid", "Giulia", "Hugo", "Inès", "Jonas", "Kenji", "Léa"}
var lastNames = []string{"Martin", "Bernard", "Dubois", "Moreau", "Laurent", "Simon", "Michel", "Garcia", "Roux", "Fournier"}

func newShopper(rng *mrand.Rand, o simOptions, i int) *shopper {
	// Ids are unique per run and shopper; the seed only decides the path.
	h := fnv.New32a()
	h.Write([]byte(o.Run))
	base := int64(7_000_000_000_000 + uint64(h.Sum32()%1_000_000)*1_000_000 + uint64(i%100_000)*10)
	sh := &shopper{
		Index: i, First: firstNames[rng.IntN(len(firstNames))], Last: lastNames[rng.IntN(len(lastNames))],
		CustomerID: base + 1, CheckoutID: base + 2, OrderID: base + 3, PastOrder: base + 4,
		Subscribes: rng.Float64() < 0.5, Returning: rng.Float64() < 0.25,
	}
	sh.Email = fmt.Sprintf("%s.%s+%s-%d@%s", strings.ToLower(asciiName(sh.First)), strings.ToLower(sh.Last), o.Run, i, o.EmailDomain)
	sh.PastDays = 14 + rng.IntN(43) // 2 to 8 weeks ago
	sh.CartToken = fmt.Sprintf("sim%s%05dcart%s", o.Run, i, hexOf(rng, 8))
	sh.Token = fmt.Sprintf("sim%s%05dco%s", o.Run, i, hexOf(rng, 8))
	// One to three cart changes, each adding a line or a unit.
	var lines []cartLine
	for range 1 + rng.IntN(3) {
		if len(lines) > 0 && rng.Float64() < 0.3 {
			lines = append([]cartLine(nil), lines...)
			k := rng.IntN(len(lines))
			lines[k].Quantity++
			sh.Adds = append(sh.Adds, cartLine{product: lines[k].product, Quantity: 1})
		} else {
			lines = append(append([]cartLine(nil), lines...), cartLine{product: catalog[rng.IntN(len(catalog))], Quantity: 1})
			sh.Adds = append(sh.Adds, lines[len(lines)-1])
		}
		sh.Carts = append(sh.Carts, lines)
	}
	sh.Checkout = rng.Float64() < 0.7
	sh.EmailFirst = sh.Returning || rng.Float64() < 0.3
	sh.Buys = sh.Checkout && rng.Float64() < 0.4
	// Drawn last, so a seed gives the same webhook paths as before the
	// pixel was simulated.
	sh.ClientID = fmt.Sprintf("sim%s%05dcl%s", o.Run, i, hexOf(rng, 8))
	for range 1 + rng.IntN(3) {
		sh.Views = append(sh.Views, catalog[rng.IntN(len(catalog))])
	}
	// Shoppers Shopify knows (an order, or a subscription with their
	// customer id) mostly browse logged in.
	sh.LogsIn = (sh.Returning || sh.Subscribes) && rng.Float64() < 0.8
	return sh
}

func asciiName(s string) string {
	r := strings.NewReplacer("é", "e", "è", "e", "ï", "i")
	return r.Replace(s)
}

func hexOf(rng *mrand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.UintN(256))
	}
	return hex.EncodeToString(b)
}

func (sh *shopper) path() string {
	switch {
	case sh.Buys:
		return pathBought
	case sh.Checkout:
		return pathAbandonedCheckout
	}
	return pathAbandonedCart
}

// walk sends one shopper's webhooks in order, pausing between actions.
func (s *simulator) walk(ctx context.Context, sh *shopper) {
	step := func(topic string, body any, at time.Time) bool {
		if ctx.Err() != nil {
			return false
		}
		s.post(ctx, topic, body, at)
		if s.o.Think > 0 {
			select {
			case <-ctx.Done():
				return false
			case <-time.After(s.o.Think):
			}
		}
		return true
	}
	now := s.o.Now
	if sh.Returning {
		// A customer who bought weeks ago comes back: that first order was
		// created (and its webhook triggered) back then.
		at := now().Add(-time.Duration(sh.PastDays) * 24 * time.Hour).UTC()
		past := sh.order(sh.PastOrder, sh.Carts[0], at, "", "")
		if !step("orders/create", past, at) {
			return
		}
	}
	if sh.Subscribes {
		at := now().UTC()
		if !step("customers_email_marketing_consent/update", map[string]any{
			"customer_id": sh.CustomerID, "email_address": sh.Email,
			"email_marketing_consent": map[string]any{"state": "subscribed", "opt_in_level": "single_opt_in", "consent_updated_at": rfc3339(at)},
		}, at) {
			return
		}
	}
	pixel := func(customer bool, events ...map[string]any) bool {
		if ctx.Err() != nil {
			return false
		}
		s.postPixel(ctx, sh.batch(s.o.Shop, customer, events))
		return true
	}
	// Anonymous browsing, then each add to cart (the pixel event, then
	// Shopify's carts/* webhook with the same cart token).
	views := make([]map[string]any, 0, len(sh.Views))
	for _, p := range sh.Views {
		views = append(views, sh.viewed(p, now()))
	}
	if !pixel(false, views...) {
		return
	}
	for i, lines := range sh.Carts {
		if !pixel(false, sh.added(sh.Adds[i], now())) {
			return
		}
		topic := "carts/update"
		if i == 0 {
			topic = "carts/create"
		}
		at := now().UTC()
		if !step(topic, sh.cart(lines, at), at) {
			return
		}
	}
	if sh.LogsIn {
		// Logged in: the pixel's batches carry the customer id from now on.
		if !pixel(true, sh.collectionViewed(now())) {
			return
		}
	}
	lines := sh.Carts[len(sh.Carts)-1]
	if sh.Checkout {
		at := now().UTC()
		if !step("checkouts/create", sh.checkout(lines, at, sh.EmailFirst), at) {
			return
		}
		at = now().UTC()
		if !step("checkouts/update", sh.checkout(lines, at, true), at) {
			return
		}
	}
	if sh.Buys {
		at := now().UTC()
		if !step("orders/create", sh.order(sh.OrderID, lines, at, sh.Token, sh.CartToken), at) {
			return
		}
	}
	s.mu.Lock()
	s.sum.Paths[sh.path()]++
	if sh.LogsIn {
		s.sum.Paths[pathLoggedIn]++
	}
	if sh.path() == pathAbandonedCart {
		if sh.LogsIn {
			s.sum.Paths[pathCartIdentified]++
		} else {
			s.sum.Paths[pathCartAnonymous]++
		}
	}
	if sh.Subscribes {
		s.sum.Paths["subscribed"]++
	}
	if sh.Returning {
		s.sum.Paths["returning (order weeks ago)"]++
	}
	s.mu.Unlock()
}

func rfc3339(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

func linesTotal(lines []cartLine) string {
	cents := 0
	for _, l := range lines {
		cents += priceCents(l.Price) * l.Quantity
	}
	return fmt.Sprintf("%d.%02d", cents/100, cents%100)
}

func priceCents(p string) int {
	whole, frac, _ := strings.Cut(p, ".")
	w, _ := strconv.Atoi(whole)
	f, _ := strconv.Atoi((frac + "00")[:2])
	return w*100 + f
}

// cart is a carts/create|update payload (shape of the documented sample).
func (sh *shopper) cart(lines []cartLine, at time.Time) map[string]any {
	items := make([]map[string]any, 0, len(lines))
	for _, l := range lines {
		items = append(items, map[string]any{
			"id": l.VariantID, "variant_id": l.VariantID, "product_id": l.ID, "quantity": l.Quantity, "title": l.Title,
			"variant_title": l.Variant, "price": l.Price, "line_price": fmt.Sprintf("%.2f", float64(priceCents(l.Price)*l.Quantity)/100),
			"key": fmt.Sprintf("%d:%s", l.VariantID, sh.CartToken[:8]),
		})
	}
	return map[string]any{"id": sh.CartToken, "token": sh.CartToken, "line_items": items, "note": nil,
		"created_at": rfc3339(at), "updated_at": rfc3339(at)}
}

func (sh *shopper) customer() map[string]any {
	return map[string]any{"id": sh.CustomerID, "email": sh.Email, "first_name": sh.First, "last_name": sh.Last, "locale": "en"}
}

func checkoutLines(lines []cartLine) []map[string]any {
	items := make([]map[string]any, 0, len(lines))
	for _, l := range lines {
		items = append(items, map[string]any{"product_id": l.ID, "variant_id": l.VariantID, "quantity": l.Quantity, "title": l.Title,
			"variant_title": l.Variant, "price": l.Price})
	}
	return items
}

// checkout is a checkouts/create|update payload; the email is there once
// the shopper typed it (or from the start when logged in).
func (sh *shopper) checkout(lines []cartLine, at time.Time, withEmail bool) map[string]any {
	p := map[string]any{
		"id": sh.CheckoutID, "token": sh.Token, "cart_token": sh.CartToken, "email": nil, "buyer_accepts_marketing": sh.Subscribes,
		"created_at": rfc3339(at), "updated_at": rfc3339(at), "completed_at": nil, "currency": "EUR", "presentment_currency": "EUR",
		"customer_locale": "en", "total_price": linesTotal(lines), "line_items": checkoutLines(lines),
		"abandoned_checkout_url": fmt.Sprintf("https://checkout.local/checkouts/%s/recover?key=sim", sh.Token),
	}
	if withEmail {
		p["email"] = sh.Email
		if sh.Returning || sh.Subscribes {
			p["customer"] = sh.customer()
		}
	}
	return p
}

// order is an orders/create payload.
func (sh *shopper) order(id int64, lines []cartLine, at time.Time, checkoutToken, cartToken string) map[string]any {
	p := map[string]any{
		"id": id, "email": sh.Email, "contact_email": sh.Email, "buyer_accepts_marketing": sh.Subscribes,
		"created_at": rfc3339(at), "processed_at": rfc3339(at), "updated_at": rfc3339(at), "cancelled_at": nil,
		"currency": "EUR", "total_price": linesTotal(lines), "customer_locale": "en", "fulfillment_status": nil,
		"line_items": checkoutLines(lines), "customer": sh.customer(), "name": fmt.Sprintf("#%d", id%100000),
	}
	if checkoutToken != "" {
		p["checkout_token"] = checkoutToken
	}
	if cartToken != "" {
		p["cart_token"] = cartToken
	}
	return p
}

// post sends one signed delivery, as Shopify does, with a fresh webhook id.
func (s *simulator) post(ctx context.Context, topic string, payload any, triggeredAt time.Time) {
	body, err := json.Marshal(payload)
	status := 0
	if err == nil {
		status, err = s.send(ctx, topic, body, triggeredAt)
	}
	s.sent.Add(1)
	if err != nil || status < 200 || status > 299 {
		s.bad.Add(1)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sum.Sent[topic]++
	if s.sum.Statuses[topic] == nil {
		s.sum.Statuses[topic] = map[int]int{}
	}
	s.sum.Statuses[topic][status]++
	if err != nil {
		s.sum.Errors++
	}
}

func (s *simulator) send(ctx context.Context, topic string, body []byte, triggeredAt time.Time) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.o.URL+"/webhooks/shopify", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "Shopify-Captain-Hook (relance simulate)")
	h.Set("X-Shopify-Topic", topic)
	h.Set("X-Shopify-Shop-Domain", s.o.Shop)
	h.Set("X-Shopify-Api-Version", shopify.APIVersion)
	h.Set("X-Shopify-Webhook-Id", uuid())
	h.Set("X-Shopify-Event-Id", uuid())
	h.Set("X-Shopify-Triggered-At", triggeredAt.UTC().Format(time.RFC3339Nano))
	h.Set("X-Shopify-Hmac-Sha256", shopify.SignWebhook(s.o.Secret, body))
	resp, err := s.o.HTTP.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, nil
}

func uuid() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	x := hex.EncodeToString(b[:])
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// print writes the summary: webhooks by topic with the statuses received,
// and the shoppers' paths.
func (sum *simSummary) print(w io.Writer) {
	fmt.Fprintf(w, "run %s: %d shoppers\n\nwebhooks sent\n", sum.Run, sum.Shoppers)
	topics := make([]string, 0, len(sum.Sent))
	total := 0
	for t, n := range sum.Sent {
		topics = append(topics, t)
		total += n
	}
	sort.Strings(topics)
	for _, t := range topics {
		var st []string
		codes := make([]int, 0, len(sum.Statuses[t]))
		for c := range sum.Statuses[t] {
			codes = append(codes, c)
		}
		sort.Ints(codes)
		for _, c := range codes {
			label := strconv.Itoa(c)
			if c == 0 {
				label = "error"
			}
			st = append(st, fmt.Sprintf("%s×%d", label, sum.Statuses[t][c]))
		}
		fmt.Fprintf(w, "  %-42s %5d   %s\n", t, sum.Sent[t], strings.Join(st, " "))
	}
	fmt.Fprintf(w, "  %-42s %5d\n", "total", total)
	if sum.Errors > 0 {
		fmt.Fprintf(w, "  transport errors: %d\n", sum.Errors)
	}
	fmt.Fprintf(w, "\nshoppers\n")
	fmt.Fprintf(w, "\npixel batches sent (POST /pixel/events)\n")
	names := make([]string, 0, len(sum.PixelEvents))
	for n := range sum.PixelEvents {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-42s %5d events\n", n, sum.PixelEvents[n])
	}
	fmt.Fprintf(w, "  %-42s %5d   %s\n", "batches", sum.PixelBatches, statusList(sum.PixelStatuses))
	fmt.Fprintf(w, "\nshoppers\n")
	for _, p := range []string{pathBought, pathAbandonedCheckout, pathAbandonedCart, "  " + pathCartIdentified, "  " + pathCartAnonymous,
		pathLoggedIn, "subscribed", "returning (order weeks ago)"} {
		fmt.Fprintf(w, "  %-46s %5d\n", p, sum.Paths[strings.TrimSpace(p)])
	}
	fmt.Fprintln(w, "\nan abandoned cart is reminded only when its shopper is known: logged in on the storefront, or")
	fmt.Fprintln(w, "identified otherwise; an anonymous cart-only visitor gets no email")
}

func statusList(m map[int]int) string {
	codes := make([]int, 0, len(m))
	for c := range m {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	var st []string
	for _, c := range codes {
		label := strconv.Itoa(c)
		if c == 0 {
			label = "error"
		}
		st = append(st, fmt.Sprintf("%s×%d", label, m[c]))
	}
	return strings.Join(st, " ")
}

// Web pixel batches (docs/pixel-contract.md).

func (sh *shopper) event(name string, at time.Time, data map[string]any) map[string]any {
	sh.events++
	return map[string]any{"id": fmt.Sprintf("%s-%d", sh.ClientID, sh.events), "name": name,
		"timestamp": at.UTC().Format(time.RFC3339Nano), "data": data}
}

func productData(p product) map[string]any {
	return map[string]any{"product_id": strconv.FormatInt(p.ID, 10), "variant_id": strconv.FormatInt(p.VariantID, 10),
		"product_title": p.Title, "variant_title": p.Variant, "price": p.Price, "currency": "EUR",
		"url": "/products/" + strings.ReplaceAll(strings.ToLower(p.Title), " ", "-")}
}

func (sh *shopper) viewed(p product, at time.Time) map[string]any {
	return sh.event("product_viewed", at, productData(p))
}

func (sh *shopper) added(l cartLine, at time.Time) map[string]any {
	d := productData(l.product)
	d["quantity"] = l.Quantity
	d["cart_token"] = sh.CartToken
	return sh.event("product_added_to_cart", at, d)
}

func (sh *shopper) collectionViewed(at time.Time) map[string]any {
	return sh.event("collection_viewed", at, map[string]any{"url": "/collections/all"})
}

// batch is one POST /pixel/events body; customer sets the logged-in
// customer's id.
func (sh *shopper) batch(shop string, customer bool, events []map[string]any) map[string]any {
	b := map[string]any{"shop": shop, "client_id": sh.ClientID, "customer_id": nil, "events": events}
	if customer {
		b["customer_id"] = sh.CustomerID
	}
	return b
}

// postPixel sends one batch as the pixel does: text/plain (no CORS
// preflight) from the storefront's origin.
func (s *simulator) postPixel(ctx context.Context, batch map[string]any) {
	body, err := json.Marshal(batch)
	status := 0
	if err == nil {
		status, err = s.sendPixel(ctx, body)
	}
	s.batches.Add(1)
	if err != nil || status < 200 || status > 299 {
		s.bad.Add(1)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sum.PixelBatches++
	s.sum.PixelStatuses[status]++
	if events, ok := batch["events"].([]map[string]any); ok {
		for _, e := range events {
			s.sum.PixelEvents[e["name"].(string)]++
		}
	}
	if err != nil {
		s.sum.Errors++
	}
}

func (s *simulator) sendPixel(ctx context.Context, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.o.URL+"/pixel/events", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	req.Header.Set("Origin", "https://"+s.o.Shop)
	resp, err := s.o.HTTP.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, nil
}
