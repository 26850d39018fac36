// Package localstack starts throwaway PostgreSQL and Redis servers from the
// binaries on the machine, for `relance dev` and the test harness. Nothing is
// downloaded: PostgreSQL comes from the machine, Redis from Debian's
// redis-server package (the Makefile installs it when missing).
package localstack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Options describe one stack. Ports are fixed per directory so a second
// start finds the servers the first one left running.
type Options struct {
	Dir       string // state lives here (.data or .data/test)
	PGPort    int
	RedisPort int
	// Fast trades crash safety for speed (fsync off): for test runs only.
	Fast bool
}

// Stack is a running pair of servers.
type Stack struct {
	opts        Options
	pgData      string
	DatabaseURL string // points at the "postgres" maintenance database
	RedisURL    string
}

// Start brings both servers up, reusing ones already running from a previous
// Start on the same directory. It is safe to call from several processes at
// once: a lock file serialises them.
func Start(ctx context.Context, o Options) (*Stack, error) {
	abs, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("localstack: %w", err)
	}
	o.Dir = abs
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("localstack: create %s: %w", o.Dir, err)
	}
	unlock, err := lockFile(filepath.Join(o.Dir, ".lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()

	s := &Stack{opts: o}
	if err := s.startPostgres(ctx); err != nil {
		return nil, err
	}
	if err := s.startRedis(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Stop shuts both servers down.
func (s *Stack) Stop() error {
	var errs []error
	// A stack whose data directory does not exist was never started from
	// here (Start found another checkout's servers on the ports and reused
	// them): there is nothing of ours to stop.
	if _, err := os.Stat(s.pgData); s.pgData != "" && err == nil {
		if out, err := s.pgCommand("pg_ctl", "-D", s.pgData, "-m", "fast", "-w", "stop").CombinedOutput(); err != nil && !strings.Contains(string(out), "Is server running?") {
			errs = append(errs, fmt.Errorf("localstack: stop postgres: %v: %s", err, out))
		}
	}
	pidFile := filepath.Join(s.opts.Dir, "redis", "redis.pid")
	if b, err := os.ReadFile(pidFile); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			if p, err := os.FindProcess(pid); err == nil {
				_ = p.Signal(syscall.SIGTERM)
			}
		}
		// Wait for the port to close so a following Start does not race.
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) && portOpen(s.opts.RedisPort) {
			time.Sleep(50 * time.Millisecond)
		}
	}
	return errors.Join(errs...)
}

// StopDir stops a stack left running by an earlier Start on dir.
func StopDir(o Options) error {
	abs, err := filepath.Abs(o.Dir)
	if err != nil {
		return err
	}
	o.Dir = abs
	s := &Stack{opts: o, pgData: pgDataDir(abs)}
	return s.Stop()
}

// pgDataDir is where the cluster lives. PostgreSQL refuses to run as root, so
// as root the cluster is owned by the "postgres" user and kept in a
// world-traversable temporary directory (a checkout under a private home or a
// 0700 temp dir could not be reached); a symlink under Dir points at it.
func pgDataDir(dir string) string {
	if os.Geteuid() != 0 {
		return filepath.Join(dir, "pg")
	}
	sum := sha256.Sum256([]byte(dir))
	return filepath.Join(os.TempDir(), "relance-pg-"+hex.EncodeToString(sum[:6]))
}

func (s *Stack) startPostgres(ctx context.Context) error {
	s.pgData = pgDataDir(s.opts.Dir)
	s.DatabaseURL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.opts.PGPort)
	if portOpen(s.opts.PGPort) {
		return waitPostgres(ctx, s.opts.PGPort)
	}
	if _, err := os.Stat(filepath.Join(s.pgData, "PG_VERSION")); err != nil {
		if err := os.MkdirAll(s.pgData, 0o700); err != nil {
			return fmt.Errorf("localstack: create %s: %w", s.pgData, err)
		}
		if err := s.chownToPostgres(s.pgData); err != nil {
			return err
		}
		out, err := s.pgCommand("initdb", "-D", s.pgData, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync", "--locale=C").CombinedOutput()
		if err != nil {
			return fmt.Errorf("localstack: initdb: %v: %s", err, out)
		}
	}
	if os.Geteuid() == 0 {
		link := filepath.Join(s.opts.Dir, "pg")
		if _, err := os.Lstat(link); errors.Is(err, os.ErrNotExist) {
			_ = os.Symlink(s.pgData, link)
		}
	}
	opts := []string{
		"-p", strconv.Itoa(s.opts.PGPort),
		"-k", s.pgData,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "max_connections=400",
		"-c", "shared_buffers=256MB",
	}
	if s.opts.Fast {
		opts = append(opts, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	out, err := s.pgCommand("pg_ctl", "-D", s.pgData, "-l", filepath.Join(s.pgData, "server.log"), "-w", "-t", "60", "-o", strings.Join(opts, " "), "start").CombinedOutput()
	if err != nil {
		return fmt.Errorf("localstack: start postgres: %v: %s", err, out)
	}
	return waitPostgres(ctx, s.opts.PGPort)
}

func (s *Stack) startRedis(ctx context.Context) error {
	s.RedisURL = fmt.Sprintf("redis://127.0.0.1:%d/0", s.opts.RedisPort)
	if portOpen(s.opts.RedisPort) {
		return nil
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return errors.New("localstack: redis-server not found on PATH: install Debian's redis-server (make deps does it)")
	}
	dir := filepath.Join(s.opts.Dir, "redis")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("localstack: create %s: %w", dir, err)
	}
	args := []string{
		"--port", strconv.Itoa(s.opts.RedisPort), "--bind", "127.0.0.1",
		"--dir", dir, "--daemonize", "yes",
		"--pidfile", filepath.Join(dir, "redis.pid"), "--logfile", filepath.Join(dir, "redis.log"),
		"--databases", "1024", "--save", "",
		// asynq keys must never be evicted.
		"--maxmemory-policy", "noeviction",
	}
	if !s.opts.Fast {
		args = append(args, "--appendonly", "yes")
	}
	if out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("localstack: start redis: %v: %s", err, out)
	}
	deadline := time.Now().Add(15 * time.Second)
	for !portOpen(s.opts.RedisPort) {
		if time.Now().After(deadline) {
			return fmt.Errorf("localstack: redis did not open port %d (see %s)", s.opts.RedisPort, filepath.Join(dir, "redis.log"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// pgCommand runs a PostgreSQL binary, as the postgres user when we are root.
func (s *Stack) pgCommand(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(pgBin(name), args...)
	cmd.Dir = os.TempDir()
	if os.Geteuid() == 0 {
		if uid, gid, err := postgresUser(); err == nil {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
		}
	}
	return cmd
}

func (s *Stack) chownToPostgres(path string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	uid, gid, err := postgresUser()
	if err != nil {
		return fmt.Errorf("localstack: running as root needs a 'postgres' user: %w", err)
	}
	return os.Chown(path, int(uid), int(gid))
}

func postgresUser() (uint32, uint32, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return 0, 0, err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return uint32(uid), uint32(gid), nil
}

// pgBin finds a PostgreSQL program: on PATH, else in Debian's versioned
// directories (newest first).
func pgBin(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if len(matches) > 0 {
		return matches[len(matches)-1]
	}
	return name
}

func portOpen(port int) bool {
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 200*time.Millisecond)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}

func waitPostgres(ctx context.Context, port int) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := exec.CommandContext(ctx, pgBin("pg_isready"), "-h", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "postgres").CombinedOutput()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("localstack: postgres not ready on %d: %s", port, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("localstack: lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("localstack: lock %s: %w", path, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	}, nil
}
