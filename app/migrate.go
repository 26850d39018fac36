package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/relance/relance/internal/config"
	"github.com/relance/relance/internal/platform"
)

func runMigrate(ctx context.Context, getenv func(string) string) error {
	cfg, err := config.Load(getenv, config.NeedDatabase)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	return migrate(ctx, cfg.DatabaseURL)
}

func migrate(ctx context.Context, dsn string) error {
	db, err := platform.OpenDB(ctx, dsn)
	if err != nil {
		return err
	}
	defer platform.CloseDB(db)
	v, err := platform.Migrate(ctx, db)
	if err != nil {
		return err
	}
	slog.Info("database migrated", "version", v)
	return nil
}
