package webhook

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/relance/relance/internal/platform"
	"github.com/relance/relance/internal/platform/testenv"
	"github.com/relance/relance/internal/shopify"
)

// The test stack runs PostgreSQL with fsync off: these numbers compare code
// paths; docs/benchmarks.md has the durable end-to-end figures.

// BenchmarkIngestHandler is the whole handler path: headers, HMAC verify,
// JSON check and the group-committed insert, from parallel goroutines.
func BenchmarkIngestHandler(b *testing.B) {
	for _, flushers := range []int{2, 4, 8} {
		b.Run("flushers="+strconv.Itoa(flushers), func(b *testing.B) {
			db := testenv.DB(b)
			require.NoError(b, db.Exec(`INSERT INTO shops (domain) VALUES ('bench.myshopify.com')`).Error)
			in, err := NewIngest(db, nil, IngestConfig{
				Secrets: shopify.Secrets{Current: testSecret}, Flushers: flushers,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			})
			require.NoError(b, err)
			defer in.Close(context.Background())
			sig := shopify.SignWebhook(testSecret, orderBody)
			var seq atomic.Int64
			b.SetParallelism(16) // many requests in flight, as under real load
			b.SetBytes(int64(len(orderBody)))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					d := newDelivery("bench.myshopify.com", "orders/create")
					d.webhookID = "bench-" + strconv.FormatInt(seq.Add(1), 10)
					d.hmac = sig
					req := httptest.NewRequest(http.MethodPost, "/webhooks/shopify", nil)
					req.Header = d.request(b, "http://x/").Header
					req.Body = io.NopCloser(readerOf(orderBody))
					req.ContentLength = int64(len(orderBody))
					w := httptest.NewRecorder()
					in.ServeHTTP(w, req)
					if w.Code != http.StatusOK {
						b.Fatalf("status %d", w.Code)
					}
				}
			})
		})
	}
}

// BenchmarkBatchInsert compares the two ways to reach PostgreSQL under
// gorm's pool for one group commit of 64 rows: native pgx (binary arrays,
// what batch.go uses) and gorm's Raw over database/sql.
func BenchmarkBatchInsert(b *testing.B) {
	const rows = 64
	db := testenv.DB(b)
	require.NoError(b, db.Exec(`INSERT INTO shops (domain) VALUES ('bench.myshopify.com')`).Error)
	bt, err := newBatcher(db, nil, batcherConfig{Flushers: 1}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(b, err)
	defer bt.close(context.Background())
	var seq atomic.Int64
	mk := func() []*pending {
		out := make([]*pending, rows)
		for i := range out {
			out[i] = &pending{d: &Delivery{
				ShopDomain: "bench.myshopify.com", Topic: "orders/create", WebhookID: "b-" + strconv.FormatInt(seq.Add(1), 10),
				EventID: "e", APIVersion: "2026-10", TriggeredAt: time.Now(), Payload: orderBody,
			}}
		}
		return out
	}
	b.Run("pgx-native", func(b *testing.B) {
		for b.Loop() {
			if _, err := bt.insert(mk()); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
	})
	b.Run("gorm-raw", func(b *testing.B) {
		for b.Loop() {
			ps := mk()
			shops, ids, events, topics, versions, payloads := make([]string, rows), make([]string, rows), make([]string, rows), make([]string, rows), make([]string, rows), make([]string, rows)
			trig := make([]time.Time, rows)
			for i, p := range ps {
				shops[i], ids[i], events[i], topics[i], versions[i], payloads[i], trig[i] = p.d.ShopDomain, p.d.WebhookID, p.d.EventID, p.d.Topic, p.d.APIVersion, string(p.d.Payload), p.d.TriggeredAt
			}
			var out []struct{ Ord, ID int64 }
			if err := db.Raw(insertSQL, shops, ids, events, topics, versions, trig, payloads, complianceList).Scan(&out).Error; err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
	})
}

// BenchmarkEnqueue compares one asynq task per row with one per batch (64
// rows), per row handed over.
func BenchmarkEnqueue(b *testing.B) {
	const rows = 64
	opt, err := platform.RedisOpt(testenv.RedisURL(b))
	require.NoError(b, err)
	c := asynq.NewClient(opt)
	defer c.Close()
	var seq atomic.Int64
	b.Run("per-row", func(b *testing.B) {
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				t := asynq.NewTask("bench:row", []byte(`{"inbox_id":123456789}`))
				if _, err := c.Enqueue(t, asynq.Queue("bench"), asynq.TaskID(fmt.Sprint("r", seq.Add(1)))); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/row")
	})
	b.Run("per-batch", func(b *testing.B) {
		n := 0
		for b.Loop() {
			n++
			if n%rows != 0 {
				continue // one task carries 64 rows
			}
			t, _ := NewProcessTask(seq.Add(1))
			if _, err := c.Enqueue(t, asynq.Queue("bench")); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/row")
	})
}

type byteReader struct {
	b []byte
	i int
}

func readerOf(b []byte) *byteReader { return &byteReader{b: b} }

func (r *byteReader) Read(p []byte) (int, error) {
	if r.i >= len(r.b) {
		return 0, io.EOF
	}
	n := copy(p, r.b[r.i:])
	r.i += n
	return n, nil
}
