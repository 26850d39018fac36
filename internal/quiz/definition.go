// Package quiz is the product quiz of a shop: the definition the merchant
// edits in the admin (questions, answers, the segment each answer points to,
// the products recommended per segment), the storefront endpoints behind the
// theme app block (GET and POST /proxy/quiz, reached through the app proxy
// and verified with its signature) and the submissions with their stats.
//
// A submission creates or updates the contact with the consent the shopper
// gave (consent source "quiz"), is stored once per (shop, submission_id), and
// starts the post-quiz welcome (flow.PostQuiz) through journey.Trigger with
// the segment, which picks the flow branch ("segment:<key>").
package quiz

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Limits of a definition, so the storefront block stays short and the JSON
// the proxy serves stays small.
const (
	MaxQuestions        = 10
	MinAnswers          = 2
	MaxAnswers          = 8
	MaxSegments         = 10
	MaxProducts         = 8
	MaxTextLen          = 200
	MaxURLLen           = 500
	maxDefinitionLength = 64 << 10
)

// idRE is the form of question, answer and segment ids. Segment keys end up
// in template names ("post_quiz/<segment>/results") and branch conditions, so
// they never hold a slash or a colon.
var idRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// Definition is a shop's quiz.
type Definition struct {
	Title     string     `json:"title"`
	Intro     string     `json:"intro"`
	Questions []Question `json:"questions"`
	Segments  []Segment  `json:"segments"`
	// DefaultSegment is chosen when no answer points to a segment.
	DefaultSegment string `json:"default_segment"`
}

// Question is one step of the quiz.
type Question struct {
	ID      string   `json:"id"`
	Text    string   `json:"text"`
	Answers []Answer `json:"answers"`
}

// Answer is one choice; Segment (optional) is the segment it votes for.
type Answer struct {
	ID      string `json:"id"`
	Text    string `json:"text"`
	Segment string `json:"segment,omitempty"`
}

// Segment is a group of shoppers with its recommended products. Key names
// the post-quiz flow branch; the default flows have branches a, b and c (any
// other key gets the flow's "default" branch).
type Segment struct {
	Key      string    `json:"key"`
	Name     string    `json:"name"`
	Products []Product `json:"products"`
}

// Product is a recommendation shown on the results screen.
type Product struct {
	ID       int64  `json:"id"` // Shopify product id
	Title    string `json:"title"`
	URL      string `json:"url"` // storefront path (/products/handle) or https URL
	ImageURL string `json:"image_url,omitempty"`
}

// FieldErrors maps a JSON path ("questions[0].answers[1].segment") to what is
// wrong with it.
type FieldErrors map[string]string

func (e FieldErrors) Error() string {
	var parts []string
	for k, v := range e {
		parts = append(parts, k+": "+v)
	}
	return "quiz: invalid definition: " + strings.Join(parts, "; ")
}

func checkText(errs FieldErrors, field, s string, required bool) {
	switch {
	case strings.TrimSpace(s) == "" && required:
		errs[field] = "required"
	case utf8.RuneCountInString(s) > MaxTextLen:
		errs[field] = fmt.Sprintf("at most %d characters", MaxTextLen)
	}
}

func checkID(errs FieldErrors, field, id string, seen map[string]bool) {
	switch {
	case !idRE.MatchString(id):
		errs[field] = "lowercase letters, digits, - and _ (1 to 32, starting with a letter or digit)"
	case seen[id]:
		errs[field] = "duplicate"
	}
	seen[id] = true
}

// checkURL accepts a storefront path ("/products/x") or an https URL, never
// a scheme that could run script in the storefront.
func checkURL(errs FieldErrors, field, s string, required bool) {
	if s == "" {
		if required {
			errs[field] = "required"
		}
		return
	}
	if len(s) > MaxURLLen {
		errs[field] = fmt.Sprintf("at most %d characters", MaxURLLen)
		return
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		errs[field] = "not a URL"
	case u.Scheme == "" && u.Host == "" && strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "//") && !strings.Contains(s, `\`):
	case u.Scheme == "https" && u.Host != "":
	default:
		errs[field] = "a storefront path starting with / or an https URL"
	}
}

// Validate checks d and returns FieldErrors (nil when valid). It trims
// surrounding spaces of texts in place.
func (d *Definition) Validate() error {
	errs := FieldErrors{}
	d.Title = strings.TrimSpace(d.Title)
	d.Intro = strings.TrimSpace(d.Intro)
	checkText(errs, "title", d.Title, true)
	if utf8.RuneCountInString(d.Intro) > 4*MaxTextLen {
		errs["intro"] = fmt.Sprintf("at most %d characters", 4*MaxTextLen)
	}

	segs := map[string]bool{}
	switch {
	case len(d.Segments) == 0:
		errs["segments"] = "at least one segment"
	case len(d.Segments) > MaxSegments:
		errs["segments"] = fmt.Sprintf("at most %d segments", MaxSegments)
	}
	for i := range d.Segments {
		s := &d.Segments[i]
		p := fmt.Sprintf("segments[%d]", i)
		s.Name = strings.TrimSpace(s.Name)
		checkID(errs, p+".key", s.Key, segs)
		checkText(errs, p+".name", s.Name, true)
		if len(s.Products) > MaxProducts {
			errs[p+".products"] = fmt.Sprintf("at most %d products", MaxProducts)
		}
		for j := range s.Products {
			pr := &s.Products[j]
			pp := fmt.Sprintf("%s.products[%d]", p, j)
			pr.Title = strings.TrimSpace(pr.Title)
			if pr.ID <= 0 {
				errs[pp+".id"] = "a Shopify product id"
			}
			checkText(errs, pp+".title", pr.Title, true)
			checkURL(errs, pp+".url", pr.URL, true)
			checkURL(errs, pp+".image_url", pr.ImageURL, false)
		}
	}
	if d.DefaultSegment == "" && len(d.Segments) > 0 {
		d.DefaultSegment = d.Segments[0].Key
	}
	if !segs[d.DefaultSegment] {
		errs["default_segment"] = "must be one of the segments"
	}

	switch {
	case len(d.Questions) == 0:
		errs["questions"] = "at least one question"
	case len(d.Questions) > MaxQuestions:
		errs["questions"] = fmt.Sprintf("at most %d questions", MaxQuestions)
	}
	qids := map[string]bool{}
	for i := range d.Questions {
		q := &d.Questions[i]
		p := fmt.Sprintf("questions[%d]", i)
		q.Text = strings.TrimSpace(q.Text)
		checkID(errs, p+".id", q.ID, qids)
		checkText(errs, p+".text", q.Text, true)
		if len(q.Answers) < MinAnswers || len(q.Answers) > MaxAnswers {
			errs[p+".answers"] = fmt.Sprintf("between %d and %d answers", MinAnswers, MaxAnswers)
		}
		aids := map[string]bool{}
		for j := range q.Answers {
			a := &q.Answers[j]
			ap := fmt.Sprintf("%s.answers[%d]", p, j)
			a.Text = strings.TrimSpace(a.Text)
			checkID(errs, ap+".id", a.ID, aids)
			checkText(errs, ap+".text", a.Text, true)
			if a.Segment != "" && !segs[a.Segment] {
				errs[ap+".segment"] = "must be one of the segments"
			}
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// SegmentByKey returns the segment or nil.
func (d *Definition) SegmentByKey(key string) *Segment {
	for i := range d.Segments {
		if d.Segments[i].Key == key {
			return &d.Segments[i]
		}
	}
	return nil
}

// Score checks that answers (question id → answer id) answer every question
// with one of its answers, and returns the segment: the one most answers
// point to, ties going to the segment listed first; DefaultSegment when no
// answer points anywhere.
func (d *Definition) Score(answers map[string]string) (string, FieldErrors) {
	errs := FieldErrors{}
	votes := map[string]int{}
	for _, q := range d.Questions {
		got, ok := answers[q.ID]
		if !ok {
			errs["answers."+q.ID] = "required"
			continue
		}
		found := false
		for _, a := range q.Answers {
			if a.ID == got {
				found = true
				if a.Segment != "" {
					votes[a.Segment]++
				}
			}
		}
		if !found {
			errs["answers."+q.ID] = "not an answer of this question"
		}
	}
	if len(answers) > len(d.Questions) {
		errs["answers"] = "answers to unknown questions"
	}
	if len(errs) > 0 {
		return "", errs
	}
	best, n := d.DefaultSegment, 0
	for _, s := range d.Segments {
		if votes[s.Key] > n {
			best, n = s.Key, votes[s.Key]
		}
	}
	return best, nil
}

// Starter is the definition the admin shows before the merchant saved one:
// three segments named like the default post-quiz branches (a, b, c).
func Starter() Definition {
	return Definition{
		Title: "Find your match",
		Intro: "Three quick questions and we'll recommend what suits you.",
		Questions: []Question{
			{ID: "goal", Text: "What are you looking for?", Answers: []Answer{
				{ID: "essentials", Text: "Everyday essentials", Segment: "a"},
				{ID: "treat", Text: "Something special", Segment: "b"},
				{ID: "gift", Text: "A gift", Segment: "c"},
			}},
			{ID: "style", Text: "Which style do you prefer?", Answers: []Answer{
				{ID: "simple", Text: "Simple and classic", Segment: "a"},
				{ID: "bold", Text: "Bold and new", Segment: "b"},
				{ID: "any", Text: "No preference"},
			}},
		},
		Segments: []Segment{
			{Key: "a", Name: "Essentials", Products: []Product{}},
			{Key: "b", Name: "Discoverers", Products: []Product{}},
			{Key: "c", Name: "Gift givers", Products: []Product{}},
		},
		DefaultSegment: "a",
	}
}
