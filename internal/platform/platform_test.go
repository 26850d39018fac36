package platform_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/relance/relance/internal/platform"
	"github.com/relance/relance/internal/platform/testenv"
)

func TestMigrateIsIdempotent(t *testing.T) {
	t.Parallel()
	db := testenv.DB(t)
	v1, err := platform.Migrate(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	v2, err := platform.Migrate(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	if v1 != v2 || v1 == 0 {
		t.Fatalf("versions %d then %d", v1, v2)
	}
	var n int64
	if err := db.Raw(`SELECT count(*) FROM information_schema.tables WHERE table_name IN ('shops','webhook_inbox')`).Scan(&n).Error; err != nil || n != 2 {
		t.Fatalf("tables: %d %v", n, err)
	}
}

func TestTestDatabasesAreIsolated(t *testing.T) {
	t.Parallel()
	a, b := testenv.DB(t), testenv.DB(t)
	if err := a.Exec(`INSERT INTO shops (domain) VALUES ('a.myshopify.com')`).Error; err != nil {
		t.Fatal(err)
	}
	var n int64
	b.Raw(`SELECT count(*) FROM shops`).Scan(&n)
	if n != 0 {
		t.Fatalf("database b sees %d shops", n)
	}
}

func TestLoggerRedactsSecrets(t *testing.T) {
	var buf bytes.Buffer
	l := platform.NewLogger(&buf, slog.LevelInfo)
	l.Info("x", "access_token", "shpat_123", "refresh_token", "shprt_1", "shop", "a.myshopify.com", "status_code", 401)
	out := buf.String()
	for _, s := range []string{"shpat_123", "shprt_1"} {
		if strings.Contains(out, s) {
			t.Fatalf("secret %q logged: %s", s, out)
		}
	}
	if !strings.Contains(out, "a.myshopify.com") || !strings.Contains(out, "401") {
		t.Fatalf("useful fields lost: %s", out)
	}
}

// A migration numbered below one already applied (another domain's range)
// must still be applied by the next deploy.
func TestMigrateAppliesOutOfOrderFiles(t *testing.T) {
	t.Parallel()
	db, err := platform.OpenDB(context.Background(), testenv.EmptyDatabaseURL(t))
	require.NoError(t, err)
	defer platform.CloseDB(db)
	sqlDB, err := db.DB()
	require.NoError(t, err)
	mig := func(table string) *fstest.MapFile {
		return &fstest.MapFile{Data: []byte("-- +goose Up\nCREATE TABLE " + table + " (id int);\n-- +goose Down\nDROP TABLE " + table + ";\n")}
	}
	v, err := platform.MigrateFS(context.Background(), sqlDB, fstest.MapFS{"0001_a.sql": mig("a"), "0030_c.sql": mig("c")})
	require.NoError(t, err)
	require.EqualValues(t, 30, v)

	_, err = platform.MigrateFS(context.Background(), sqlDB, fstest.MapFS{"0001_a.sql": mig("a"), "0013_b.sql": mig("b"), "0030_c.sql": mig("c")})
	require.NoError(t, err)
	var n int
	require.NoError(t, db.Raw(`SELECT count(*) FROM information_schema.tables WHERE table_name = 'b'`).Scan(&n).Error)
	require.Equal(t, 1, n, "0013 applied after 0030")
}
