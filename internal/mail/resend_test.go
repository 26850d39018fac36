package mail

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/relance/relance/internal/mail/resendtest"
	"github.com/relance/relance/internal/platform/testenv"
)

type sendBundle struct {
	db     *gorm.DB
	rdb    *redis.Client
	fake   *resendtest.Server
	pacer  *Pacer
	sender *Resend
	shopID int64
}

func newShop(t testing.TB, db *gorm.DB, domain string) int64 {
	t.Helper()
	var id int64
	require.NoError(t, db.Raw(`INSERT INTO shops (domain, name) VALUES (?, 'Maison') RETURNING id`, domain).Scan(&id).Error)
	return id
}

func setupSend(t *testing.T, fo resendtest.Options, so ResendOptions) *sendBundle {
	t.Helper()
	b := &sendBundle{db: testenv.DB(t)}
	opt, err := redis.ParseURL(testenv.RedisURL(t))
	require.NoError(t, err)
	b.rdb = redis.NewClient(opt)
	t.Cleanup(func() { b.rdb.Close() })
	b.fake = resendtest.New(t, fo)
	b.pacer = NewPacer(b.rdb, "")
	b.pacer.DefaultLimit = 5
	u, err := url.Parse(b.fake.URL)
	require.NoError(t, err)
	so.DB, so.APIKey, so.BaseURL, so.Pacer = b.db, b.fake.APIKey(), u, b.pacer
	if so.Backoff == 0 {
		so.Backoff = 10 * time.Millisecond
	}
	b.sender, err = NewResend(so)
	require.NoError(t, err)
	b.shopID = newShop(t, b.db, "maison.myshopify.com")
	return b
}

func (b *sendBundle) message(id int64, to string) *Message {
	r, err := mustCompile(b).Render(SampleData(LocaleEN))
	if err != nil {
		panic(err)
	}
	return &Message{ID: id, ShopID: b.shopID, ContactID: 7, FromName: SenderName("Claire", "Maison & Co.", LocaleEN),
		FromEmail: "claire@mail.maison.example", ReplyTo: "hello@maison.example", To: to,
		Flow: "checkout_abandonment", Step: "reminder-1", UnsubscribeURL: "https://app.relance.example/u/tok" + fmt.Sprint(id), Content: *r}
}

var compiledOnce = sync.OnceValues(func() (*Compiled, error) {
	t, _ := DefaultTemplate("checkout/1", LocaleEN)
	return Compile(t)
})

func mustCompile(*sendBundle) *Compiled {
	c, err := compiledOnce()
	if err != nil {
		panic(err)
	}
	return c
}

func TestResendSendsOnceWithHeadersAndTags(t *testing.T) {
	b := setupSend(t, resendtest.Options{}, ResendOptions{})
	ctx := context.Background()
	m := b.message(101, "shopper@gmail.com")
	id, err := b.sender.Send(ctx, m)
	require.NoError(t, err)
	require.NotEmpty(t, id)

	again, err := b.sender.Send(ctx, m)
	require.NoError(t, err)
	require.Equal(t, id, again)

	emails := b.fake.Emails()
	require.Len(t, emails, 1)
	e := emails[0]
	require.Equal(t, id, e.ID)
	require.Equal(t, `"Claire from Maison & Co." <claire@mail.maison.example>`, e.From)
	require.Equal(t, "hello@maison.example", e.ReplyTo)
	require.Equal(t, []string{"shopper@gmail.com"}, e.To)
	require.Equal(t, "<https://app.relance.example/u/tok101>", e.Headers["List-Unsubscribe"])
	require.Equal(t, "List-Unsubscribe=One-Click", e.Headers["List-Unsubscribe-Post"])
	require.Equal(t, map[string]string{"shop": fmt.Sprint(b.shopID), "flow": "checkout_abandonment", "step": "reminder-1", "message": "101"}, e.Tags)
	require.Equal(t, "relance-msg-101", e.IdempotencyKey)
	require.NotEmpty(t, e.Text)

	st, err := Status(ctx, b.db, b.shopID, 101)
	require.NoError(t, err)
	require.Equal(t, StatusSent, st.Status)
	require.Equal(t, id, st.ProviderID)
	_, err = Status(ctx, b.db, b.shopID+1, 101)
	require.ErrorIs(t, err, ErrNotFound, "another shop's message is invisible")
}

func TestResendValidationErrorIsFinal(t *testing.T) {
	b := setupSend(t, resendtest.Options{}, ResendOptions{})
	ctx := context.Background()
	_, err := b.sender.Send(ctx, b.message(5, "someone@example.com"))
	var rej *RejectedError
	require.ErrorAs(t, err, &rej)
	require.ErrorIs(t, err, ErrRejected)
	require.Equal(t, http.StatusUnprocessableEntity, rej.Status)
	require.Equal(t, "validation_error", rej.Code)
	reqs, _ := b.fake.Stats()

	_, err = b.sender.Send(ctx, b.message(5, "someone@example.com"))
	require.ErrorIs(t, err, ErrRejected)
	again, _ := b.fake.Stats()
	require.Equal(t, reqs, again, "a refused message is not sent again")
	st, err := Status(ctx, b.db, b.shopID, 5)
	require.NoError(t, err)
	require.Equal(t, StatusFailed, st.Status)
	require.Contains(t, st.Error, "example.com")

	// Refused before any call: no unsubscribe link, bad address.
	m := b.message(6, "not an address")
	_, err = b.sender.Send(ctx, m)
	require.ErrorIs(t, err, ErrRejected)
	m = b.message(7, "ok@gmail.com")
	m.UnsubscribeURL = ""
	_, err = b.sender.Send(ctx, m)
	require.ErrorIs(t, err, ErrRejected)
}

func TestResendRetriesServerErrors(t *testing.T) {
	b := setupSend(t, resendtest.Options{}, ResendOptions{})
	b.fake.FailNext(500, 503)
	id, err := b.sender.Send(context.Background(), b.message(9, "shopper@gmail.com"))
	require.NoError(t, err)
	require.Len(t, b.fake.Emails(), 1)
	require.Equal(t, id, b.fake.Emails()[0].ID)
}

func TestResendAuthErrorKeepsTheMessage(t *testing.T) {
	b := setupSend(t, resendtest.Options{APIKey: "re_other"}, ResendOptions{})
	b.sender.client.ApiKey = "re_wrong"
	_, err := b.sender.Send(context.Background(), b.message(11, "shopper@gmail.com"))
	require.Error(t, err)
	require.NotErrorIs(t, err, ErrRejected, "a bad API key is ours to fix, not the message's fault")
	st, err := Status(context.Background(), b.db, b.shopID, 11)
	require.NoError(t, err)
	require.Equal(t, StatusSending, st.Status)

	b.sender.client.ApiKey = "re_other"
	_, err = b.sender.Send(context.Background(), b.message(11, "shopper@gmail.com"))
	require.NoError(t, err)
	require.Len(t, b.fake.Emails(), 1)
}

// A response lost after Resend accepted the email: the retry replays the
// same request under the same key and gets the same email back.
func TestResendLostResponseDoesNotDuplicate(t *testing.T) {
	b := setupSend(t, resendtest.Options{}, ResendOptions{MaxAttempts: 1})
	ctx := context.Background()
	b.fake.LoseNextResponses(1)
	_, err := b.sender.Send(ctx, b.message(21, "shopper@gmail.com"))
	require.Error(t, err)
	require.NotErrorIs(t, err, ErrRejected)
	require.Len(t, b.fake.Emails(), 1, "Resend did send it")

	// The engine retries, even with a re-rendered body: the stored request
	// is what goes out.
	m := b.message(21, "shopper@gmail.com")
	m.Content.Subject = "re-rendered subject"
	id, err := b.sender.Send(ctx, m)
	require.NoError(t, err)
	require.Len(t, b.fake.Emails(), 1)
	require.Equal(t, b.fake.Emails()[0].ID, id)
}

// Many sends due at once share the rate limit through batches: nothing is
// lost, nothing doubled, Resend is never asked too fast.
func TestResendBatchesUnderLoad(t *testing.T) {
	b := setupSend(t, resendtest.Options{RateLimit: 5, Latency: 5 * time.Millisecond}, ResendOptions{})
	ctx := context.Background()
	const n = 250
	var wg sync.WaitGroup
	ids := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			ids[i], errs[i] = b.sender.Send(ctx, b.message(int64(1000+i), fmt.Sprintf("shopper%d@gmail.com", i)))
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for i := range n {
		require.NoError(t, errs[i])
		require.False(t, seen[ids[i]], "duplicate id")
		seen[ids[i]] = true
	}
	emails := b.fake.Emails()
	require.Len(t, emails, n)
	to := map[string]bool{}
	for _, e := range emails {
		require.False(t, to[e.To[0]], "an address got two emails")
		to[e.To[0]] = true
	}
	reqs, throttled := b.fake.Stats()
	require.Less(t, reqs, 20, "batched")
	require.Zero(t, throttled, "paced under the limit")
	var batched int64
	require.NoError(t, b.db.Raw(`SELECT count(*) FROM mail_batches WHERE completed_at IS NOT NULL`).Scan(&batched).Error)
	require.Positive(t, batched)
	var left int64
	require.NoError(t, b.db.Raw(`SELECT count(*) FROM mail_messages WHERE request IS NOT NULL OR status <> 'sent'`).Scan(&left).Error)
	require.Zero(t, left)
}

// A batch whose answer was lost is replayed whole by whichever member's
// retry comes first; the others then find their ids.
func TestResendBatchReplay(t *testing.T) {
	b := setupSend(t, resendtest.Options{RateLimit: 5}, ResendOptions{MaxAttempts: 1})
	ctx := context.Background()
	// Hold the pacer so the first sends queue up into one batch.
	require.NoError(t, b.pacer.Wait(ctx))
	b.fake.LoseNextResponses(1)
	const n = 6
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, _ = b.sender.Send(ctx, b.message(int64(300+i), fmt.Sprintf("s%d@gmail.com", i)))
		})
	}
	wg.Wait()
	sent := len(b.fake.Emails())
	require.Positive(t, sent)
	for i := range n {
		_, err := b.sender.Send(ctx, b.message(int64(300+i), fmt.Sprintf("s%d@gmail.com", i)))
		require.NoError(t, err)
	}
	emails := b.fake.Emails()
	require.Len(t, emails, n, "each shopper got exactly one email")
}

// When the limit is unknown and set too high, Resend's 429 and headers
// bring every sender in line; no email is lost.
func TestResend429PausesAndRetries(t *testing.T) {
	b := setupSend(t, resendtest.Options{RateLimit: 2}, ResendOptions{MaxAttempts: 10})
	b.pacer.DefaultLimit = 50
	ctx := context.Background()
	for i := range 4 {
		_, err := b.sender.Send(ctx, b.message(int64(400+i), fmt.Sprintf("p%d@gmail.com", i)))
		require.NoError(t, err)
	}
	require.Len(t, b.fake.Emails(), 4)
	limit, err := b.rdb.Get(ctx, "mail:resend:limit").Int()
	require.NoError(t, err)
	require.Equal(t, 2, limit, "the limit Resend states is shared with every worker")
}

func TestPacerIsSharedAcrossProcesses(t *testing.T) {
	opt, err := redis.ParseURL(testenv.RedisURL(t))
	require.NoError(t, err)
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	a, c := NewPacer(rdb, "p"), NewPacer(rdb, "p")
	a.DefaultLimit, c.DefaultLimit = 100, 100
	ctx := context.Background()
	start := time.Now()
	var wg sync.WaitGroup
	for _, p := range []*Pacer{a, c} {
		for range 3 {
			wg.Go(func() {
				for range 10 {
					require.NoError(t, p.Wait(ctx))
				}
			})
		}
	}
	wg.Wait()
	// 60 requests at 97 per second: at least 59 intervals.
	require.GreaterOrEqual(t, time.Since(start), 59*time.Second/97)

	// A 429 pauses everyone until retry-after.
	require.NoError(t, a.Observe(ctx, http.StatusTooManyRequests, http.Header{"Retry-After": {"1"}}))
	start = time.Now()
	require.NoError(t, c.Wait(ctx))
	require.GreaterOrEqual(t, time.Since(start), 900*time.Millisecond)
}

func TestOutboxStoresInsteadOfSending(t *testing.T) {
	db := testenv.DB(t)
	shopID := newShop(t, db, "dev.myshopify.com")
	other := newShop(t, db, "other.myshopify.com")
	o := NewOutbox(db)
	b := &sendBundle{shopID: shopID}
	ctx := context.Background()
	m := b.message(77, "shopper@gmail.com")
	id, err := o.Send(ctx, m)
	require.NoError(t, err)
	again, err := o.Send(ctx, m)
	require.NoError(t, err)
	require.Equal(t, id, again)

	list, err := o.List(ctx, shopID, 10)
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, m.Content.Subject, list[0].Subject)
	require.Empty(t, list[0].HTML)
	require.Equal(t, "List-Unsubscribe=One-Click", list[0].Headers["List-Unsubscribe-Post"])
	got, err := o.Get(ctx, shopID, 77)
	require.NoError(t, err)
	require.Equal(t, m.Content.HTML, got.HTML)
	_, err = o.Get(ctx, other, 77)
	require.True(t, errors.Is(err, ErrNotFound))
	st, err := Status(ctx, db, shopID, 77)
	require.NoError(t, err)
	require.Equal(t, StatusSent, st.Status)
}

// In a batch, one refused address fails alone (permissive validation).
func TestResendBatchItemErrorFailsOnlyThatEmail(t *testing.T) {
	b := setupSend(t, resendtest.Options{RateLimit: 5}, ResendOptions{})
	ctx := context.Background()
	require.NoError(t, b.pacer.Wait(ctx)) // hold the turn so the sends batch
	const n = 5
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		to := fmt.Sprintf("ok%d@gmail.com", i)
		if i == 2 {
			to = "bad@example.com"
		}
		wg.Go(func() { _, errs[i] = b.sender.Send(ctx, b.message(int64(500+i), to)) })
	}
	wg.Wait()
	for i, err := range errs {
		if i == 2 {
			require.ErrorIs(t, err, ErrRejected)
			continue
		}
		require.NoError(t, err)
	}
	require.Len(t, b.fake.Emails(), n-1)
	st, err := Status(ctx, b.db, b.shopID, 502)
	require.NoError(t, err)
	require.Equal(t, StatusFailed, st.Status)
	require.Contains(t, st.Error, "resend 422 validation_error")
	var batches int64
	require.NoError(t, b.db.Raw(`SELECT count(*) FROM mail_batches`).Scan(&batches).Error)
	require.Positive(t, batches, "went through the batch endpoint")
}

// Past Resend's 24-hour idempotency window an unknown outcome is not
// replayed: a second email is worse than a missing one.
func TestResendDoesNotReplayPastTheKeyWindow(t *testing.T) {
	b := setupSend(t, resendtest.Options{}, ResendOptions{MaxAttempts: 1})
	ctx := context.Background()
	b.fake.LoseNextResponses(1)
	_, err := b.sender.Send(ctx, b.message(31, "shopper@gmail.com"))
	require.Error(t, err)
	require.NoError(t, b.db.Exec(`UPDATE mail_messages SET attempted_at = now() - interval '25 hours' WHERE id = 31`).Error)
	_, err = b.sender.Send(ctx, b.message(31, "shopper@gmail.com"))
	require.ErrorIs(t, err, ErrRejected)
	reqs, _ := b.fake.Stats()
	require.Equal(t, 1, reqs)
}

// The pacer books a turn ahead; a request leaving keeps a second's
// distance (plus a margin) from the limit-th last one that left, even when
// those left late.
func TestPacerBooksAheadAndKeepsTheWindowAfterLateDepartures(t *testing.T) {
	opt, err := redis.ParseURL(testenv.RedisURL(t))
	require.NoError(t, err)
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	p := NewPacer(rdb, "ahead")
	p.DefaultLimit, p.Headroom = 5, 1
	ctx := context.Background()

	start := time.Now()
	first, err := p.Reserve(ctx)
	require.NoError(t, err)
	second, err := p.Reserve(ctx)
	require.NoError(t, err)
	require.Less(t, time.Since(start), 150*time.Millisecond, "the second turn is booked, not waited for")
	require.InDelta(t, 200*time.Millisecond, second.Sub(first), float64(20*time.Millisecond))

	// Five requests leave together, behind their turns: the sixth leaves a
	// window after the first of them.
	q := NewPacer(rdb, "late")
	q.DefaultLimit = 5
	start = time.Now()
	for range 5 {
		require.NoError(t, q.Depart(ctx))
	}
	require.Less(t, time.Since(start), 150*time.Millisecond)
	require.NoError(t, q.Depart(ctx))
	require.GreaterOrEqual(t, time.Since(start), window-20*time.Millisecond)
}

// Requests overlap: the next batch goes out on its pacer turn while the
// previous one is still being answered, instead of after it.
func TestResendSendsTheNextBatchWhileOneIsAnswered(t *testing.T) {
	rec := &recordingTransport{base: http.DefaultTransport}
	latency := 500 * time.Millisecond
	b := setupSend(t, resendtest.Options{RateLimit: 5, Latency: latency}, ResendOptions{HTTP: &http.Client{Transport: rec}})
	ctx := context.Background()
	const n = 400
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = b.sender.Send(ctx, b.message(int64(2000+i), fmt.Sprintf("o%d@gmail.com", i)))
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	require.Len(t, b.fake.Emails(), n)
	rec.mu.Lock()
	at := slices.Clone(rec.all)
	rec.mu.Unlock()
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	require.GreaterOrEqual(t, len(at), 3)
	overlapped := 0
	for i := 1; i < len(at); i++ {
		if at[i].Sub(at[i-1]) < latency {
			overlapped++
		}
	}
	require.Positive(t, overlapped, "one request at a time: %v", at)
}

// Claims are recorded together; a message that cannot be recorded (its
// shop is gone) fails alone.
func TestResendClaimsTogetherAndABadOneFailsAlone(t *testing.T) {
	b := setupSend(t, resendtest.Options{RateLimit: 5}, ResendOptions{})
	ctx := context.Background()
	const n = 60
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			m := b.message(int64(3000+i), fmt.Sprintf("c%d@gmail.com", i))
			if i == 7 {
				m.ShopID = b.shopID + 1000
			}
			_, errs[i] = b.sender.Send(ctx, m)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if i == 7 {
			require.Error(t, err)
			require.NotErrorIs(t, err, ErrRejected)
			continue
		}
		require.NoError(t, err, "message %d", i)
	}
	require.Len(t, b.fake.Emails(), n-1)
}
