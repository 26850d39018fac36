package main

import (
	"context"
	"errors"
)

func runDev(ctx context.Context, getenv func(string) string) error {
	return errors.New("dev: not wired yet")
}
