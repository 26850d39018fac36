// Package testenv gives tests real PostgreSQL and Redis: each test gets its own
// freshly migrated database (cloned from a template in ~100 ms) and its own
// flushed Redis database number, so tests run in parallel without sharing
// state.
//
// With TEST_DATABASE_URL and TEST_REDIS_URL unset, the first test to ask
// starts a shared stack under <repo>/.data/test with the same localstack code
// that `relance dev` uses; `make test` stops it afterwards.
package testenv

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
	"gorm.io/gorm"

	"github.com/relance/relance/internal/platform"
	"github.com/relance/relance/internal/platform/localstack"
	"github.com/relance/relance/migrations"
)

// Ports of the shared test stack (the dev stack uses 15432/16379).
const (
	TestPGPort    = 15433
	TestRedisPort = 16380
)

var (
	stackOnce sync.Once
	stackErr  error
	pgURL     string
	redisURL  string

	tmplOnce sync.Once
	tmplName string
	tmplErr  error
)

// Services returns the maintenance PostgreSQL URL and the Redis URL, starting
// the shared stack when the environment names none.
func Services(tb testing.TB) (string, string) {
	tb.Helper()
	stackOnce.Do(func() {
		pgURL, redisURL = os.Getenv("TEST_DATABASE_URL"), os.Getenv("TEST_REDIS_URL")
		if pgURL != "" && redisURL != "" {
			return
		}
		root, err := RepoRoot()
		if err != nil {
			stackErr = err
			return
		}
		s, err := localstack.Start(context.Background(), localstack.Options{
			Dir: filepath.Join(root, ".data", "test"), PGPort: TestPGPort, RedisPort: TestRedisPort, Fast: true,
		})
		if err != nil {
			stackErr = err
			return
		}
		if pgURL == "" {
			pgURL = s.DatabaseURL
		}
		if redisURL == "" {
			redisURL = s.RedisURL
		}
	})
	if stackErr != nil {
		tb.Fatalf("testenv: start services: %v", stackErr)
	}
	return pgURL, redisURL
}

// DatabaseURL creates a fresh, fully migrated database for this test, drops it
// when the test ends, and returns its URL.
func DatabaseURL(tb testing.TB) string {
	tb.Helper()
	base, _ := Services(tb)
	tmplOnce.Do(func() { tmplName, tmplErr = ensureTemplate(base) })
	if tmplErr != nil {
		tb.Fatalf("testenv: template database: %v", tmplErr)
	}
	return createDatabase(tb, base, tmplName)
}

// createDatabase creates a database (from template when not empty) that is
// dropped when the test ends, and returns its URL.
func createDatabase(tb testing.TB, base, template string) string {
	tb.Helper()
	admin, err := platform.OpenDB(context.Background(), base)
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	defer platform.CloseDB(admin)
	name := "t_" + randHex(8)
	stmt := fmt.Sprintf(`CREATE DATABASE %q`, name)
	if template != "" {
		stmt += fmt.Sprintf(` TEMPLATE %q`, template)
	}
	if err := admin.Exec(stmt).Error; err != nil {
		tb.Fatalf("testenv: create database: %v", err)
	}
	tb.Cleanup(func() {
		admin, err := platform.OpenDB(context.Background(), base)
		if err != nil {
			return
		}
		defer platform.CloseDB(admin)
		admin.Exec(fmt.Sprintf(`DROP DATABASE IF EXISTS %q WITH (FORCE)`, name))
	})
	return withDatabase(base, name)
}

// EmptyDatabaseURL creates a database with no schema at all for this test
// (for tests of the migrations themselves) and returns its URL.
func EmptyDatabaseURL(tb testing.TB) string {
	tb.Helper()
	base, _ := Services(tb)
	return createDatabase(tb, base, "")
}

// DB opens a gorm handle on a fresh database for this test.
func DB(tb testing.TB) *gorm.DB {
	tb.Helper()
	db, err := platform.OpenDB(context.Background(), DatabaseURL(tb))
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	tb.Cleanup(func() { _ = platform.CloseDB(db) })
	return db
}

// RedisURL reserves a Redis database number for this test, flushes it and
// returns its URL.
func RedisURL(tb testing.TB) string {
	tb.Helper()
	_, base := Services(tb)
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("testenv: parse redis url: %v", err)
	}
	ctl := redis.NewClient(&redis.Options{Addr: u.Host})
	defer ctl.Close()
	ctx := context.Background()
	n, err := ctl.Incr(ctx, "testenv:next-db").Result()
	if err != nil {
		tb.Fatalf("testenv: redis: %v", err)
	}
	dbNum := 1 + int(n%1000)
	c := redis.NewClient(&redis.Options{Addr: u.Host, DB: dbNum})
	defer c.Close()
	if err := c.FlushDB(ctx).Err(); err != nil {
		tb.Fatalf("testenv: flush redis db %d: %v", dbNum, err)
	}
	u.Path = fmt.Sprintf("/%d", dbNum)
	return u.String()
}

// RepoRoot walks up from the working directory to the module root.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("testenv: no go.mod above the working directory")
		}
		dir = parent
	}
}

// ensureTemplate creates (once per migration set, across processes) a
// migrated template database that test databases are cloned from.
func ensureTemplate(base string) (string, error) {
	name := "relance_tmpl_" + migrationsHash()
	ctx := context.Background()
	admin, err := platform.OpenDB(ctx, base)
	if err != nil {
		return "", err
	}
	defer platform.CloseDB(admin)
	sqlDB, _ := admin.DB()
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	// Session-level advisory lock: one process builds the template, the others wait.
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(7262001)`); err != nil {
		return "", err
	}
	defer conn.ExecContext(ctx, `SELECT pg_advisory_unlock(7262001)`)
	var exists bool
	if err := conn.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return "", err
	}
	if exists {
		return name, nil
	}
	building := name + "_building"
	conn.ExecContext(ctx, fmt.Sprintf(`DROP DATABASE IF EXISTS %q WITH (FORCE)`, building))
	if _, err := conn.ExecContext(ctx, fmt.Sprintf(`CREATE DATABASE %q`, building)); err != nil {
		return "", err
	}
	db, err := platform.OpenDB(ctx, withDatabase(base, building))
	if err != nil {
		return "", err
	}
	_, migErr := platform.Migrate(ctx, db)
	platform.CloseDB(db)
	if migErr != nil {
		return "", migErr
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf(`ALTER DATABASE %q RENAME TO %q`, building, name)); err != nil {
		return "", err
	}
	return name, nil
}

func migrationsHash() string {
	h := sha256.New()
	entries, _ := fs.ReadDir(migrations.FS, ".")
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	for _, n := range names {
		b, _ := fs.ReadFile(migrations.FS, n)
		h.Write([]byte(n))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

func withDatabase(base, name string) string {
	u, err := url.Parse(base)
	if err != nil {
		return base
	}
	u.Path = "/" + strings.TrimPrefix(name, "/")
	return u.String()
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
