package unsubscribe

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/relance/relance/internal/contact"
	"github.com/relance/relance/internal/journey"
	"github.com/relance/relance/internal/mail"
)

// shopper is a browser on the links of a fixture, over a real HTTP server.
type shopper struct {
	t   *testing.T
	url string
}

func (f *fixture) shopper(t *testing.T) *shopper {
	t.Helper()
	srv := httptest.NewServer(f.e)
	t.Cleanup(srv.Close)
	return &shopper{t: t, url: srv.URL}
}

func (s *shopper) do(method, path string, form url.Values) (int, string) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.url+path, strings.NewReader(form.Encode()))
	require.NoError(s.t, err)
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(s.t, err)
	return resp.StatusCode, string(b)
}

func (s *shopper) get(path string) (int, string) { return s.do(http.MethodGet, path, nil) }

func (s *shopper) choose(path, choice string) (int, string) {
	return s.do(http.MethodPost, path, url.Values{"choice": {choice}})
}

// tasks and exits read the fakes under their locks: the server's goroutines
// wrote them.
func (q *fakeQueue) snapshot() []*asynq.Task {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]*asynq.Task(nil), q.tasks...)
}

func (f *fakeEngine) exited() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.exits...)
}

func (f *fixture) prefsPath(c *contact.Contact) string {
	return "/u/" + f.links.Sign(mail.LinkClaims{Purpose: purposePreferences, ShopID: f.shopID, ContactID: c.ID})
}

func (f *fixture) reload(t *testing.T, c *contact.Contact) *contact.Contact {
	t.Helper()
	got, err := contact.NewStore(f.db).Get(context.Background(), f.shopID, c.ID)
	require.NoError(t, err)
	return got
}

var choiceRE = regexp.MustCompile(`name="choice" value="([a-z]+)"`)

// choices lists the buttons of a preferences page.
func choices(page string) []string {
	var out []string
	for _, m := range choiceRE.FindAllStringSubmatch(page, -1) {
		out = append(out, m[1])
	}
	return out
}

func TestPreferencesEachChoice(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	sh := f.shopper(t)
	c := f.contact(t, contact.Profile{Email: "lea@example.org", CustomerID: 5551, Locale: "en-GB"})
	path := f.prefsPath(c)

	// GET shows where the shopper stands and changes nothing (link
	// scanners fetch it).
	code, page := sh.get(path)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, page, `lang="en"`)
	require.Contains(t, page, "Your emails from Maison &lt;b&gt;&amp;&lt;/b&gt; Co")
	require.Contains(t, page, "You receive our marketing emails")
	require.Contains(t, page, `<form method="post" action="`+path+`"`)
	require.Equal(t, []string{choiceKeep, choiceUnsubscribe}, choices(page))
	require.Equal(t, contact.Subscribed, f.reload(t, c).Consent)
	require.Empty(t, f.queue.snapshot())
	require.Empty(t, f.engine.exited())

	// Keep: nothing changes.
	code, page = sh.choose(path, choiceKeep)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, page, "Saved: nothing changes.")
	require.Equal(t, contact.Subscribed, f.reload(t, c).Consent)
	require.Empty(t, f.queue.snapshot())

	// Unsubscribe: at once, every sequence ends, written back to Shopify.
	code, page = sh.choose(path, choiceUnsubscribe)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, page, "Done: you are unsubscribed.")
	require.Equal(t, []string{choiceResubscribe}, choices(page), "subscribing again is offered")
	got := f.reload(t, c)
	require.Equal(t, contact.Unsubscribed, got.Consent)
	require.Equal(t, ConsentSource, got.ConsentSource)
	require.True(t, f.now.Equal(*got.ConsentUpdatedAt), "%s", got.ConsentUpdatedAt)
	require.Equal(t, []string{journey.ReasonUnsubscribed}, f.engine.exited())
	require.Len(t, f.queue.snapshot(), 1)

	// Subscribe again: recorded with its source and time (just after the
	// unsubscribe stamped at the same clock), written back to Shopify.
	code, page = sh.choose(path, choiceResubscribe)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, page, "Welcome back")
	require.Equal(t, []string{choiceKeep, choiceUnsubscribe}, choices(page))
	got = f.reload(t, c)
	require.Equal(t, contact.Subscribed, got.Consent)
	require.Equal(t, ResubscribeSource, got.ConsentSource)
	require.True(t, f.now.Add(time.Microsecond).Equal(*got.ConsentUpdatedAt), "%s", got.ConsentUpdatedAt)
	tasks := f.queue.snapshot()
	require.Len(t, tasks, 2)
	require.Equal(t, TypeWriteBack, tasks[1].Type())

	// The unsubscribe's write-back is superseded; the new one writes
	// SUBSCRIBED with the time of the click.
	require.NoError(t, f.svc.HandleWriteBack(context.Background(), tasks[0]))
	require.Empty(t, f.admin.calls)
	require.NoError(t, f.svc.HandleWriteBack(context.Background(), tasks[1]))
	require.Len(t, f.admin.calls, 1)
	consent := f.admin.calls[0]["input"].(map[string]any)["emailMarketingConsent"].(map[string]any)
	require.Equal(t, "SUBSCRIBED", consent["marketingState"])
	require.Equal(t, f.now.Format(time.RFC3339), consent["consentUpdatedAt"])

	// A second click (another tab) is no error and writes nothing again.
	code, _ = sh.choose(path, choiceResubscribe)
	require.Equal(t, http.StatusOK, code)
	require.Len(t, f.queue.snapshot(), 2)

	// A POST without a choice (a one-click body, a stray form) changes
	// nothing: the preferences link is no unsubscribe link.
	code, page = sh.do(http.MethodPost, path, url.Values{"List-Unsubscribe": {"One-Click"}})
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, page, "Please choose one of the options below.")
	code, _ = sh.choose(path, "delete-everything")
	require.Equal(t, http.StatusBadRequest, code)
	require.Equal(t, contact.Subscribed, f.reload(t, c).Consent)
	require.Len(t, f.queue.snapshot(), 2)
}

func TestPreferencesInFrenchForANonSubscriber(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	sh := f.shopper(t)
	c, err := contact.NewStore(f.db).Upsert(context.Background(), f.shopID, contact.Profile{Email: "kim@example.org", Locale: "fr"})
	require.NoError(t, err)
	code, page := sh.get(f.prefsPath(c))
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, page, `lang="fr"`)
	require.Contains(t, page, "Vous n&#39;êtes pas inscrit(e) à nos e-mails marketing.")
	require.Equal(t, []string{choiceUnsubscribe}, choices(page))
	require.Contains(t, page, "Ne plus recevoir aucun e-mail", "what it stops is their cart reminders")

	code, page = sh.choose(f.prefsPath(c), choiceUnsubscribe)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, page, "C&#39;est fait : vous êtes désinscrit(e).")
	require.Equal(t, contact.Unsubscribed, f.reload(t, c).Consent)
	require.Empty(t, f.queue.snapshot(), "no Shopify customer: nothing to write back")
}

// Only a shopper who unsubscribed through our links, and was not suppressed
// since, may subscribe again here.
func TestWhoCannotSubscribeAgain(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	sh := f.shopper(t)
	ctx := context.Background()
	store := contact.NewStore(f.db)
	unsubscribeLink := func(c *contact.Contact) string {
		return "/u/" + f.links.Sign(mail.LinkClaims{Purpose: mail.PurposeUnsubscribe, ShopID: f.shopID, ContactID: c.ID})
	}

	for _, reason := range []string{mail.ReasonHardBounce, mail.ReasonComplaint} {
		c := f.contact(t, contact.Profile{Email: reason + "@example.org", CustomerID: 900 + int64(len(reason)), Locale: "en"})
		code, _ := sh.do(http.MethodPost, unsubscribeLink(c), url.Values{"List-Unsubscribe": {"One-Click"}})
		require.Equal(t, http.StatusOK, code)
		require.NoError(t, store.Suppress(ctx, f.shopID, c.ID, reason, f.now.Add(time.Minute)))
		queued := len(f.queue.snapshot())

		code, page := sh.get(f.prefsPath(c))
		require.Equal(t, http.StatusOK, code)
		require.Contains(t, page, "We no longer send emails to this address.")
		require.Empty(t, choices(page), reason)
		require.Contains(t, page, "To receive our emails again, please contact us.")

		code, page = sh.choose(f.prefsPath(c), choiceResubscribe)
		require.Equal(t, http.StatusConflict, code, reason)
		require.Contains(t, page, "This address cannot be subscribed again from this page.")
		got := f.reload(t, c)
		require.Equal(t, contact.Unsubscribed, got.Consent, reason)
		require.Equal(t, ConsentSource, got.ConsentSource)
		require.Len(t, f.queue.snapshot(), queued, "nothing written back")
		require.ErrorIs(t, f.svc.Resubscribe(ctx, f.shopID, c.ID), ErrCannotResubscribe)

		// The unsubscribed page offers no way back either.
		_, page = sh.do(http.MethodPost, unsubscribeLink(c), url.Values{"confirm": {"1"}})
		require.NotContains(t, page, "subscribe again")
	}

	// Unsubscribed in Shopify: theirs (or the merchant's) to undo there.
	c := f.contact(t, contact.Profile{Email: "shopify@example.org", CustomerID: 42})
	_, err := store.SetConsent(ctx, f.shopID, c.ID, contact.Unsubscribed, f.now, "shopify")
	require.NoError(t, err)
	code, page := sh.get(f.prefsPath(c))
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, page, "You are unsubscribed")
	require.Empty(t, choices(page))
	code, _ = sh.choose(f.prefsPath(c), choiceResubscribe)
	require.Equal(t, http.StatusConflict, code)
	require.Equal(t, "shopify", f.reload(t, c).ConsentSource)
}

func TestPreferencesTokenIsItsOwnPurpose(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	sh := f.shopper(t)
	c := f.contact(t, contact.Profile{Email: "sam@example.org", CustomerID: 77})
	tok := strings.TrimPrefix(f.prefsPath(c), "/u/")

	// Tampered or foreign tokens: the invalid page, nothing done.
	tampered := []byte(tok)
	tampered[len(tampered)/2] ^= 1
	other, err := mail.NewLinkSigner("another-app")
	require.NoError(t, err)
	foreign := other.Sign(mail.LinkClaims{Purpose: purposePreferences, ShopID: f.shopID, ContactID: c.ID})
	for _, bad := range []string{string(tampered), foreign, tok[:len(tok)-2]} {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			code, page := sh.do(method, "/u/"+bad, url.Values{"choice": {choiceUnsubscribe}})
			require.Equal(t, http.StatusNotFound, code, "%s %q", method, bad)
			require.Contains(t, page, "This link is not valid")
		}
	}
	require.Equal(t, contact.Subscribed, f.reload(t, c).Consent)

	// A preferences token is no unsubscribe token, nor the reverse.
	_, err = f.links.Verify(tok, mail.PurposeUnsubscribe)
	require.ErrorIs(t, err, mail.ErrInvalidToken)
	unsub := f.links.Sign(mail.LinkClaims{Purpose: mail.PurposeUnsubscribe, ShopID: f.shopID, ContactID: c.ID})
	_, err = f.links.Verify(unsub, purposePreferences)
	require.ErrorIs(t, err, mail.ErrInvalidToken)
	require.Empty(t, f.queue.snapshot())
}

// A shopper who unsubscribed by mistake finds their way back from the
// unsubscribed page.
func TestUnsubscribedPageLinksToPreferences(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	sh := f.shopper(t)
	c := f.contact(t, contact.Profile{Email: "zoe@example.org", Locale: "fr"})
	unsub := "/u/" + f.links.Sign(mail.LinkClaims{Purpose: mail.PurposeUnsubscribe, ShopID: f.shopID, ContactID: c.ID})

	code, page := sh.do(http.MethodPost, unsub, url.Values{"confirm": {"1"}})
	require.Equal(t, http.StatusOK, code)
	m := regexp.MustCompile(`Une erreur \? <a href="(/u/[A-Za-z0-9_-]+)">Gérer vos préférences et vous réinscrire</a>`).FindStringSubmatch(page)
	require.NotNil(t, m, page)
	claims, err := f.links.Verify(strings.TrimPrefix(m[1], "/u/"), purposePreferences)
	require.NoError(t, err)
	require.Equal(t, c.ID, claims.ContactID)

	// The same link on a later visit of the unsubscribe page.
	_, again := sh.get(unsub)
	require.Contains(t, again, m[1])

	code, page = sh.get(m[1])
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, []string{choiceResubscribe}, choices(page))
	code, _ = sh.choose(m[1], choiceResubscribe)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, contact.Subscribed, f.reload(t, c).Consent)
}
