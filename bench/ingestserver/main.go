// Command ingestserver is a minimal HTTP server around the webhook ingest
// handler, for load tests of the durable ingest path with
// bench/webhookload; the real binary mounts the same handler.
//
//	go run ./bench/ingestserver -database-url "$DATABASE_URL" -redis-url "$REDIS_URL" -secret benchsecret
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // profiles under load, loopback only
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hibiken/asynq"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/relance/relance/internal/platform"
	"github.com/relance/relance/internal/shopify"
	"github.com/relance/relance/internal/webhook"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "ingestserver:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:8090", "listen address (loopback)")
	dbURL := flag.String("database-url", os.Getenv("DATABASE_URL"), "PostgreSQL URL (migrated on start)")
	redisURL := flag.String("redis-url", os.Getenv("REDIS_URL"), "Redis URL; empty: nothing is enqueued")
	secret := flag.String("secret", "benchsecret", "webhook HMAC secret")
	flushers := flag.Int("flushers", 0, "group commits in flight (0: default)")
	maxBatch := flag.Int("max-batch", 0, "rows per group commit at most (0: default)")
	logLevel := flag.String("log-level", "info", "debug, info, warn or error")
	flag.Parse()

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return err
	}
	logger := platform.NewLogger(os.Stderr, level)
	slog.SetDefault(logger)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	db, err := platform.OpenDB(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer platform.CloseDB(db)
	if _, err := platform.Migrate(ctx, db); err != nil {
		return err
	}
	var client *asynq.Client
	cfg := webhook.IngestConfig{Secrets: shopify.Secrets{Current: *secret}, Logger: logger, Flushers: *flushers, MaxBatch: *maxBatch}
	var in *webhook.Ingest
	if *redisURL != "" {
		opt, err := platform.RedisOpt(*redisURL)
		if err != nil {
			return err
		}
		client = asynq.NewClient(opt)
		defer client.Close()
		in, err = webhook.NewIngest(db, client, cfg)
		if err != nil {
			return err
		}
	} else {
		if in, err = webhook.NewIngest(db, nil, cfg); err != nil {
			return err
		}
	}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok") })
	e.GET("/metrics", echo.WrapHandler(promhttp.Handler()))
	e.GET("/debug/pprof/*", echo.WrapHandler(http.DefaultServeMux))
	e.POST("/webhooks/shopify", in.Handle)
	e.POST("/webhooks/:group", in.Handle)

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: e, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	logger.Info("ingestserver listening", "addr", ln.Addr().String(), "enqueue", client != nil)

	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	// Same order as the real binary: stop HTTP, then flush what was accepted.
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	return errors.Join(err, in.Close(sctx))
}
