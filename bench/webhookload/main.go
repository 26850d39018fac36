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
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/relance/relance/bench/internal/loadgen"
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

func run(cfg config) error {
	if err := loadgen.RequireLoopback(cfg.url, cfg.noopURL); err != nil {
		return err
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
	client := loadgen.NewClient(cfg.c, cfg.timeout)
	var pool loadgen.Pool
	fmt.Printf("webhookload: c=%d d=%s dup=%.2f body=%dB topic=%s shops=%d\n", cfg.c, cfg.d, cfg.dup, len(cfg.body), cfg.topic, len(cfg.shops))
	if cfg.noopURL != "" {
		r := pool.Phase(cfg.c, cfg.d, func(_ *loadgen.Worker) (int, error) { return loadgen.Get(client, cfg.noopURL) })
		r.Print("no-op " + cfg.noopURL)
	}

	runID := loadgen.RandHex(6)
	sig := shopify.SignWebhook(cfg.secret, cfg.body)
	sent := make([]*sentIDs, cfg.c)
	for i := range sent {
		sent[i] = &sentIDs{}
	}
	send := func(w *loadgen.Worker) (int, error) {
		shop, id := sent[w.N].next(w, runID, cfg.dup, cfg.shops)
		status, err := post(client, cfg, shop, id, sig)
		if status == http.StatusOK {
			w.Acked[id] = struct{}{}
		}
		return status, err
	}
	if cfg.warmup > 0 {
		pool.Phase(cfg.c, cfg.warmup, send)
	}
	r := pool.Phase(cfg.c, cfg.d, send)
	r.Print("webhooks " + cfg.url)

	if db != nil {
		// Every delivery acknowledged in this run (warm-up included) must be a row.
		acked := map[string]struct{}{}
		for _, w := range pool.Workers {
			for id := range w.Acked {
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

// sentIDs are one connection's (shop, webhook id) pairs, for repeats.
type sentIDs struct {
	sent [][2]string
}

// next returns the shop and webhook id of the next request: with
// probability dup an earlier (shop, id) pair again, as a Shopify retry would.
func (s *sentIDs) next(w *loadgen.Worker, runID string, dup float64, shops []string) (string, string) {
	if len(s.sent) > 0 && w.Rng.Float64() < dup {
		p := s.sent[w.Rng.IntN(len(s.sent))]
		return p[0], p[1]
	}
	w.Seq++
	p := [2]string{shops[w.Rng.IntN(len(shops))], "load-" + runID + "-" + strconv.Itoa(w.N) + "-" + strconv.Itoa(w.Seq)}
	if len(s.sent) < 1024 {
		s.sent = append(s.sent, p)
	} else {
		s.sent[w.Rng.IntN(len(s.sent))] = p
	}
	return p[0], p[1]
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
	return loadgen.Drain(resp), nil
}
