package quiz

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"time"

	"github.com/hibiken/asynq"
	"gorm.io/gorm"

	"github.com/relance/relance/internal/contact"
	"github.com/relance/relance/internal/flow"
	"github.com/relance/relance/internal/journey"
	"github.com/relance/relance/internal/shop"
	"github.com/relance/relance/internal/shopify"
)

// ConsentSource is recorded on contacts who subscribed through the quiz.
const ConsentSource = "quiz"

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// ErrNoQuiz is returned when the shop has not saved a quiz.
var ErrNoQuiz = errors.New("quiz: no quiz saved for this shop")

// Shops finds an installed shop by domain (*shop.Store).
type Shops interface {
	Installed(ctx context.Context, domain string) (*shop.Shop, error)
}

// Engine starts flows (*journey.Engine).
type Engine interface {
	Trigger(ctx context.Context, ev journey.Event) error
}

// Enqueuer is the part of *asynq.Client used for the Shopify write-back.
type Enqueuer interface {
	EnqueueContext(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error)
}

// GraphQL runs an Admin API call for a shop (*shopify.Client).
type GraphQL interface {
	Do(ctx context.Context, shop, query string, variables map[string]any, out any) error
}

// Options configure a Service. Queue and Admin together enable the write-back
// of quiz customers and their consent to Shopify; Logger and Now are
// optional.
type Options struct {
	DB       *gorm.DB
	Secrets  shopify.Secrets // app proxy signature
	Shops    Shops
	Contacts *contact.Store
	Engine   Engine
	Queue    Enqueuer
	Admin    GraphQL
	Logger   *slog.Logger
	Now      func() time.Time
}

// Service serves the quiz to the storefront and to the admin.
type Service struct {
	o   Options
	log *slog.Logger
}

// New returns a Service.
func New(o Options) (*Service, error) {
	if o.DB == nil || o.Shops == nil || o.Contacts == nil || o.Engine == nil {
		return nil, errors.New("quiz: DB, Shops, Contacts and Engine are required")
	}
	if o.Secrets.Current == "" {
		return nil, errors.New("quiz: the app secret is required to verify app proxy requests")
	}
	if (o.Queue == nil) != (o.Admin == nil) {
		return nil, errors.New("quiz: Queue and Admin go together (Shopify write-back)")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Service{o: o, log: o.Logger}
	if s.log == nil {
		s.log = slog.Default()
	}
	return s, nil
}

// Definition returns the shop's saved quiz, or ErrNoQuiz.
func (s *Service) Definition(ctx context.Context, shopID int64) (*Definition, error) {
	var rows []struct{ Definition string }
	if err := s.o.DB.WithContext(ctx).Raw(`SELECT definition::text AS definition FROM quiz_definitions WHERE shop_id = ?`, shopID).
		Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("quiz: read definition of shop %d: %w", shopID, err)
	}
	if len(rows) == 0 {
		return nil, ErrNoQuiz
	}
	var d Definition
	if err := json.Unmarshal([]byte(rows[0].Definition), &d); err != nil {
		return nil, fmt.Errorf("quiz: decode definition of shop %d: %w", shopID, err)
	}
	return &d, nil
}

// Save validates and stores the shop's quiz. A FieldErrors error means the
// definition was refused.
func (s *Service) Save(ctx context.Context, shopID int64, d Definition) (*Definition, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("quiz: encode definition: %w", err)
	}
	if len(b) > maxDefinitionLength {
		return nil, FieldErrors{"": fmt.Sprintf("the quiz is too large (%d bytes, at most %d)", len(b), maxDefinitionLength)}
	}
	err = s.o.DB.WithContext(ctx).Exec(`INSERT INTO quiz_definitions (shop_id, definition) VALUES (?, ?::jsonb)
		ON CONFLICT (shop_id) DO UPDATE SET definition = EXCLUDED.definition, updated_at = now()`, shopID, string(b)).Error
	if err != nil {
		return nil, fmt.Errorf("quiz: save definition of shop %d: %w", shopID, err)
	}
	return &d, nil
}

// SegmentStats is the submission count and conversion of one segment.
type SegmentStats struct {
	Segment     string  `json:"segment"`
	Name        string  `json:"name"`
	Submissions int     `json:"submissions"`
	Subscribed  int     `json:"subscribed"` // gave marketing consent in the quiz
	Converted   int     `json:"converted"`  // ordered after submitting
	Conversion  float64 `json:"conversion"` // Converted / Submissions
}

// Stats returns submissions and conversion by segment: a submission converts
// when its contact placed a (not cancelled) order after submitting. Segments
// of the current definition come first, in its order, then any segment
// submissions still carry from an earlier definition.
func (s *Service) Stats(ctx context.Context, shopID int64) ([]SegmentStats, error) {
	var rows []struct {
		Segment     string
		Submissions int
		Subscribed  int
		Converted   int
	}
	err := s.o.DB.WithContext(ctx).Raw(`
		SELECT q.segment, count(*) AS submissions,
		       count(*) FILTER (WHERE q.consent) AS subscribed,
		       count(*) FILTER (WHERE EXISTS (
		           SELECT 1 FROM contact_orders o
		           WHERE o.shop_id = q.shop_id AND o.contact_id = q.contact_id
		             AND o.ordered_at >= q.submitted_at AND o.cancelled_at IS NULL)) AS converted
		FROM quiz_submissions q
		WHERE q.shop_id = ? AND q.status = 'done'
		GROUP BY q.segment`, shopID).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("quiz: stats of shop %d: %w", shopID, err)
	}
	bySeg := map[string]SegmentStats{}
	for _, r := range rows {
		bySeg[r.Segment] = SegmentStats{Segment: r.Segment, Submissions: r.Submissions, Subscribed: r.Subscribed, Converted: r.Converted}
	}
	out := []SegmentStats{}
	d, err := s.Definition(ctx, shopID)
	if err != nil && !errors.Is(err, ErrNoQuiz) {
		return nil, err
	}
	if d != nil {
		for _, seg := range d.Segments {
			st := bySeg[seg.Key]
			st.Segment, st.Name = seg.Key, seg.Name
			out = append(out, st)
			delete(bySeg, seg.Key)
		}
	}
	var rest []string
	for k := range bySeg {
		rest = append(rest, k)
	}
	sort.Strings(rest)
	for _, k := range rest {
		st := bySeg[k]
		st.Name = k
		out = append(out, st)
	}
	for i := range out {
		if out[i].Submissions > 0 {
			out[i].Conversion = float64(out[i].Converted) / float64(out[i].Submissions)
		}
	}
	return out, nil
}

// Submission is what the storefront block posts.
type Submission struct {
	Email        string            `json:"email"`
	Consent      bool              `json:"consent"`
	Answers      map[string]string `json:"answers"`
	SubmissionID string            `json:"submission_id"`
}

// Result is what the storefront shows after submitting.
type Result struct {
	Segment  string    `json:"segment"`
	Name     string    `json:"name"`
	Products []Product `json:"products"`
}

func (d *Definition) result(segment string) Result {
	r := Result{Segment: segment, Name: segment, Products: []Product{}}
	if seg := d.SegmentByKey(segment); seg != nil {
		r.Name = seg.Name
		if seg.Products != nil {
			r.Products = seg.Products
		}
	}
	return r
}

// Submit records a quiz submission of a verified storefront request:
//
//  1. the answers are scored against the current definition (FieldErrors
//     when they do not answer it);
//  2. the submission row is claimed on (shop, submission_id); a row already
//     done means a replay, answered with the stored segment and nothing else;
//  3. the contact is created or updated and, when the shopper ticked the
//     box, subscribed (source "quiz"; unticked never unsubscribes anyone);
//  4. the post-quiz flow is triggered with the segment, then the row is
//     marked done. A failure leaves it pending so that a retry completes it
//     (re-triggering is harmless).
func (s *Service) Submit(ctx context.Context, sh *shop.Shop, sub Submission) (Result, bool, error) {
	d, err := s.Definition(ctx, sh.ID)
	if err != nil {
		return Result{}, false, err
	}
	errs := FieldErrors{}
	email := contact.NormalizeEmail(sub.Email)
	if email == "" {
		errs["email"] = "a valid email address"
	}
	if !uuidRE.MatchString(sub.SubmissionID) {
		errs["submission_id"] = "a UUID"
	}
	segment, answerErrs := d.Score(sub.Answers)
	for k, v := range answerErrs {
		errs[k] = v
	}
	if len(errs) > 0 {
		return Result{}, false, errs
	}
	now := s.o.Now()
	answers, _ := json.Marshal(sub.Answers) // map[string]string always encodes

	var claimed []struct {
		ID      int64
		Segment string
		Status  string
		Consent bool
	}
	// The no-op update makes RETURNING give the existing row on a replay.
	err = s.o.DB.WithContext(ctx).Raw(`
		INSERT INTO quiz_submissions (shop_id, submission_id, segment, answers, consent, submitted_at)
		VALUES (?, ?, ?, ?::jsonb, ?, ?)
		ON CONFLICT (shop_id, submission_id) DO UPDATE SET shop_id = EXCLUDED.shop_id
		RETURNING id, segment, status, consent`, sh.ID, sub.SubmissionID, segment, string(answers), sub.Consent, now).Scan(&claimed).Error
	if err != nil {
		return Result{}, false, fmt.Errorf("quiz: store submission in shop %d: %w", sh.ID, err)
	}
	if len(claimed) == 0 {
		return Result{}, false, fmt.Errorf("quiz: store submission in shop %d: no row", sh.ID)
	}
	row := claimed[0]
	if row.Status == "done" {
		return d.result(row.Segment), true, nil
	}
	// A retry of a failed attempt completes the first one as it was posted.
	segment, consent := row.Segment, row.Consent

	c, err := s.o.Contacts.Upsert(ctx, sh.ID, contact.Profile{Email: email})
	if err != nil {
		return Result{}, false, fmt.Errorf("quiz: contact for submission %s: %w", sub.SubmissionID, err)
	}
	subscribed := false
	if consent && c.Consent != contact.Subscribed {
		if subscribed, err = s.o.Contacts.SetConsent(ctx, sh.ID, c.ID, contact.Subscribed, now, ConsentSource); err != nil {
			return Result{}, false, err
		}
	}
	if err := s.o.DB.WithContext(ctx).Exec(`UPDATE quiz_submissions SET contact_id = ? WHERE id = ?`, c.ID, row.ID).Error; err != nil {
		return Result{}, false, fmt.Errorf("quiz: link submission %d: %w", row.ID, err)
	}
	ev := journey.Event{ShopID: sh.ID, ContactID: c.ID, Trigger: flow.QuizCompleted, At: now, Subject: sub.SubmissionID, Segment: segment}
	if err := s.o.Engine.Trigger(ctx, ev); err != nil {
		return Result{}, false, fmt.Errorf("quiz: start post-quiz flow: %w", err)
	}
	if err := s.o.DB.WithContext(ctx).Exec(`UPDATE quiz_submissions SET status = 'done' WHERE id = ?`, row.ID).Error; err != nil {
		return Result{}, false, fmt.Errorf("quiz: complete submission %d: %w", row.ID, err)
	}
	if subscribed {
		s.enqueueWriteBack(ctx, sh.ID, c.ID)
	}
	s.log.InfoContext(ctx, "quiz: submission recorded", "shop_id", sh.ID, "contact_id", c.ID, "segment", segment, "consent", consent)
	return d.result(segment), false, nil
}
