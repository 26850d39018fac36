// Command pixelload posts web pixel batches (POST /pixel/events, the
// contract of docs/pixel-contract.md) to a local Relance and reports
// batches/s, events/s, latency and statuses and, with -database-url, how
// many acknowledged batches are missing from the inbox. It only talks to
// loopback addresses and always stops after -d.
//
// Each request is one batch of -events events (a realistic mix of
// product_viewed, collection_viewed, product_added_to_cart and
// checkout_started) from one of -clients storefront client ids picked at
// random, so the per-client limit (120/min) is not what is measured. The
// shops are fresh per run (pixel-<run>-<i>.myshopify.com, seeded as
// installed with -seed-shops), so every run starts with empty per-shop rate
// limit windows. The per-shop limit (30,000 requests/min per shop) is the
// server's and cannot be changed from outside: -shops 1 measures it,
// -shops N spreads the same load over N shops (N × 30,000/min), which
// measures the endpoint's capacity with the shop limit out of the way
// (every request still runs the same limiter script: one client counter
// and one shop counter).
//
//	go run ./bench/pixelload -url http://127.0.0.1:8080/pixel/events -c 64 -d 20s \
//	    -noop-url http://127.0.0.1:8080/healthz -database-url "$DATABASE_URL" -seed-shops -shops 1
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/relance/relance/bench/internal/loadgen"
)

type config struct {
	url, noopURL, dbURL string
	c, shops, events    int
	clients             int
	d, warmup, timeout  time.Duration
	dup                 float64
	seed                bool
}

func main() {
	var cfg config
	flag.StringVar(&cfg.url, "url", "http://127.0.0.1:8080/pixel/events", "pixel endpoint (loopback only)")
	flag.IntVar(&cfg.c, "c", 64, "concurrent keep-alive connections")
	flag.DurationVar(&cfg.d, "d", 20*time.Second, "duration of each measured phase")
	flag.DurationVar(&cfg.warmup, "warmup", 3*time.Second, "unmeasured warm-up before the pixel phase")
	flag.DurationVar(&cfg.timeout, "timeout", 5*time.Second, "per-request timeout")
	flag.IntVar(&cfg.shops, "shops", 1, "number of fresh shops for this run (each has its own 30,000/min limit)")
	flag.IntVar(&cfg.events, "events", 3, "events per batch (1–50)")
	flag.IntVar(&cfg.clients, "clients", 1_000_000, "distinct storefront client ids per shop")
	flag.Float64Var(&cfg.dup, "dup", 0, "fraction of requests that resend an earlier batch (a keepalive retry)")
	flag.StringVar(&cfg.noopURL, "noop-url", "", "no-op GET route measured first in the same run, e.g. http://127.0.0.1:8080/healthz")
	flag.StringVar(&cfg.dbURL, "database-url", "", "if set: count inbox rows after the run and print lost batches")
	flag.BoolVar(&cfg.seed, "seed-shops", false, "with -database-url: insert this run's shops as installed before the run")
	flag.Parse()
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "pixelload:", err)
		os.Exit(1)
	}
}

func run(cfg config) error {
	if err := loadgen.RequireLoopback(cfg.url, cfg.noopURL); err != nil {
		return err
	}
	if cfg.c <= 0 || cfg.d <= 0 || cfg.d > 10*time.Minute || cfg.dup < 0 || cfg.dup >= 1 ||
		cfg.shops <= 0 || cfg.events < 1 || cfg.events > 50 || cfg.clients <= 0 {
		return errors.New("want -c > 0, 0 < -d <= 10m, 0 <= -dup < 1, -shops > 0, 1 <= -events <= 50, -clients > 0")
	}
	runID := loadgen.RandHex(4)
	shops := make([]string, cfg.shops)
	for i := range shops {
		shops[i] = "pixel-" + runID + "-" + strconv.Itoa(i+1) + ".myshopify.com"
	}
	ctx := context.Background()
	var db *pgx.Conn
	if cfg.dbURL != "" {
		var err error
		if db, err = pgx.Connect(ctx, cfg.dbURL); err != nil {
			return fmt.Errorf("connect database: %w", err)
		}
		defer db.Close(ctx)
		if cfg.seed {
			for _, s := range shops {
				if _, err := db.Exec(ctx, `INSERT INTO shops (domain) VALUES ($1) ON CONFLICT (domain) DO UPDATE SET uninstalled_at = NULL`, s); err != nil {
					return fmt.Errorf("seed shop %s: %w", s, err)
				}
			}
		}
	}
	if !cfg.seed {
		fmt.Println("pixelload: shops not seeded (-seed-shops): expect 404 unknown_shop")
	}
	client := loadgen.NewClient(cfg.c, cfg.timeout)
	var pool loadgen.Pool
	fmt.Printf("pixelload: c=%d d=%s events/batch=%d shops=%d clients/shop=%d dup=%.2f run=%s\n",
		cfg.c, cfg.d, cfg.events, cfg.shops, cfg.clients, cfg.dup, runID)
	if cfg.noopURL != "" {
		r := pool.Phase(cfg.c, cfg.d, func(_ *loadgen.Worker) (int, error) { return loadgen.Get(client, cfg.noopURL) })
		r.Print("no-op " + cfg.noopURL)
	}

	gens := make([]*gen, cfg.c)
	for i := range gens {
		gens[i] = &gen{}
	}
	var sizes, nbody int
	send := func(w *loadgen.Worker) (int, error) {
		body, key := gens[w.N].next(w, runID, cfg, shops)
		if w.N == 0 {
			sizes += len(body)
			nbody++
		}
		req, err := http.NewRequest(http.MethodPost, cfg.url, bytes.NewReader(body))
		if err != nil {
			return 0, err
		}
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8") // as the sandboxed pixel sends it: no preflight
		req.Header.Set("Origin", "https://extensions.shopifycdn.com")
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		status := loadgen.Drain(resp)
		if status == http.StatusNoContent {
			w.Acked[key] = struct{}{}
		}
		return status, nil
	}
	if cfg.warmup > 0 {
		pool.Phase(cfg.c, cfg.warmup, send)
	}
	r := pool.Phase(cfg.c, cfg.d, send)
	r.Print("pixel batches " + cfg.url)
	codes, secs := r.Codes(), r.Elapsed.Seconds()
	fmt.Printf("  accepted (204): %.0f batches/s = %.0f events/s; all answers %.0f req/s; mean body %d B\n",
		float64(codes[http.StatusNoContent])/secs, float64(codes[http.StatusNoContent]*cfg.events)/secs,
		float64(r.Requests())/secs, sizes/max(nbody, 1))

	if db != nil {
		// Every batch acknowledged 204 in this run (warm-up included) must be a row.
		acked := map[string]struct{}{}
		for _, w := range pool.Workers {
			for k := range w.Acked {
				acked[k] = struct{}{}
			}
		}
		rows, err := db.Query(ctx, `SELECT shop_domain || ' ' || webhook_id, json_array_length(payload->'events') FROM webhook_inbox WHERE topic = 'pixel/events' AND shop_domain = ANY($1)`, shops)
		if err != nil {
			return fmt.Errorf("count inbox rows: %w", err)
		}
		stored := map[string]struct{}{}
		events := 0
		for rows.Next() {
			var k string
			var n int
			if err := rows.Scan(&k, &n); err != nil {
				return err
			}
			stored[k] = struct{}{}
			events += n
		}
		if err := rows.Err(); err != nil {
			return err
		}
		lost := 0
		for k := range acked {
			if _, ok := stored[k]; !ok {
				lost++
			}
		}
		fmt.Printf("inbox: %d rows (%d events) for this run's shops, %d unique batches acknowledged 204 (warm-up included)\n", len(stored), events, len(acked))
		fmt.Printf("lost: %d\n", lost)
	}
	return nil
}

// gen builds one connection's batches and remembers a few, for resends.
type gen struct {
	sent [][2]string // (body, inbox key)
}

var (
	names   = []string{"product_viewed", "product_viewed", "product_viewed", "collection_viewed", "product_added_to_cart", "checkout_started"}
	titles  = []string{"Linen shirt", "Merino crew sweater", "Canvas tote bag", "Leather belt", "Organic cotton tee"}
	colls   = []string{"/collections/summer", "/collections/new-in", "/collections/sale"}
	variant = []string{"S / Blue", "M / Blue", "L / Sand", "One size"}
)

// next returns a batch body and the inbox key the server will give it
// ("<shop> pixel:<hash>").
func (g *gen) next(w *loadgen.Worker, runID string, cfg config, shops []string) ([]byte, string) {
	if len(g.sent) > 0 && w.Rng.Float64() < cfg.dup {
		p := g.sent[w.Rng.IntN(len(g.sent))]
		return []byte(p[0]), p[1]
	}
	w.Seq++
	shop := shops[w.Rng.IntN(len(shops))]
	client := fmt.Sprintf("%s-%07d-4c1e-9b2a-%012d", runID, w.Rng.IntN(cfg.clients), w.Rng.IntN(cfg.clients))
	now := time.Now().UTC()
	cart := "Z2NwLWV1cm9wZS13ZXN0NDox" + strconv.Itoa(w.N) + "x" + strconv.Itoa(w.Seq) + "?key=3f1c0b9e2a"
	b := make([]byte, 0, 1024)
	b = fmt.Appendf(b, `{"shop":%q,"client_id":%q,"customer_id":null,"events":[`, shop, client)
	ids := make([]string, cfg.events)
	for i := range cfg.events {
		ids[i] = fmt.Sprintf("sh-%s-%d-%d-%d", runID, w.N, w.Seq, i)
		name := names[w.Rng.IntN(len(names))]
		pid, vid := 7_000_000_000_000+w.Rng.IntN(500), 42_000_000_000_000+w.Rng.IntN(2000)
		title, price := titles[pid%len(titles)], 19+pid%80
		if i > 0 {
			b = append(b, ',')
		}
		ts := now.Add(time.Duration(i-cfg.events) * 700 * time.Millisecond).Format("2006-01-02T15:04:05.000Z")
		b = fmt.Appendf(b, `{"id":%q,"name":%q,"timestamp":%q,"data":`, ids[i], name, ts)
		switch name {
		case "collection_viewed":
			b = fmt.Appendf(b, `{"url":%q}}`, colls[w.Rng.IntN(len(colls))])
		case "checkout_started":
			b = fmt.Appendf(b, `{"checkout_token":"%s%dc%d","cart_token":%q,"price":"%d.00","currency":"EUR","url":"/checkouts/cn/%s"}}`,
				runID, w.N, w.Seq, cart, price*2, runID)
		default:
			b = fmt.Appendf(b, `{"product_id":"gid://shopify/Product/%d","variant_id":"%d","product_title":%q,"variant_title":%q,"price":"%d.90","currency":"EUR","url":"/products/p-%d"`,
				pid, vid, title, variant[vid%len(variant)], price, pid)
			if name == "product_added_to_cart" {
				b = fmt.Appendf(b, `,"quantity":1,"cart_token":%q`, cart)
			}
			b = append(b, "}}"...)
		}
	}
	b = append(b, "]}"...)
	key := shop + " " + batchKey(client, ids)
	if len(g.sent) < 256 {
		g.sent = append(g.sent, [2]string{string(b), key})
	} else {
		g.sent[w.Rng.IntN(len(g.sent))] = [2]string{string(b), key}
	}
	return b, key
}

// batchKey is the server's inbox key of a batch (internal/pixel batchKey:
// the client id and the event ids; all events here are of kept names).
func batchKey(client string, ids []string) string {
	h := sha256.New()
	h.Write([]byte(client))
	for _, id := range ids {
		h.Write([]byte{0})
		h.Write([]byte(id))
	}
	return "pixel:" + hex.EncodeToString(h.Sum(nil)[:16])
}
