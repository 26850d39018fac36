// Package loadgen is the closed-loop HTTP load driver shared by the bench
// load generators (bench/webhookload, bench/pixelload): keep-alive clients,
// a loopback-only guard, per-connection workers reused across phases, and
// the report (req/s, latency percentiles, statuses).
package loadgen

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// RequireLoopback refuses any URL whose host is not a loopback address:
// these tools only load local servers.
func RequireLoopback(urls ...string) error {
	for _, raw := range urls {
		if raw == "" {
			continue
		}
		if err := requireLoopback(raw); err != nil {
			return err
		}
	}
	return nil
}

func requireLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%s is not a loopback address: this tool only loads local servers", raw)
}

// NewClient returns a keep-alive client sized for c concurrent requests.
func NewClient(c int, timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			MaxIdleConns: c * 2, MaxIdleConnsPerHost: c * 2, MaxConnsPerHost: c * 2,
			IdleConnTimeout: time.Minute, DisableCompression: true,
		},
	}
}

// Worker is one connection's state. Acked and Seq persist across phases;
// Lat, Codes and Errs are per phase.
type Worker struct {
	N     int
	Seq   int
	Rng   *mrand.Rand
	Acked map[string]struct{}
	lat   []time.Duration
	codes map[int]int
	errs  int
}

// Pool holds the workers, reused across phases so that acknowledged keys
// accumulate per connection.
type Pool struct {
	Workers []*Worker
}

// Result of one phase.
type Result struct {
	Workers []*Worker
	Elapsed time.Duration
}

// Phase runs c workers in a closed loop for d, each calling do until the
// deadline. do returns the HTTP status, or an error for a transport failure.
func (p *Pool) Phase(c int, d time.Duration, do func(*Worker) (int, error)) Result {
	for len(p.Workers) < c {
		n := len(p.Workers)
		p.Workers = append(p.Workers, &Worker{N: n, Rng: mrand.New(mrand.NewPCG(uint64(n), uint64(time.Now().UnixNano()))), Acked: map[string]struct{}{}})
	}
	ws := p.Workers[:c]
	for _, w := range ws {
		w.lat, w.codes, w.errs = w.lat[:0], map[int]int{}, 0
	}
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				t0 := time.Now()
				status, err := do(w)
				if err != nil {
					w.errs++
					continue
				}
				w.lat = append(w.lat, time.Since(t0))
				w.codes[status]++
			}
		})
	}
	wg.Wait()
	return Result{Workers: ws, Elapsed: time.Since(start)}
}

// Requests is the number of answered requests of the phase.
func (r Result) Requests() int {
	n := 0
	for _, w := range r.Workers {
		n += len(w.lat)
	}
	return n
}

// Codes sums the statuses of the phase.
func (r Result) Codes() map[int]int {
	codes := map[int]int{}
	for _, w := range r.Workers {
		for k, v := range w.codes {
			codes[k] += v
		}
	}
	return codes
}

// Print writes the phase's report.
func (r Result) Print(name string) {
	var lat []time.Duration
	errs := 0
	for _, w := range r.Workers {
		lat = append(lat, w.lat...)
		errs += w.errs
	}
	codes := r.Codes()
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[int(math.Ceil(p*float64(len(lat))))-1]
	}
	var keys []int
	for k := range codes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var sc []string
	for _, k := range keys {
		sc = append(sc, fmt.Sprintf("%d=%d", k, codes[k]))
	}
	fmt.Printf("%s\n  requests %d in %s: %.0f req/s\n  latency p50 %s  p90 %s  p99 %s  max %s\n  status %s  transport errors %d\n",
		name, len(lat), r.Elapsed.Round(time.Millisecond), float64(len(lat))/r.Elapsed.Seconds(),
		pct(.50).Round(10*time.Microsecond), pct(.90).Round(10*time.Microsecond), pct(.99).Round(10*time.Microsecond), pct(1).Round(10*time.Microsecond),
		strings.Join(sc, " "), errs)
}

// Get issues a GET and drains the answer.
func Get(client *http.Client, u string) (int, error) {
	resp, err := client.Get(u)
	if err != nil {
		return 0, err
	}
	return Drain(resp), nil
}

// Drain reads and closes the body (keeping the connection alive) and
// returns the status.
func Drain(resp *http.Response) int {
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode
}

// RandHex returns n random bytes, hex-encoded (a run id).
func RandHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// LoadAvg is the machine's 1, 5 and 15-minute load averages, printed beside
// every figure because the benchmarks share the machine ("?" when unknown).
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
