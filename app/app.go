package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"
	"gorm.io/gorm"

	"github.com/relance/relance/internal/config"
	"github.com/relance/relance/internal/platform"
)

type mode int

const (
	modeServe mode = 1 << iota
	modeWorker
)

// Main is one running relance process. Tests build it with Addr ":0" against
// the test database and Redis (see main_test.go).
type Main struct {
	Config *config.Config
	Mode   mode
	// Addr overrides ":$PORT"; Listener, when set, is used as is (tests
	// listen first so SHOPIFY_APP_URL can name the port).
	Addr     string
	Listener net.Listener

	// DevMode adds the dev-only routes of `relance dev` (a session token for
	// the dev store without Shopify around the admin).
	DevMode bool

	DB    *gorm.DB
	Redis asynq.RedisConnOpt
	Queue *asynq.Client

	c    components
	ping redis.UniversalClient // readiness probe; one client, not one per probe

	echo     *echo.Echo
	listener net.Listener
	worker   *asynq.Server

	cancelLoops context.CancelFunc
	loops       sync.WaitGroup
	closers     []func(context.Context) error // run in reverse order by Close
}

// NewMain returns an unstarted process.
func NewMain(cfg *config.Config, mode mode) *Main {
	return &Main{Config: cfg, Mode: mode}
}

func loadConfig(getenv func(string) string) (*config.Config, error) {
	cfg, err := config.Load(getenv, config.NeedAll)
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	return cfg, nil
}

func newLogger() *slog.Logger {
	level := slog.LevelInfo
	if os.Getenv("LOG_LEVEL") == "debug" {
		level = slog.LevelDebug
	}
	return platform.NewLogger(os.Stderr, level)
}

// Run connects to PostgreSQL and Redis, then starts the HTTP server and/or the
// worker. It returns once everything is listening.
func (m *Main) Run(ctx context.Context) error {
	var err error
	if m.DB, err = platform.OpenDB(ctx, m.Config.DatabaseURL); err != nil {
		return err
	}
	m.onClose(func(context.Context) error { return platform.CloseDB(m.DB) })
	if m.Redis, err = platform.RedisOpt(m.Config.RedisURL); err != nil {
		return err
	}
	m.Queue = asynq.NewClient(m.Redis)
	m.onClose(func(context.Context) error { return m.Queue.Close() })
	rc, ok := m.Redis.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return errors.New("redis: unexpected client type")
	}
	m.ping = rc
	m.onClose(func(context.Context) error { return rc.Close() })

	if err := m.wire(); err != nil {
		return err
	}
	loopCtx, cancel := context.WithCancel(context.Background())
	m.cancelLoops = cancel

	if m.Mode&modeWorker != 0 {
		if err := m.startWorker(loopCtx); err != nil {
			return err
		}
	}
	if m.Mode&modeServe != 0 {
		if err := m.startHTTP(); err != nil {
			return err
		}
	}
	return nil
}

func (m *Main) startHTTP() error {
	m.echo = m.routes()
	addr := m.Addr
	if addr == "" {
		addr = ":" + strconv.Itoa(m.Config.Port)
	}
	ln := m.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", addr); err != nil {
			return fmt.Errorf("listen %s: %w", addr, err)
		}
	}
	m.listener = ln
	srv := &http.Server{
		Handler:           m.echo,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	m.echo.Server = srv
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Error("http server stopped", "err", err)
		}
	}()
	slog.Info("http listening", "addr", ln.Addr().String())
	// Registered last so it runs first on Close: stop taking requests, finish in-flight ones.
	m.onClose(func(ctx context.Context) error { return srv.Shutdown(ctx) })
	return nil
}

// URL is the base URL of the running HTTP server.
func (m *Main) URL() string {
	if m.listener == nil {
		return ""
	}
	return "http://" + m.listener.Addr().String()
}

func (m *Main) onClose(f func(context.Context) error) { m.closers = append(m.closers, f) }

// Close shuts down gracefully: in-flight requests and tasks finish, buffered
// webhook rows are flushed, then connections close.
func (m *Main) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if m.cancelLoops != nil {
		m.cancelLoops()
	}
	var errs []error
	for i := len(m.closers) - 1; i >= 0; i-- {
		if err := m.closers[i](ctx); err != nil {
			errs = append(errs, err)
		}
	}
	m.closers = nil
	m.loops.Wait()
	return errors.Join(errs...)
}

// every runs f on a fixed period until the process stops.
func (m *Main) every(ctx context.Context, name string, period time.Duration, f func(context.Context) error) {
	m.loops.Add(1)
	go func() {
		defer m.loops.Done()
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := f(ctx); err != nil && ctx.Err() == nil {
					slog.Error("periodic job failed", "job", name, "err", err)
				}
			}
		}
	}()
}
