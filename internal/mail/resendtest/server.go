// Package resendtest is a local stand-in for the Resend API, for tests and
// benchmarks. It behaves like the real service where our code depends on it:
// bearer-key auth (401/403), validation errors (422), a per-second rate limit
// with ratelimit-* and retry-after headers (429), idempotency keys (same key
// and body: the same answer and no second email; same key and another body:
// 409), the batch endpoint (≤100 emails, strict or permissive
// validation), and the Domains API (domains.go). Faults can be injected: an
// error status before processing, or a lost response after the email was
// accepted.
package resendtest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Options configure a Server.
type Options struct {
	// APIKey is the only key accepted (default "re_test_key").
	APIKey string
	// RateLimit is requests per second per team (default 5, Resend's
	// default); negative disables it.
	RateLimit int
	// Latency is added to every request, to make tests of pacing realistic.
	Latency time.Duration
}

// Email is an email the server accepted.
type Email struct {
	ID             string
	From           string
	To             []string
	Subject        string
	ReplyTo        string
	HTML           string
	Text           string
	Headers        map[string]string
	Tags           map[string]string
	IdempotencyKey string
	Batch          bool
}

type request struct {
	From    string            `json:"from"`
	To      []string          `json:"to"`
	Subject string            `json:"subject"`
	ReplyTo any               `json:"reply_to"`
	HTML    string            `json:"html"`
	Text    string            `json:"text"`
	Headers map[string]string `json:"headers"`
	Tags    []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"tags"`
}

type stored struct {
	hash   string
	status int
	body   []byte
}

// Server is a running stand-in. Use URL as RESEND_BASE_URL.
type Server struct {
	*httptest.Server
	o Options

	mu        sync.Mutex
	window    []time.Time // accepted request times in the last second
	emails    []Email
	idem      map[string]stored
	inflight  map[string]bool
	failNext  []int
	loseNext  int
	requests  int
	throttled int
	domains   []*domain
}

// New starts a server and stops it when the test ends.
func New(tb testing.TB, o Options) *Server {
	tb.Helper()
	if o.APIKey == "" {
		o.APIKey = "re_test_key"
	}
	if o.RateLimit == 0 {
		o.RateLimit = 5
	}
	s := &Server{o: o, idem: map[string]stored{}, inflight: map[string]bool{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	tb.Cleanup(s.Close)
	return s
}

// APIKey is the key the server accepts.
func (s *Server) APIKey() string { return s.o.APIKey }

// FailNext makes the next requests answer status (e.g. 500, 503) without
// processing them, one status per request.
func (s *Server) FailNext(status ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = append(s.failNext, status...)
}

// LoseNextResponses accepts the next n requests (emails are sent and the
// idempotency key recorded) but answers 500, as when a response is lost.
func (s *Server) LoseNextResponses(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loseNext += n
}

// Emails returns the emails sent so far.
func (s *Server) Emails() []Email {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Email(nil), s.emails...)
}

// Stats returns how many requests were received and how many got a 429.
func (s *Server) Stats() (requests, throttled int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests, s.throttled
}

func writeErr(w http.ResponseWriter, status int, name, msg string) {
	writeJSON(w, status, map[string]any{"statusCode": status, "name": name, "message": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if s.o.Latency > 0 {
		time.Sleep(s.o.Latency)
	}
	s.mu.Lock()
	s.requests++
	s.mu.Unlock()

	auth := r.Header.Get("Authorization")
	switch {
	case auth == "":
		writeErr(w, http.StatusUnauthorized, "missing_api_key", "Missing API key in the authorization header.")
		return
	case auth != "Bearer "+s.o.APIKey:
		writeErr(w, http.StatusForbidden, "invalid_api_key", "API key is invalid.")
		return
	}
	if !s.admit(w) {
		return
	}
	isDomains := r.URL.Path == "/domains" || strings.HasPrefix(r.URL.Path, "/domains/")
	if !isDomains && (r.Method != http.MethodPost || (r.URL.Path != "/emails" && r.URL.Path != "/emails/batch")) {
		writeErr(w, http.StatusNotFound, "not_found", "The requested endpoint does not exist.")
		return
	}
	s.mu.Lock()
	if len(s.failNext) > 0 {
		status := s.failNext[0]
		s.failNext = s.failNext[1:]
		s.mu.Unlock()
		writeErr(w, status, "internal_server_error", "An unexpected error occurred.")
		return
	}
	s.mu.Unlock()
	if isDomains {
		s.serveDomains(w, r)
		return
	}

	body, err := io.ReadAll(io.LimitReader(r.Body, 50<<20))
	if err != nil {
		writeErr(w, http.StatusBadRequest, "invalid_request", "Unreadable body.")
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if len(key) > 256 {
		writeErr(w, http.StatusBadRequest, "invalid_idempotency_key", "The key must be between 1-256 chars.")
		return
	}
	hash := r.URL.Path + "\x00" + hashOf(body)
	if key != "" {
		s.mu.Lock()
		if prev, ok := s.idem[key]; ok {
			s.mu.Unlock()
			if prev.hash != hash {
				writeErr(w, http.StatusConflict, "invalid_idempotent_request", "Same idempotency key used with a different request payload.")
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(prev.status)
			_, _ = w.Write(prev.body)
			return
		}
		if s.inflight[key] {
			s.mu.Unlock()
			writeErr(w, http.StatusConflict, "concurrent_idempotent_requests", "Same idempotency key used while original request is still in progress.")
			return
		}
		s.inflight[key] = true
		s.mu.Unlock()
		defer func() {
			s.mu.Lock()
			delete(s.inflight, key)
			s.mu.Unlock()
		}()
	}

	var status int
	var resp any
	if r.URL.Path == "/emails" {
		status, resp = s.single(body, key)
	} else {
		status, resp = s.batch(body, key, r.Header.Get("x-batch-validation"))
	}
	out, _ := json.Marshal(resp)
	s.mu.Lock()
	if key != "" && status == http.StatusOK {
		s.idem[key] = stored{hash: hash, status: status, body: out}
	}
	lose := status == http.StatusOK && s.loseNext > 0
	if lose {
		s.loseNext--
	}
	s.mu.Unlock()
	if lose {
		writeErr(w, http.StatusInternalServerError, "internal_server_error", "An unexpected error occurred.")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(out)
}

// admit applies the per-second limit (a sliding window) and sets the
// ratelimit-* headers Resend sends on every response.
func (s *Server) admit(w http.ResponseWriter) bool {
	if s.o.RateLimit < 0 {
		return true
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	cut := 0
	for cut < len(s.window) && now.Sub(s.window[cut]) >= time.Second {
		cut++
	}
	s.window = s.window[cut:]
	limit := s.o.RateLimit
	h := w.Header()
	h.Set("ratelimit-limit", strconv.Itoa(limit))
	h.Set("ratelimit-reset", "1")
	if len(s.window) >= limit {
		s.throttled++
		wait := time.Second - now.Sub(s.window[0])
		h.Set("ratelimit-remaining", "0")
		h.Set("retry-after", strconv.Itoa(max(1, int((wait+time.Second-1)/time.Second))))
		writeErr(w, http.StatusTooManyRequests, "rate_limit_exceeded", "Too many requests. You can only make "+strconv.Itoa(limit)+" requests per second.")
		return false
	}
	s.window = append(s.window, now)
	h.Set("ratelimit-remaining", strconv.Itoa(limit-len(s.window)))
	return true
}

func (s *Server) single(body []byte, key string) (int, any) {
	var req request
	if err := json.Unmarshal(body, &req); err != nil {
		return http.StatusUnprocessableEntity, errBody(422, "validation_error", "Invalid JSON body.")
	}
	if msg := validate(&req); msg != "" {
		return http.StatusUnprocessableEntity, errBody(422, "validation_error", msg)
	}
	return http.StatusOK, map[string]string{"id": s.record(&req, key, false)}
}

func (s *Server) batch(body []byte, key, mode string) (int, any) {
	var reqs []request
	if err := json.Unmarshal(body, &reqs); err != nil {
		return http.StatusUnprocessableEntity, errBody(422, "validation_error", "The batch must be an array of emails.")
	}
	if len(reqs) == 0 || len(reqs) > 100 {
		return http.StatusUnprocessableEntity, errBody(422, "validation_error", "A batch holds between 1 and 100 emails.")
	}
	type batchErr struct {
		Index   int    `json:"index"`
		Message string `json:"message"`
	}
	var errs []batchErr
	for i := range reqs {
		if msg := validate(&reqs[i]); msg != "" {
			errs = append(errs, batchErr{i, msg})
		}
	}
	if len(errs) > 0 && mode != "permissive" {
		return http.StatusUnprocessableEntity, errBody(422, "validation_error", fmt.Sprintf("emails[%d]: %s", errs[0].Index, errs[0].Message))
	}
	data := []map[string]string{}
	bad := map[int]bool{}
	for _, e := range errs {
		bad[e.Index] = true
	}
	for i := range reqs {
		if !bad[i] {
			data = append(data, map[string]string{"id": s.record(&reqs[i], key, true)})
		}
	}
	resp := map[string]any{"data": data}
	if mode == "permissive" {
		if errs == nil {
			errs = []batchErr{}
		}
		resp["errors"] = errs
	}
	return http.StatusOK, resp
}

func errBody(status int, name, msg string) map[string]any {
	return map[string]any{"statusCode": status, "name": name, "message": msg}
}

var tagPart = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)

func validate(r *request) string {
	if r.From == "" {
		return "The `from` field is required."
	}
	if _, err := mail.ParseAddress(r.From); err != nil {
		return "Invalid `from` field. The email address needs to follow the `email@example.com` or `Name <email@example.com>` format."
	}
	if len(r.To) == 0 || len(r.To) > 50 {
		return "The `to` field must hold between 1 and 50 addresses."
	}
	for _, to := range r.To {
		a, err := mail.ParseAddress(to)
		if err != nil {
			return "Invalid `to` field. The email address needs to follow the `email@example.com` or `Name <email@example.com>` format."
		}
		domain := strings.ToLower(a.Address[strings.LastIndex(a.Address, "@")+1:])
		if domain == "example.com" || domain == "test.com" {
			return "Invalid `to` field. Please use our testing email address instead of domains like `example.com`."
		}
	}
	if strings.TrimSpace(r.Subject) == "" {
		return "The `subject` field is required."
	}
	if r.HTML == "" && r.Text == "" {
		return "Either `html` or `text` is required."
	}
	for _, t := range r.Tags {
		if !tagPart.MatchString(t.Name) || !tagPart.MatchString(t.Value) {
			return "Tags should only contain ASCII letters, numbers, underscores, or dashes."
		}
	}
	return ""
}

func (s *Server) record(r *request, key string, batch bool) string {
	id := newID()
	e := Email{ID: id, From: r.From, To: r.To, Subject: r.Subject, HTML: r.HTML, Text: r.Text,
		Headers: r.Headers, Tags: map[string]string{}, IdempotencyKey: key, Batch: batch}
	if s, ok := r.ReplyTo.(string); ok {
		e.ReplyTo = s
	}
	for _, t := range r.Tags {
		e.Tags[t.Name] = t.Value
	}
	s.mu.Lock()
	s.emails = append(s.emails, e)
	s.mu.Unlock()
	return id
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func hashOf(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
