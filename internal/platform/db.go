// Package platform is the process plumbing shared by every domain package:
// PostgreSQL, Redis/asynq, logging and metrics. It holds no business rules.
package platform

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"github.com/pressly/goose/v3"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/relance/relance/migrations"
)

// OpenDB opens a gorm handle on PostgreSQL with error translation on, so a
// unique violation surfaces as gorm.ErrDuplicatedKey.
func OpenDB(ctx context.Context, dsn string) (*gorm.DB, error) {
	db, err := gorm.Open(postgres.Open(dsn), &gorm.Config{
		TranslateError:         true,
		SkipDefaultTransaction: true,
		Logger:                 logger.Discard,
		NowFunc:                func() time.Time { return time.Now().UTC() },
	})
	if err != nil {
		return nil, fmt.Errorf("platform: open database: %w", err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("platform: database handle: %w", err)
	}
	sqlDB.SetMaxOpenConns(40)
	sqlDB.SetMaxIdleConns(40)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := sqlDB.PingContext(pingCtx); err != nil {
		return nil, fmt.Errorf("platform: ping database: %w", err)
	}
	return db, nil
}

// CloseDB closes the pool behind a gorm handle.
func CloseDB(db *gorm.DB) error {
	sqlDB, err := db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// Migrate applies every pending embedded migration and returns the version
// the database is at afterwards.
func Migrate(ctx context.Context, db *gorm.DB) (int64, error) {
	sqlDB, err := db.DB()
	if err != nil {
		return 0, fmt.Errorf("platform: database handle: %w", err)
	}
	return MigrateFS(ctx, sqlDB, migrations.FS)
}

// MigrateFS applies the migrations of fsys (Migrate uses the embedded set). Version ranges are owned by
// domains (see migrations/embed.go), so a new file can be numbered below one
// already applied: out-of-order files are applied, not refused.
func MigrateFS(ctx context.Context, sqlDB *sql.DB, fsys fs.FS) (int64, error) {
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, fsys, goose.WithAllowOutofOrder(true))
	if err != nil {
		return 0, fmt.Errorf("platform: migrations: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return 0, fmt.Errorf("platform: apply migrations: %w", err)
	}
	for _, r := range results {
		slog.Info("migration applied", "version", r.Source.Version, "file", r.Source.Path, "took", r.Duration)
	}
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("platform: read schema version: %w", err)
	}
	return v, nil
}
