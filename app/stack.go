package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/relance/relance/internal/platform/localstack"
)

// Ports of the dev stack; the test stack (internal/platform/testenv) uses the
// next ones. They sit below Linux's ephemeral range (32768–60999) so a
// leftover outgoing connection can never hold them.
const (
	devPGPort    = 15432
	devRedisPort = 16379
)

// runStack starts or stops throwaway servers: `relance stack up|down [-dir D] [-pg-port N] [-redis-port N] [-fast]`.
// `up` prints the URLs as shell assignments.
func runStack(ctx context.Context, args []string) error {
	if len(args) == 0 || (args[0] != "up" && args[0] != "down") {
		return usageError("relance stack: want up or down")
	}
	fs := flag.NewFlagSet("stack", flag.ContinueOnError)
	dir := fs.String("dir", ".data", "state directory")
	pg := fs.Int("pg-port", devPGPort, "PostgreSQL port")
	rd := fs.Int("redis-port", devRedisPort, "Redis port")
	fast := fs.Bool("fast", false, "fsync off (tests only)")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError(err.Error())
	}
	o := localstack.Options{Dir: *dir, PGPort: *pg, RedisPort: *rd, Fast: *fast}
	if args[0] == "down" {
		return localstack.StopDir(o)
	}
	s, err := localstack.Start(ctx, o)
	if err != nil {
		return err
	}
	fmt.Printf("DATABASE_URL=%s\nREDIS_URL=%s\n", s.DatabaseURL, s.RedisURL)
	return nil
}
