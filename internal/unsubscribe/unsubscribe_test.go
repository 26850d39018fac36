package unsubscribe

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/relance/relance/internal/contact"
	"github.com/relance/relance/internal/flow"
	"github.com/relance/relance/internal/journey"
	"github.com/relance/relance/internal/mail"
	"github.com/relance/relance/internal/platform/testenv"
	"github.com/relance/relance/internal/shopify"
)

type fakeEngine struct {
	mu     sync.Mutex
	exits  []string
	leaves []int64
}

func (f *fakeEngine) ExitContact(_ context.Context, shopID, contactID int64, reason string, _ ...flow.Key) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.exits = append(f.exits, reason)
	return nil
}

func (f *fakeEngine) Leave(_ context.Context, shopID, enrollmentID int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if enrollmentID == 404 {
		return journey.ErrNotFound
	}
	f.leaves = append(f.leaves, enrollmentID)
	return nil
}

type fakeQueue struct {
	mu    sync.Mutex
	tasks []*asynq.Task
	ids   map[string]bool
}

func (q *fakeQueue) EnqueueContext(_ context.Context, t *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, o := range opts {
		if o.Type() == asynq.TaskIDOpt {
			id := o.Value().(string)
			if q.ids[id] {
				return nil, asynq.ErrTaskIDConflict
			}
			q.ids[id] = true
		}
	}
	q.tasks = append(q.tasks, t)
	return &asynq.TaskInfo{}, nil
}

type fakeAdmin struct {
	mu    sync.Mutex
	calls []map[string]any
	shops []string
	reply func(out any) error
}

func (a *fakeAdmin) Do(_ context.Context, shop, query string, vars map[string]any, out any) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !strings.Contains(query, "customerEmailMarketingConsentUpdate(input: $input)") {
		return errors.New("unexpected query")
	}
	a.calls = append(a.calls, vars)
	a.shops = append(a.shops, shop)
	return a.reply(out)
}

type fixture struct {
	svc    *Service
	e      *echo.Echo
	db     *gorm.DB
	links  *mail.LinkSigner
	engine *fakeEngine
	queue  *fakeQueue
	admin  *fakeAdmin
	shopID int64
	now    time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db := testenv.DB(t)
	links, err := mail.NewLinkSigner("secret")
	require.NoError(t, err)
	f := &fixture{db: db, links: links, engine: &fakeEngine{}, queue: &fakeQueue{ids: map[string]bool{}},
		admin: &fakeAdmin{reply: func(out any) error {
			return json.Unmarshal([]byte(`{"customerEmailMarketingConsentUpdate":{"customer":{"id":"x"},"userErrors":[]}}`), out)
		}},
		now: time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)}
	require.NoError(t, db.Raw(`INSERT INTO shops (domain, name, email) VALUES ('maison.myshopify.com', 'Maison <b>&</b> Co', 'owner@maison.example') RETURNING id`).
		Scan(&f.shopID).Error)
	f.svc, err = New(Options{DB: db, Links: links, Contacts: contact.NewStore(db), Engine: f.engine, Queue: f.queue, Admin: f.admin,
		Now: func() time.Time { return f.now }})
	require.NoError(t, err)
	f.e = echo.New()
	f.svc.Routes(f.e)
	return f
}

func (f *fixture) contact(t *testing.T, p contact.Profile) *contact.Contact {
	t.Helper()
	c, err := contact.NewStore(f.db).Upsert(context.Background(), f.shopID, p)
	require.NoError(t, err)
	_, err = contact.NewStore(f.db).SetConsent(context.Background(), f.shopID, c.ID, contact.Subscribed, f.now.Add(-time.Hour), "checkout")
	require.NoError(t, err)
	return c
}

func (f *fixture) do(method, path, contentType, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	f.e.ServeHTTP(rec, req)
	return rec
}

func TestBadTokenIs404(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	other, _ := mail.NewLinkSigner("another-app")
	forged := other.Sign(mail.LinkClaims{Purpose: mail.PurposeUnsubscribe, ShopID: f.shopID, ContactID: 1})
	for _, tok := range []string{"nope", forged, strings.Repeat("A", 500)} {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			rec := f.do(method, "/u/"+tok, "application/x-www-form-urlencoded", "List-Unsubscribe=One-Click")
			require.Equal(t, http.StatusNotFound, rec.Code, "%s %q", method, tok)
			require.Contains(t, rec.Body.String(), "This link is not valid")
		}
	}
	// A valid link for a contact that was erased is not found either.
	gone := f.links.Sign(mail.LinkClaims{Purpose: mail.PurposeUnsubscribe, ShopID: f.shopID, ContactID: 999999})
	require.Equal(t, http.StatusNotFound, f.do(http.MethodPost, "/u/"+gone, "", "").Code)
	require.Empty(t, f.engine.exits)
	require.Empty(t, f.queue.tasks)
}

func TestOneClickUnsubscribe(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.contact(t, contact.Profile{Email: "lea@example.org", CustomerID: 5551, FirstName: "Léa", Locale: "fr-FR"})
	tok := f.links.Sign(mail.LinkClaims{Purpose: mail.PurposeUnsubscribe, ShopID: f.shopID, ContactID: c.ID})

	// GET shows a confirm page in the shopper's language, shop name escaped,
	// and changes nothing (link scanners fetch it).
	rec := f.do(http.MethodGet, "/u/"+tok, "", "")
	require.Equal(t, http.StatusOK, rec.Code)
	page := rec.Body.String()
	require.Contains(t, page, `lang="fr"`)
	require.Contains(t, page, "Me désinscrire")
	require.Contains(t, page, "Maison &lt;b&gt;&amp;&lt;/b&gt; Co")
	require.Contains(t, page, `method="post" action="/u/`+tok+`"`)
	got, err := contact.NewStore(f.db).Get(context.Background(), f.shopID, c.ID)
	require.NoError(t, err)
	require.Equal(t, contact.Subscribed, got.Consent)

	// RFC 8058 one-click: 200, empty body, no redirect.
	rec = f.do(http.MethodPost, "/u/"+tok, "application/x-www-form-urlencoded", "List-Unsubscribe=One-Click")
	require.Equal(t, http.StatusOK, rec.Code)
	require.Empty(t, rec.Body.String())
	require.Empty(t, rec.Header().Get("Location"))
	got, err = contact.NewStore(f.db).Get(context.Background(), f.shopID, c.ID)
	require.NoError(t, err)
	require.Equal(t, contact.Unsubscribed, got.Consent)
	require.Equal(t, ConsentSource, got.ConsentSource)
	require.Equal(t, []string{journey.ReasonUnsubscribed}, f.engine.exits)
	require.Len(t, f.queue.tasks, 1)
	require.Equal(t, TypeWriteBack, f.queue.tasks[0].Type())

	// Again (providers retry, the shopper clicks twice): still 200, no second write-back.
	rec = f.do(http.MethodPost, "/u/"+tok, "multipart/form-data; boundary=X",
		"--X\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--X--\r\n")
	require.Equal(t, http.StatusOK, rec.Code)
	require.Empty(t, rec.Body.String())
	require.Len(t, f.queue.tasks, 1)

	// The page now says it is done.
	rec = f.do(http.MethodGet, "/u/"+tok, "", "")
	require.Contains(t, rec.Body.String(), "Vous êtes désinscrit(e)")

	// The write-back task sends the consent to Shopify.
	require.NoError(t, f.svc.HandleWriteBack(context.Background(), f.queue.tasks[0]))
	require.Len(t, f.admin.calls, 1)
	require.Equal(t, "maison.myshopify.com", f.admin.shops[0])
	input := f.admin.calls[0]["input"].(map[string]any)
	require.Equal(t, "gid://shopify/Customer/5551", input["customerId"])
	consent := input["emailMarketingConsent"].(map[string]any)
	require.Equal(t, "UNSUBSCRIBED", consent["marketingState"])
	require.Equal(t, "SINGLE_OPT_IN", consent["marketingOptInLevel"])
	require.Equal(t, f.now.Format(time.RFC3339), consent["consentUpdatedAt"])
}

func TestConfirmFormAndWriteBackFailures(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.contact(t, contact.Profile{Email: "sam@example.org", CustomerID: 77})
	tok := f.links.Sign(mail.LinkClaims{Purpose: mail.PurposeUnsubscribe, ShopID: f.shopID, ContactID: c.ID})
	rec := f.do(http.MethodPost, "/u/"+tok, "application/x-www-form-urlencoded", "confirm=1")
	require.Equal(t, http.StatusOK, rec.Code)
	require.Contains(t, rec.Body.String(), "You&#39;re unsubscribed from Maison &lt;b&gt;&amp;&lt;/b&gt; Co&#39;s emails")
	require.Len(t, f.queue.tasks, 1)

	// userErrors are final: surfaced, not retried.
	f.admin.reply = func(out any) error {
		return shopify.UserErrors{{Field: []string{"customerId"}, Message: "Customer does not exist"}}
	}
	err := f.svc.HandleWriteBack(context.Background(), f.queue.tasks[0])
	require.ErrorIs(t, err, asynq.SkipRetry)
	require.ErrorContains(t, err, "Customer does not exist")
	// Transient failures are retried.
	f.admin.reply = func(out any) error { return &shopify.HTTPError{Status: 503} }
	err = f.svc.HandleWriteBack(context.Background(), f.queue.tasks[0])
	require.Error(t, err)
	require.NotErrorIs(t, err, asynq.SkipRetry)

	// Resubscribed in Shopify since: the write-back is superseded.
	_, err = contact.NewStore(f.db).SetConsent(context.Background(), f.shopID, c.ID, contact.Subscribed, f.now.Add(time.Minute), "shopify")
	require.NoError(t, err)
	calls := len(f.admin.calls)
	require.NoError(t, f.svc.HandleWriteBack(context.Background(), f.queue.tasks[0]))
	require.Len(t, f.admin.calls, calls)
}

func TestContactWithoutCustomerIsNotWrittenBack(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.contact(t, contact.Profile{Email: "anon@example.org", Locale: "en"})
	tok := f.links.Sign(mail.LinkClaims{Purpose: mail.PurposeUnsubscribe, ShopID: f.shopID, ContactID: c.ID})
	rec := f.do(http.MethodPost, "/u/"+tok, "application/x-www-form-urlencoded", "List-Unsubscribe=One-Click")
	require.Equal(t, http.StatusOK, rec.Code)
	got, err := contact.NewStore(f.db).Get(context.Background(), f.shopID, c.ID)
	require.NoError(t, err)
	require.Equal(t, contact.Unsubscribed, got.Consent)
	require.Empty(t, f.queue.tasks)
}

func TestNotInterestedLeavesOneEnrollment(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.contact(t, contact.Profile{Email: "kim@example.org"})
	tok := f.links.Sign(mail.LinkClaims{Purpose: mail.PurposeNotInterested, ShopID: f.shopID, ContactID: c.ID, EnrollmentID: 31})
	rec := f.do(http.MethodGet, "/u/"+tok, "", "")
	require.Equal(t, http.StatusOK, rec.Code)
	require.Contains(t, rec.Body.String(), "Stop reminders about this cart?")
	require.Empty(t, f.engine.leaves)

	rec = f.do(http.MethodPost, "/u/"+tok, "application/x-www-form-urlencoded", "confirm=1")
	require.Equal(t, http.StatusOK, rec.Code)
	body, _ := io.ReadAll(rec.Body)
	require.Contains(t, string(body), "Got it")
	require.Equal(t, []int64{31}, f.engine.leaves)
	require.Empty(t, f.engine.exits, "consent untouched")
	got, err := contact.NewStore(f.db).Get(context.Background(), f.shopID, c.ID)
	require.NoError(t, err)
	require.Equal(t, contact.Subscribed, got.Consent)

	// An enrollment that no longer exists: still a friendly page.
	gone := f.links.Sign(mail.LinkClaims{Purpose: mail.PurposeNotInterested, ShopID: f.shopID, ContactID: c.ID, EnrollmentID: 404})
	require.Equal(t, http.StatusOK, f.do(http.MethodPost, "/u/"+gone, "", "").Code)
}
