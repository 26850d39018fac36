package webhook

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/relance/relance/internal/platform"
)

// redisProc is a redis-server of our own, so the test can kill it.
type redisProc struct {
	port int
	cmd  *exec.Cmd
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func startRedis(t *testing.T, port int) *redisProc {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not on PATH")
	}
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no")
	require.NoError(t, cmd.Start())
	r := &redisProc{port: port, cmd: cmd}
	t.Cleanup(r.kill)
	require.Eventually(t, func() bool {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 100*time.Millisecond)
		if err == nil {
			_ = c.Close()
		}
		return err == nil
	}, 10*time.Second, 20*time.Millisecond)
	return r
}

func (r *redisProc) kill() {
	if r.cmd.Process != nil && r.cmd.ProcessState == nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
	}
}

// TestRedisLossLosesNothing: Redis dies mid-run (with every queued task);
// ingest keeps answering 200 from PostgreSQL; after a restart the
// reconciler re-enqueues what is pending, and every delivery is processed
// exactly once.
func TestRedisLossLosesNothing(t *testing.T) {
	port := freePort(t)
	rp := startRedis(t, port)
	redisURL := fmt.Sprintf("redis://127.0.0.1:%d/0", port)
	tb := setup(t, setupOpts{redisURL: redisURL})
	shops := []string{"r1.myshopify.com", "r2.myshopify.com"}
	for _, s := range shops {
		installShop(t, tb.db, s)
	}

	var mu sync.Mutex
	calls := map[string]int{}
	reg := NewRegistry()
	for _, topic := range []string{"orders/create", "checkouts/update"} {
		reg.Handle(topic, func(_ context.Context, d Delivery) error {
			mu.Lock()
			calls[d.WebhookID]++
			mu.Unlock()
			return nil
		})
	}
	disp, err := NewDispatcher(tb.db, reg, DispatcherConfig{})
	require.NoError(t, err)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := asynq.NewServer(tb.redisOpt, asynq.Config{
		Concurrency: 8, Queues: platform.Queues, Logger: asynqQuiet{quiet}, LogLevel: asynq.FatalLevel,
		ShutdownTimeout: 5 * time.Second,
	})
	mux := asynq.NewServeMux()
	mux.HandleFunc(TypeProcess, disp.HandleProcess)
	require.NoError(t, srv.Start(mux))
	t.Cleanup(srv.Shutdown)

	var acked []string
	sendWave := func(n int) {
		var wg sync.WaitGroup
		var amu sync.Mutex
		for i := range n {
			wg.Go(func() {
				d := newDelivery(shops[i%2], []string{"orders/create", "checkouts/update"}[i%2])
				status := d.send(t, tb.url)
				require.Equal(t, http.StatusOK, status)
				amu.Lock()
				acked = append(acked, d.webhookID)
				amu.Unlock()
			})
		}
		wg.Wait()
	}

	sendWave(150) // Redis up
	rp.kill()
	sendWave(150) // Redis down: ingest does not depend on it
	var pending int64
	require.NoError(t, tb.db.Raw(`SELECT count(*) FROM webhook_inbox WHERE status = 'pending'`).Scan(&pending).Error)
	require.Positive(t, pending, "deliveries taken while Redis was down wait in the inbox")
	startRedis(t, port) // empty: every queued task is gone
	sendWave(100)

	rec, err := NewReconciler(tb.db, tb.client, ReconcilerConfig{Grace: time.Millisecond, Logger: quiet})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, err := rec.Run(context.Background())
		if err != nil {
			return false // the client reconnects to the restarted Redis
		}
		var left int64
		require.NoError(t, tb.db.Raw(`SELECT count(*) FROM webhook_inbox WHERE status <> 'done'`).Scan(&left).Error)
		return left == 0
	}, 60*time.Second, 200*time.Millisecond)

	require.Len(t, acked, 400)
	require.Equal(t, int64(400), countInbox(t, tb.db))
	mu.Lock()
	defer mu.Unlock()
	for _, id := range acked {
		require.Equal(t, 1, calls[id], "delivery %s processed exactly once", id)
	}
	require.Len(t, calls, 400)
}

// TestReconcilerDoesNotDoubleQueue: a batch still queued is not queued again.
func TestReconcilerDoesNotDoubleQueue(t *testing.T) {
	tb := setup(t, setupOpts{})
	installShop(t, tb.db, shopA)
	d := newDelivery(shopA, "orders/create")
	require.Equal(t, http.StatusOK, d.send(t, tb.url))
	in := asynq.NewInspector(tb.redisOpt)
	defer in.Close()
	require.Eventually(t, func() bool {
		info, err := in.GetQueueInfo(platform.QueueWebhooks)
		return err == nil && info.Pending == 1
	}, 5*time.Second, 20*time.Millisecond)

	rec, err := NewReconciler(tb.db, tb.client, ReconcilerConfig{Grace: time.Millisecond})
	require.NoError(t, err)
	time.Sleep(5 * time.Millisecond)
	st, err := rec.Run(context.Background())
	require.NoError(t, err)
	require.Equal(t, ReconcileStats{AlreadyQueued: 1}, st)

	// Lost from Redis: queued again, once.
	batch := inboxRows(t, tb.db, "")[0].BatchID
	require.NoError(t, in.DeleteTask(platform.QueueWebhooks, ProcessTaskID(batch)))
	st, err = rec.Run(context.Background())
	require.NoError(t, err)
	require.Equal(t, ReconcileStats{Enqueued: 1}, st)
	info, err := in.GetQueueInfo(platform.QueueWebhooks)
	require.NoError(t, err)
	require.Equal(t, 1, info.Pending)

	// Within the grace period nothing is touched.
	young, err := NewReconciler(tb.db, tb.client, ReconcilerConfig{Grace: time.Hour})
	require.NoError(t, err)
	st, err = young.Run(context.Background())
	require.NoError(t, err)
	require.Equal(t, ReconcileStats{}, st)
}

// asynqQuiet keeps the killed-Redis noise out of the test output.
type asynqQuiet struct{ l *slog.Logger }

func (q asynqQuiet) Debug(args ...any) { q.l.Debug(fmt.Sprint(args...)) }
func (q asynqQuiet) Info(args ...any)  { q.l.Info(fmt.Sprint(args...)) }
func (q asynqQuiet) Warn(args ...any)  { q.l.Warn(fmt.Sprint(args...)) }
func (q asynqQuiet) Error(args ...any) { q.l.Error(fmt.Sprint(args...)) }
func (q asynqQuiet) Fatal(args ...any) { q.l.Error(fmt.Sprint(args...)) }
