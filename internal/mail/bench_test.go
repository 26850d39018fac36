package mail

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relance/relance/internal/mail/resendtest"
	"github.com/relance/relance/internal/platform/testenv"
)

// fiveItemCart is SampleData (EN) with five cart lines.
func fiveItemCart() *Data {
	d := SampleData(LocaleEN)
	base := d.Lines
	d.Lines = nil
	for i := range 5 {
		l := base[i%len(base)]
		l.Title = fmt.Sprintf("%s #%d", l.Title, i+1)
		d.Lines = append(d.Lines, l)
	}
	d.Subtotal = Money{Amount: "230.00", Currency: "EUR"}
	d.Total = d.Subtotal
	return d
}

// BenchmarkRender5ItemCart renders the compiled default checkout/1 (EN) for
// a 5-line cart. Run with -cpu 1: renders/s is then per core.
//
//	go test ./internal/mail -run '^$' -bench Render5ItemCart -cpu 1 -benchmem
func BenchmarkRender5ItemCart(b *testing.B) {
	tpl, ok := DefaultTemplate("checkout/1", LocaleEN)
	if !ok {
		b.Fatal("no default checkout/1")
	}
	c, err := Compile(tpl)
	if err != nil {
		b.Fatal(err)
	}
	d := fiveItemCart()
	if r, err := c.Render(d); err != nil {
		b.Fatal(err)
	} else if n := countSubstr(r.HTML, "#5"); n == 0 {
		b.Fatal("the fifth line is not rendered")
	}
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu0 := time.Now(), processCPU()
	for i := 0; i < b.N; i++ {
		if _, err := c.Render(d); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "renders/s")
	// On a shared machine wall time includes time other processes took;
	// process CPU time (user+system, GC included) does not.
	if cpu := processCPU() - cpu0; cpu > 0 {
		b.ReportMetric(float64(b.N)/cpu.Seconds(), "renders/cpu-s")
	}
}

func countSubstr(s, sub string) int {
	n := 0
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			n++
		}
	}
	return n
}

// BenchmarkSendBurst: MAIL_BENCH_N (default 2,000) emails fall due at once
// and are sent concurrently through the real Resend sender (pacer in Redis,
// batching) to the stand-in limited to 5 requests/s. The ceiling is 5 × 100
// = 500 emails/s. Each iteration is one burst; run with -benchtime 1x.
// Needs PostgreSQL and Redis (TEST_DATABASE_URL / TEST_REDIS_URL, or the
// shared test stack). MAIL_BENCH_GAPS=1 logs the spacing of the requests.
//
//	go test ./internal/mail -run '^$' -bench SendBurst -benchtime 1x
func BenchmarkSendBurst(b *testing.B) {
	if testing.Short() {
		b.Skip("needs PostgreSQL and Redis")
	}
	n := 2000
	if v, err := strconv.Atoi(os.Getenv("MAIL_BENCH_N")); err == nil && v > 0 {
		n = v
	}
	const limit, ceiling = 5, 5 * maxBatch
	c, err := compiledOnce()
	if err != nil {
		b.Fatal(err)
	}
	r, err := c.Render(SampleData(LocaleEN))
	if err != nil {
		b.Fatal(err)
	}
	var rates, sustained []float64
	var dups, lost, failed, requests, throttled int
	nextID := int64(1)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		db := testenv.DB(b)
		opt, err := redis.ParseURL(testenv.RedisURL(b))
		if err != nil {
			b.Fatal(err)
		}
		rdb := redis.NewClient(opt)
		fake := resendtest.New(b, resendtest.Options{RateLimit: limit})
		pacer := NewPacer(rdb, "")
		pacer.DefaultLimit = limit
		u, _ := url.Parse(fake.URL)
		rec := &recordingTransport{base: http.DefaultTransport}
		sender, err := NewResend(ResendOptions{DB: db, APIKey: fake.APIKey(), BaseURL: u, Pacer: pacer, Backoff: 10 * time.Millisecond,
			HTTP: &http.Client{Timeout: 30 * time.Second, Transport: rec}})
		if err != nil {
			b.Fatal(err)
		}
		shopID := newShop(b, db, fmt.Sprintf("bench%d.myshopify.com", i))
		msgs := make([]*Message, n)
		for j := range msgs {
			id := nextID
			nextID++
			msgs[j] = &Message{ID: id, ShopID: shopID, ContactID: id, FromName: SenderName("Claire", "Maison & Co.", LocaleEN),
				FromEmail: "claire@mail.maison.example", ReplyTo: "hello@maison.example", To: fmt.Sprintf("shopper%d@gmail.com", id),
				Flow: "checkout_abandonment", Step: "reminder-1", UnsubscribeURL: "https://app.relance.example/u/tok" + fmt.Sprint(id), Content: *r}
		}
		b.StartTimer()

		start := time.Now()
		var wg sync.WaitGroup
		errs := make([]error, n)
		for j, m := range msgs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				defer cancel()
				_, errs[j] = sender.Send(ctx, m)
			}()
		}
		wg.Wait()
		elapsed := time.Since(start)

		b.StopTimer()
		for _, err := range errs {
			if err != nil {
				failed++
			}
		}
		seen := map[string]int{}
		for _, e := range fake.Emails() {
			seen[e.Tags["message"]]++
		}
		for _, m := range msgs {
			switch k := seen[strconv.FormatInt(m.ID, 10)]; {
			case k == 0:
				lost++
			case k > 1:
				dups += k - 1
			}
		}
		rq, th := fake.Stats()
		requests += rq
		throttled += th
		rates = append(rates, float64(n)/elapsed.Seconds())
		sus, first, span := rec.sustained()
		sustained = append(sustained, sus)
		b.Logf("burst %d: %d emails in %v = %.1f emails/s end to end (%.1f%% of %d/s); first request after %v, "+
			"requests %d over %v = %.1f emails/s sustained (%.1f%%); sizes %v; mean round trip %v; 429s %d",
			i, n, elapsed.Round(time.Millisecond), rates[i], 100*rates[i]/ceiling, ceiling, first.Sub(start).Round(time.Millisecond),
			rq, span.Round(time.Millisecond), sus, 100*sus/ceiling, rec.sizes(), rec.meanRoundTrip().Round(time.Millisecond), th)
		if os.Getenv("MAIL_BENCH_GAPS") != "" {
			b.Logf("gaps (ms): %s", rec.gaps())
		}
		_ = rdb.Close()
	}
	var sum float64
	for _, v := range rates {
		sum += v
	}
	mean := sum / float64(len(rates))
	var ssum float64
	for _, v := range sustained {
		ssum += v
	}
	smean := ssum / float64(len(sustained))
	b.ReportMetric(mean, "e2e_emails/s")
	b.ReportMetric(100*mean/ceiling, "e2e_%ceiling")
	b.ReportMetric(smean, "sustained_emails/s")
	b.ReportMetric(100*smean/ceiling, "sustained_%ceiling")
	b.ReportMetric(float64(dups), "duplicates")
	b.ReportMetric(float64(lost), "lost")
	b.ReportMetric(float64(failed), "failed")
	b.ReportMetric(float64(requests)/float64(b.N), "requests/burst")
	b.ReportMetric(float64(throttled), "429s")
	if dups > 0 || lost > 0 || failed > 0 {
		b.Errorf("duplicates %d, lost %d, failed sends %d", dups, lost, failed)
	}
}

// recordingTransport notes when each successful send request to the
// stand-in started and how many emails it carried.
type recordingTransport struct {
	base http.RoundTripper
	mu   sync.Mutex
	at   []time.Time
	n    []int
	took []time.Duration // every request's round trip
	all  []time.Time     // every request's start, refused ones included
}

func (t *recordingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	var body []byte
	if r.Body != nil {
		var err error
		if body, err = io.ReadAll(r.Body); err != nil {
			return nil, err
		}
		_ = r.Body.Close()
		r = r.Clone(r.Context())
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
	}
	t.mu.Lock()
	t.all = append(t.all, start)
	t.mu.Unlock()
	res, err := t.base.RoundTrip(r)
	if err == nil {
		t.mu.Lock()
		t.took = append(t.took, time.Since(start))
		t.mu.Unlock()
	}
	if err == nil && res.StatusCode == http.StatusOK {
		n := 1
		if strings.HasSuffix(r.URL.Path, "/batch") {
			var arr []json.RawMessage
			if json.Unmarshal(body, &arr) == nil {
				n = len(arr)
			}
		}
		t.mu.Lock()
		t.at = append(t.at, start)
		t.n = append(t.n, n)
		t.mu.Unlock()
	}
	return res, err
}

// sustained is the rate from the first accepted request to the last: the
// emails of all but the first request over the time between them.
func (t *recordingTransport) sustained() (float64, time.Time, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.at) < 2 {
		return 0, time.Time{}, 0
	}
	idx := make([]int, len(t.at))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return t.at[idx[a]].Before(t.at[idx[b]]) })
	first, last := t.at[idx[0]], t.at[idx[len(idx)-1]]
	emails := 0
	for _, i := range idx[1:] {
		emails += t.n[i]
	}
	span := last.Sub(first)
	return float64(emails) / span.Seconds(), first, span
}

// gaps lists the time between consecutive requests, and in brackets
// between each and the fifth before it (under 1 s: a 429 at 5 requests/s).
func (t *recordingTransport) gaps() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	at := slices.Clone(t.all)
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	var sb strings.Builder
	for i := range at {
		if i > 0 {
			fmt.Fprintf(&sb, " +%d", at[i].Sub(at[i-1]).Milliseconds())
		}
		if i >= 5 {
			fmt.Fprintf(&sb, "(%d)", at[i].Sub(at[i-5]).Milliseconds())
		}
	}
	return sb.String()
}

// meanRoundTrip is the mean time from sending a request to its answer.
func (t *recordingTransport) meanRoundTrip() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.took) == 0 {
		return 0
	}
	var sum time.Duration
	for _, d := range t.took {
		sum += d
	}
	return sum / time.Duration(len(t.took))
}

func (t *recordingTransport) sizes() []int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]int(nil), t.n...)
}

// The fast paths of Money.Format and lineTotal write what math/big would.
func TestCentsFastPathMatchesBigRat(t *testing.T) {
	for _, a := range []string{"0", "0.0", "0.00", "5", "5.5", "59.00", "059.00", "18.50", "1234567.89", "999999999999999.99", "0.01", "100"} {
		c, ok := parseCents(a)
		if !ok {
			t.Fatalf("%q not parsed", a)
		}
		r, _ := new(big.Rat).SetString(a)
		if got, want := formatCents(c), r.FloatString(2); got != want {
			t.Errorf("%q: %q, want %q", a, got, want)
		}
		for _, q := range []int{1, 2, 7, 1000} {
			l := Line{Quantity: q, Price: Money{Amount: a, Currency: "EUR"}}
			rq := new(big.Rat).Mul(r, big.NewRat(int64(q), 1))
			if got := lineTotal(l).Amount; got != rq.FloatString(2) && a != "0" && a != "0.0" && a != "0.00" {
				t.Errorf("%q × %d: %q, want %q", a, q, got, rq.FloatString(2))
			}
		}
	}
	for _, a := range []string{"", ".5", "5.", "-1.00", "1e3", "1.005", "+1", "1 000", "0x10", "1234567890123456"} {
		if _, ok := parseCents(a); ok {
			t.Errorf("%q should take the math/big path", a)
		}
	}
}

// processCPU is the user+system CPU time of this process so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
