package mail

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"
)

// Default templates, one file per template and language under
// templates/<locale>/<name>.liquid, where name is the flow step's template
// ("checkout/1"). A file holds "subject:" and "preheader:" lines, a "---"
// line, then the HTML body.
//
//go:embed templates
var defaultFS embed.FS

var (
	defaultsOnce sync.Once
	defaults     map[string]map[string]Template // name → locale → template
	defaultsErr  error
)

func loadDefaults() {
	defaults = map[string]map[string]Template{}
	defaultsErr = fs.WalkDir(defaultFS, "templates", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || !strings.HasSuffix(p, ".liquid") {
			return err
		}
		rel := strings.TrimPrefix(p, "templates/")
		locale, name, _ := strings.Cut(strings.TrimSuffix(rel, ".liquid"), "/")
		src, err := defaultFS.ReadFile(p)
		if err != nil {
			return err
		}
		t, err := parseTemplateFile(string(src))
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if defaults[name] == nil {
			defaults[name] = map[string]Template{}
		}
		defaults[name][locale] = t
		return nil
	})
}

func parseTemplateFile(src string) (Template, error) {
	head, body, ok := strings.Cut(src, "\n---\n")
	if !ok {
		return Template{}, fmt.Errorf("no --- line between headers and body")
	}
	var t Template
	for _, l := range strings.Split(head, "\n") {
		k, v, _ := strings.Cut(l, ":")
		switch strings.TrimSpace(k) {
		case "subject":
			t.Subject = strings.TrimSpace(v)
		case "preheader":
			t.Preheader = strings.TrimSpace(v)
		case "":
		default:
			return Template{}, fmt.Errorf("unknown header %q", k)
		}
	}
	t.Body = body
	return t, nil
}

// quizPrefix starts the templates of the post-quiz welcome, one branch per
// quiz segment: "post_quiz/<segment>/<step>".
const quizPrefix = "post_quiz/"

// quizDefaultSegment holds the quiz templates every segment starts with.
// Merchants name their segments, so a segment without templates of its own
// ("post_quiz/a/results", "post_quiz/dry-skin/routine") uses these: they speak
// of the recommended products, which differ per segment.
const quizDefaultSegment = "default"

// resolve maps a step's template name to the default that serves it: the
// name itself, or for a quiz segment with no default of its own, the same
// step of the default segment.
func resolve(name string) string {
	name = path.Clean(name)
	if _, ok := defaults[name]; ok {
		return name
	}
	if rest, ok := strings.CutPrefix(name, quizPrefix); ok {
		if seg, step, ok := strings.Cut(rest, "/"); ok && seg != "" && step != "" && !strings.Contains(step, "/") {
			return quizPrefix + quizDefaultSegment + "/" + step
		}
	}
	return name
}

// DefaultTemplate returns the default template name in the language
// PickLocale would choose, falling back to English when that language has no
// version. ok is false for a name without any default.
func DefaultTemplate(name, locale string) (t Template, ok bool) {
	defaultsOnce.Do(loadDefaults)
	byLocale := defaults[resolve(name)]
	if t, ok := byLocale[PickLocale(locale, "")]; ok {
		return t, true
	}
	t, ok = byLocale[DefaultLocale]
	return t, ok
}

// DefaultTemplateNames lists the template files that exist, sorted. A quiz
// segment's steps are served by the default segment's (see resolve), so
// "post_quiz/a/results" is not listed but has a default.
func DefaultTemplateNames() []string {
	defaultsOnce.Do(loadDefaults)
	names := make([]string, 0, len(defaults))
	for n := range defaults {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// DefaultLocales lists the languages the default for name is written in
// (none when name has no default).
func DefaultLocales(name string) []string {
	defaultsOnce.Do(loadDefaults)
	var out []string
	for l := range defaults[resolve(name)] {
		out = append(out, l)
	}
	sort.Strings(out)
	return out
}

// defaultsError reports a malformed embedded file (tests assert it is nil).
func defaultsError() error {
	defaultsOnce.Do(loadDefaults)
	return defaultsErr
}
