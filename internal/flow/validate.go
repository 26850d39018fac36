package flow

import (
	"fmt"
	"slices"
	"strings"
)

// FieldError is one problem in a definition; Field is a path such as
// "branches[1].steps[0].delay".
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError lists every problem of a definition.
type ValidationError struct {
	Fields []FieldError `json:"fields"`
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return "flow: invalid definition: " + strings.Join(parts, "; ")
}

// MaxAbandonmentSteps caps the reminders of an abandonment flow.
const MaxAbandonmentSteps = 3

var knownKeys = func() map[Key]bool {
	m := map[Key]bool{}
	for _, k := range Keys {
		m[k] = true
	}
	return m
}()

// Validate checks a definition and returns a *ValidationError listing every
// problem, or nil.
func Validate(f *Flow) error {
	var errs []FieldError
	bad := func(field, format string, args ...any) {
		errs = append(errs, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	if !knownKeys[f.Key] {
		bad("key", "unknown flow %q", f.Key)
	}
	if strings.TrimSpace(f.Name) == "" {
		bad("name", "is required")
	}
	if len(f.Triggers) == 0 {
		bad("triggers", "at least one trigger is required")
	}
	for i, t := range f.Triggers {
		if !triggers[t] {
			bad(fmt.Sprintf("triggers[%d]", i), "unknown trigger %q", t)
		}
	}
	if f.Goal != GoalPurchase && f.Goal != GoalNone {
		bad("goal", "must be %q or %q", GoalPurchase, GoalNone)
	}
	if f.Ladder < 0 || f.Ladder > 3 {
		bad("ladder", "must be between 0 and 3")
	}
	applicable := ApplicableExits(f)
	seenExits := map[Exit]bool{}
	for i, x := range f.Exits {
		switch {
		case x != ExitLeave && x != ExitEmptied:
			bad(fmt.Sprintf("exits[%d]", i), "unknown exit %q", x)
		case seenExits[x]:
			bad(fmt.Sprintf("exits[%d]", i), "duplicate exit %q", x)
		case !slices.Contains(applicable, x):
			bad(fmt.Sprintf("exits[%d]", i), "%q does not apply to this flow", x)
		}
		seenExits[x] = true
	}
	// The engine ends a cart or checkout flow whenever its cart is emptied or
	// its checkout deleted; the definition says so rather than pretend.
	if slices.Contains(applicable, ExitEmptied) && !seenExits[ExitEmptied] {
		bad("exits", "must include %q: an emptied cart or a deleted checkout always ends this flow", ExitEmptied)
	}
	if f.Reentry.CooldownDays < 0 || f.Reentry.CooldownDays > 3650 {
		bad("reentry.cooldown_days", "must be between 0 and 3650")
	}
	if f.Reentry.Once && f.Reentry.CooldownDays > 0 {
		bad("reentry", "once and a cool-down exclude each other")
	}
	if f.Then != "" && (!knownKeys[f.Then] || f.Then == f.Key) {
		bad("then", "must name another flow")
	}
	if len(f.Branches) == 0 {
		bad("branches", "at least one branch is required")
	}
	branchKeys := map[string]bool{}
	for bi, b := range f.Branches {
		bp := fmt.Sprintf("branches[%d]", bi)
		if b.Key == "" {
			bad(bp+".key", "is required")
		} else if branchKeys[b.Key] {
			bad(bp+".key", "duplicate branch %q", b.Key)
		}
		branchKeys[b.Key] = true
		if !b.When.valid() {
			bad(bp+".when", "unknown condition %q", b.When)
		}
		if len(b.Steps) == 0 {
			bad(bp+".steps", "at least one step is required")
		}
		if f.Ladder > 0 && len(b.Steps) > MaxAbandonmentSteps {
			bad(bp+".steps", "an abandonment flow sends at most %d reminders", MaxAbandonmentSteps)
		}
		stepKeys := map[string]bool{}
		for si, s := range b.Steps {
			sp := fmt.Sprintf("%s.steps[%d]", bp, si)
			if s.Key == "" {
				bad(sp+".key", "is required")
			} else if stepKeys[s.Key] {
				bad(sp+".key", "duplicate step %q", s.Key)
			}
			stepKeys[s.Key] = true
			if strings.TrimSpace(s.Template) == "" {
				bad(sp+".template", "is required")
			}
			switch s.Class {
			case Transactional:
				if s.Offer {
					bad(sp+".class", "a step with an offer is promotional")
				}
			case Promotional:
			default:
				bad(sp+".class", "must be %q or %q", Transactional, Promotional)
			}
			if msg := validDelay(s.Delay); msg != "" {
				bad(sp+".delay", "%s", msg)
			}
			if s.Delay.UsableLife && f.Key != Replenishment {
				bad(sp+".delay", "usable life is for replenishment only")
			}
			if s.AfterFulfilment && !f.StartsOn(OrderPlaced) {
				bad(sp+".after_fulfilment", "needs a flow started by an order")
			}
		}
	}
	if len(errs) > 0 {
		return &ValidationError{Fields: errs}
	}
	return nil
}

func validDelay(d Delay) string {
	if d.At == "" {
		if d.Hours < 0 || d.Hours > 24*366 {
			return "hours must be between 0 and 8784"
		}
		if d.Days != 0 || d.UsableLife || len(d.Weekdays) > 0 {
			return "days, usable life and weekdays need a time of day"
		}
		return ""
	}
	if d.Hours != 0 {
		return "use either hours or days at a time of day"
	}
	if d.Days < 0 || d.Days > 366 {
		return "days must be between 0 and 366"
	}
	if _, _, err := d.clock(); err != nil {
		return "time of day must be HH:MM"
	}
	seen := map[int]bool{}
	for _, wd := range d.Weekdays {
		if wd < 0 || wd > 6 || seen[int(wd)] {
			return "weekdays must be distinct days"
		}
		seen[int(wd)] = true
	}
	return ""
}

// ApplicableExits lists the exits that make sense for a flow: a shopper can
// leave an abandonment flow ("not interested" link), and a flow about a cart
// or a checkout ends when it is emptied or deleted.
func ApplicableExits(f *Flow) []Exit {
	var out []Exit
	if f.Ladder > 0 {
		out = append(out, ExitLeave)
	}
	if f.StartsOn(CartUpdated) || f.StartsOn(CheckoutStarted) {
		out = append(out, ExitEmptied)
	}
	return out
}
