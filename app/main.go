// Command relance is the whole Relance app in one binary:
//
//	relance serve     HTTP on $PORT
//	relance worker    asynq server and periodic jobs
//	relance all       both in one process
//	relance migrate   apply SQL migrations
//	relance dev       local stack: throwaway PostgreSQL and Redis, a simulated dev store, an outbox
//	relance stack     up|down: the throwaway servers alone (used by make test)
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	slog.SetDefault(newLogger())
	if err := run(ctx, os.Args[1:], os.Getenv); err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintln(os.Stderr, err)
			fmt.Fprintln(os.Stderr, usage)
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "relance:", err)
		os.Exit(1)
	}
}

const usage = `usage: relance serve | worker | all | migrate | dev | stack up|down`

type usageError string

func (e usageError) Error() string { return string(e) }

func run(ctx context.Context, args []string, getenv func(string) string) error {
	if len(args) == 0 {
		return usageError("relance: missing command")
	}
	switch args[0] {
	case "serve":
		return runMode(ctx, getenv, modeServe)
	case "worker":
		return runMode(ctx, getenv, modeWorker)
	case "all":
		return runMode(ctx, getenv, modeServe|modeWorker)
	case "migrate":
		return runMigrate(ctx, getenv)
	case "dev":
		return runDev(ctx, getenv)
	case "stack":
		return runStack(ctx, args[1:])
	case "simulate":
		return runSimulate(ctx, args[1:])
	case "help", "-h", "--help":
		fmt.Println(usage)
		return nil
	default:
		return usageError("relance: unknown command " + args[0])
	}
}

func runMode(ctx context.Context, getenv func(string) string, mode mode) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	m := NewMain(cfg, mode)
	if err := m.Run(ctx); err != nil {
		m.Close()
		return err
	}
	<-ctx.Done()
	slog.Info("shutting down")
	return m.Close()
}
