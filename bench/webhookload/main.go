// Command webhookload sends signed Shopify webhooks to a local Relance (or
// bench/ingestserver) and reports throughput, latency and, with
// -database-url, how many acknowledged deliveries are missing from the inbox.
// It only talks to loopback addresses and always stops after -d.
//
//	go run ./bench/webhookload -url http://127.0.0.1:8090/webhooks/shopify -secret benchsecret \
//	    -shops bench-1.myshopify.com,bench-2.myshopify.com -c 64 -d 20s -dup 0.1 \
//	    -noop-url http://127.0.0.1:8090/healthz -database-url "$DATABASE_URL" -seed-shops
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/relance/relance/internal/shopify"
)

// A ~1.5 KB orders/create body cut from the documented sample
// (testdata/webhook_orders_create.json, 10.7 KB compact, with -full-body).
//
//go:embed testdata/webhook_orders_create_1k5.json
var smallBody []byte

//go:embed testdata/webhook_orders_create.json
var fullBody []byte

type config struct {
	url, secret, noopURL, dbURL, topic string
	shops                              []string
	c                                  int
	d, warmup, timeout                 time.Duration
	dup                                float64
	seed                               bool
	body                               []byte
}

func main() {
	var cfg config
	var shops string
	var full bool
	flag.StringVar(&cfg.url, "url", "http://127.0.0.1:8090/webhooks/shopify", "webhook endpoint (loopback only)")
	flag.StringVar(&cfg.secret, "secret", "benchsecret", "SHOPIFY_API_SECRET of the server")
	flag.StringVar(&shops, "shops", "bench-1.myshopify.com,bench-2.myshopify.com,bench-3.myshopify.com", "comma-separated shop domains (must be installed, see -seed-shops)")
	flag.IntVar(&cfg.c, "c", 64, "concurrent keep-alive connections")
	flag.DurationVar(&cfg.d, "d", 20*time.Second, "duration of each measured phase")
	flag.DurationVar(&cfg.warmup, "warmup", 3*time.Second, "unmeasured warm-up before the webhook phase")
	flag.DurationVar(&cfg.timeout, "timeout", 5*time.Second, "per-request timeout (Shopify's)")
	flag.Float64Var(&cfg.dup, "dup", 0.1, "fraction of requests that repeat an earlier webhook id")
	flag.StringVar(&cfg.noopURL, "noop-url", "", "no-op GET route measured first in the same run, e.g. http://127.0.0.1:8090/healthz")
	flag.StringVar(&cfg.dbURL, "database-url", "", "if set: count inbox rows after the run and print lost deliveries")
	flag.BoolVar(&cfg.seed, "seed-shops", false, "with -database-url: insert the -shops as installed before the run")
	flag.StringVar(&cfg.topic, "topic", "orders/create", "X-Shopify-Topic")
	flag.BoolVar(&full, "full-body", false, "send the whole 10.7 KB documented sample instead of the 1.5 KB cut")
	flag.Parse()
	cfg.shops = strings.Split(shops, ",")
	cfg.body = smallBody
	if full {
		cfg.body = bytes.TrimSpace(fullBody)
	}
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "webhookload:", err)
		os.Exit(1)
	}
}

func requireLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%s is not a loopback address: this tool only loads local servers", raw)
}

func run(cfg config) error {
	for _, u := range []string{cfg.url, cfg.noopURL} {
		if u == "" {
			continue
		}
		if err := requireLoopback(u); err != nil {
			return err
		}
	}
	if cfg.c <= 0 || cfg.d <= 0 || cfg.d > 10*time.Minute || cfg.dup < 0 || cfg.dup >= 1 {
		return errors.New("want -c > 0, 0 < -d <= 10m, 0 <= -dup < 1")
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
			for _, s := range cfg.shops {
				if _, err := db.Exec(ctx, `INSERT INTO shops (domain) VALUES ($1) ON CONFLICT (domain) DO UPDATE SET uninstalled_at = NULL`, s); err != nil {
					return fmt.Errorf("seed shop %s: %w", s, err)
				}
			}
		}
	}
	client := &http.Client{
		Timeout: cfg.timeout,
		Transport: &http.Transport{
			MaxIdleConns: cfg.c * 2, MaxIdleConnsPerHost: cfg.c * 2, MaxConnsPerHost: cfg.c * 2,
			IdleConnTimeout: time.Minute, DisableCompression: true,
		},
	}
	fmt.Printf("webhookload: c=%d d=%s dup=%.2f body=%dB topic=%s shops=%d\n", cfg.c, cfg.d, cfg.dup, len(cfg.body), cfg.topic, len(cfg.shops))
	if cfg.noopURL != "" {
		r := phase(cfg.c, cfg.d, func(_ *worker) (int, error) { return get(client, cfg.noopURL) })
		r.print("no-op " + cfg.noopURL)
	}

	runID := randHex(6)
	sig := shopify.SignWebhook(cfg.secret, cfg.body)
	send := func(w *worker) (int, error) {
		shop, id := w.next(runID, cfg.dup, cfg.shops)
		status, err := post(client, cfg, shop, id, sig)
		if status == http.StatusOK {
			w.acked[id] = struct{}{}
		}
		return status, err
	}
	if cfg.warmup > 0 {
		phase(cfg.c, cfg.warmup, send)
	}
	r := phase(cfg.c, cfg.d, send)
	r.print("webhooks " + cfg.url)

	if db != nil {
		// Every delivery acknowledged in this run (warm-up included) must be a row.
		acked := map[string]struct{}{}
		for _, w := range workerPool {
			for id := range w.acked {
				acked[id] = struct{}{}
			}
		}
		rows, err := db.Query(ctx, `SELECT webhook_id FROM webhook_inbox WHERE webhook_id LIKE $1`, "load-"+runID+"-%")
		if err != nil {
			return fmt.Errorf("count inbox rows: %w", err)
		}
		stored := map[string]struct{}{}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			stored[id] = struct{}{}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		lost := 0
		for id := range acked {
			if _, ok := stored[id]; !ok {
				lost++
			}
		}
		fmt.Printf("inbox: %d rows for this run, %d unique deliveries acknowledged 200 (warm-up included)\n", len(stored), len(acked))
		fmt.Printf("lost: %d\n", lost)
	}
	return nil
}

// worker is one connection's state: its random source, the ids it sent
// (for repeats) and the ids acknowledged.
type worker struct {
	n     int
	seq   int
	rng   *mrand.Rand
	sent  [][2]string // (shop, webhook id) pairs, for repeats
	acked map[string]struct{}
	lat   []time.Duration
	codes map[int]int
	errs  int
}

// next returns the shop and webhook id of the next request: with
// probability dup an earlier (shop, id) pair again, as a Shopify retry would.
func (w *worker) next(runID string, dup float64, shops []string) (string, string) {
	if len(w.sent) > 0 && w.rng.Float64() < dup {
		p := w.sent[w.rng.IntN(len(w.sent))]
		return p[0], p[1]
	}
	w.seq++
	p := [2]string{shops[w.rng.IntN(len(shops))], "load-" + runID + "-" + strconv.Itoa(w.n) + "-" + strconv.Itoa(w.seq)}
	if len(w.sent) < 1024 {
		w.sent = append(w.sent, p)
	} else {
		w.sent[w.rng.IntN(len(w.sent))] = p
	}
	return p[0], p[1]
}

type phaseResult struct {
	workers []*worker
	elapsed time.Duration
}

// workerPool is reused across phases: acked ids accumulate per connection.
var workerPool []*worker

func phase(c int, d time.Duration, do func(*worker) (int, error)) phaseResult {
	for len(workerPool) < c {
		workerPool = append(workerPool, &worker{n: len(workerPool), rng: mrand.New(mrand.NewPCG(uint64(len(workerPool)), uint64(time.Now().UnixNano()))), acked: map[string]struct{}{}})
	}
	ws := workerPool[:c]
	for _, w := range ws {
		w.lat, w.codes, w.errs = w.lat[:0], map[int]int{}, 0
	}
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				t0 := time.Now()
				status, err := do(w)
				if err != nil {
					w.errs++
					continue
				}
				w.lat = append(w.lat, time.Since(t0))
				w.codes[status]++
			}
		})
	}
	wg.Wait()
	return phaseResult{workers: ws, elapsed: time.Since(start)}
}

func (r phaseResult) print(name string) {
	var lat []time.Duration
	codes := map[int]int{}
	errs := 0
	for _, w := range r.workers {
		lat = append(lat, w.lat...)
		for k, v := range w.codes {
			codes[k] += v
		}
		errs += w.errs
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[int(math.Ceil(p*float64(len(lat))))-1]
	}
	var keys []int
	for k := range codes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var sc []string
	for _, k := range keys {
		sc = append(sc, fmt.Sprintf("%d=%d", k, codes[k]))
	}
	fmt.Printf("%s\n  requests %d in %s: %.0f req/s\n  latency p50 %s  p90 %s  p99 %s  max %s\n  status %s  transport errors %d\n",
		name, len(lat), r.elapsed.Round(time.Millisecond), float64(len(lat))/r.elapsed.Seconds(),
		pct(.50).Round(10*time.Microsecond), pct(.90).Round(10*time.Microsecond), pct(.99).Round(10*time.Microsecond), pct(1).Round(10*time.Microsecond),
		strings.Join(sc, " "), errs)
}

func get(client *http.Client, u string) (int, error) {
	resp, err := client.Get(u)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

func post(client *http.Client, cfg config, shop, id, sig string) (int, error) {
	req, err := http.NewRequest(http.MethodPost, cfg.url, bytes.NewReader(cfg.body))
	if err != nil {
		return 0, err
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("X-Shopify-Topic", cfg.topic)
	h.Set("X-Shopify-Shop-Domain", shop)
	h.Set("X-Shopify-Webhook-Id", id)
	h.Set("X-Shopify-Event-Id", id)
	h.Set("X-Shopify-Api-Version", "2026-10")
	h.Set("X-Shopify-Triggered-At", time.Now().UTC().Format(time.RFC3339Nano))
	h.Set("X-Shopify-Hmac-Sha256", sig)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
