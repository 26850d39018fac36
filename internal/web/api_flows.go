package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/relance/relance/internal/courier"
	"github.com/relance/relance/internal/flow"
	"github.com/relance/relance/internal/journey"
	"github.com/relance/relance/internal/mail"
	"github.com/relance/relance/internal/shop"
)

// FlowSummary is one item of GET /api/flows.
type FlowSummary struct {
	Key        flow.Key `json:"key"`
	Name       string   `json:"name"`
	Enabled    bool     `json:"enabled"`
	Version    int      `json:"version"`
	Waiting    int64    `json:"waiting"`
	Sent30d    int64    `json:"sent_30d"`
	Skipped30d int64    `json:"skipped_30d"`
}

// DelayJSON is a step's delay: {hours} or {days, at, weekdays}; the
// replenishment flow's usable-life form is {usable_life: true, at, weekdays}.
type DelayJSON struct {
	Hours      *int     `json:"hours,omitempty"`
	Days       *int     `json:"days,omitempty"`
	UsableLife bool     `json:"usable_life,omitempty"`
	At         string   `json:"at,omitempty"`
	Weekdays   []string `json:"weekdays,omitempty"`
}

// StepJSON is one step of the editor. Branch names the branch of flows
// that have several (welcome: customer/new, post-quiz segments, …); it may
// be omitted for single-branch flows.
type StepJSON struct {
	Key       string    `json:"key"`
	Branch    string    `json:"branch,omitempty"`
	Delay     DelayJSON `json:"delay"`
	Class     string    `json:"class"`
	Offer     bool      `json:"offer"`
	Subject   string    `json:"subject"`
	Preheader string    `json:"preheader"`
	Body      string    `json:"body"`
}

// ReentryJSON says when a shopper who went through a flow may enter it
// again: never (once), after cooldown_days since the previous enrollment
// started, or (both zero) as soon as they are no longer in it.
type ReentryJSON struct {
	Once         bool `json:"once"`
	CooldownDays int  `json:"cooldown_days"`
}

// FlowJSON is GET /api/flows/:key and the body of PUT
// /api/flows/:key/draft. When a draft exists it is what is shown (and
// has_draft is true); version is always the published version in force.
// Locale is the language of subject, preheader and body. Exits are the
// events besides the goal that end an enrollment, among available_exits
// (the ones that make sense for this flow).
type FlowJSON struct {
	Key            flow.Key    `json:"key"`
	Name           string      `json:"name"`
	Enabled        bool        `json:"enabled"`
	Version        int         `json:"version"`
	Goal           flow.Goal   `json:"goal"`
	Locale         string      `json:"locale"`
	Steps          []StepJSON  `json:"steps"`
	Exits          []flow.Exit `json:"exits"`
	AvailableExits []flow.Exit `json:"available_exits"`
	Reentry        ReentryJSON `json:"reentry"`
	HasDraft       bool        `json:"has_draft"`
}

// flowKey reads :key; an unknown flow is a 404.
func flowKey(c echo.Context) (flow.Key, error) {
	k := flow.Key(c.Param("key"))
	if !flow.IsKnown(k) {
		return "", notFound("flow")
	}
	return k, nil
}

// listFlows answers GET /api/flows: the nine flows in display order.
func (a *admin) listFlows(c echo.Context) error {
	s, err := sessionShop(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if err := a.Flows.EnsureDefaults(ctx, s.ID); err != nil {
		return err
	}
	states, err := a.Flows.List(ctx, s.ID)
	if err != nil {
		return err
	}
	stats, err := a.flowCounters(ctx, s.ID)
	if err != nil {
		return err
	}
	byKey := map[flow.Key]flow.State{}
	for _, st := range states {
		byKey[st.Key] = st
	}
	items := make([]FlowSummary, 0, len(flow.Keys))
	for _, k := range flow.Keys {
		st, ok := byKey[k]
		if !ok {
			continue
		}
		f, err := a.Flows.Version(ctx, s.ID, k, st.Version)
		if err != nil {
			return err
		}
		n := stats[k]
		items = append(items, FlowSummary{Key: k, Name: f.Name, Enabled: st.Enabled, Version: st.Version,
			Waiting: n.Waiting, Sent30d: n.Sent, Skipped30d: n.Skipped})
	}
	return c.JSON(http.StatusOK, page[FlowSummary]{Items: items})
}

// setFlowEnabled answers POST /api/flows/:key/enabled {"enabled": bool}.
func (a *admin) setFlowEnabled(c echo.Context) error {
	s, err := sessionShop(c)
	if err != nil {
		return err
	}
	key, err := flowKey(c)
	if err != nil {
		return err
	}
	var in struct {
		Enabled *bool `json:"enabled"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	if in.Enabled == nil {
		return invalid(c, fieldErrors{"enabled": "is required"})
	}
	ctx := c.Request().Context()
	if err := a.Flows.SetEnabled(ctx, s.ID, key, *in.Enabled); err != nil {
		return err
	}
	f, enabled, err := a.Flows.Current(ctx, s.ID, key)
	if err != nil {
		return err
	}
	stats, err := a.flowCounters(ctx, s.ID)
	if err != nil {
		return err
	}
	n := stats[key]
	return c.JSON(http.StatusOK, FlowSummary{Key: key, Name: f.Name, Enabled: enabled, Version: f.Version,
		Waiting: n.Waiting, Sent30d: n.Sent, Skipped30d: n.Skipped})
}

// flowCounters are the Sequences page's numbers per flow: shoppers waiting
// now (the engine) and emails sent and steps skipped over 30 days (the
// analytics pre-aggregates).
func (a *admin) flowCounters(ctx context.Context, shopID int64) (map[flow.Key]journey.FlowStats, error) {
	stats, err := a.Engine.FlowStats(ctx, shopID)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	activity, err := a.Analytics.FlowActivity(ctx, shopID, now.Add(-30*24*time.Hour), now)
	if err != nil {
		return nil, err
	}
	for k, n := range activity {
		st := stats[k]
		st.Sent, st.Skipped = n.Sent, n.Skipped
		stats[k] = st
	}
	return stats, nil
}

// editorState is what the editor works on: the draft if any, else the
// published version, as a private copy.
type editorState struct {
	published *flow.Flow
	enabled   bool
	def       flow.Flow
	content   flow.ContentSet
	hasDraft  bool
}

func (a *admin) editorState(c echo.Context, shopID int64, key flow.Key) (*editorState, error) {
	ctx := c.Request().Context()
	cur, enabled, err := a.Flows.Current(ctx, shopID, key)
	if err != nil {
		return nil, err
	}
	st := &editorState{published: cur, enabled: enabled}
	d, err := a.Flows.Draft(ctx, shopID, key)
	switch {
	case err == nil:
		st.def, st.content, st.hasDraft = d.Flow, d.Content, true
	case errors.Is(err, flow.ErrNotFound):
		if st.def, err = copyFlow(cur); err != nil {
			return nil, err
		}
		if st.content, err = a.Flows.VersionContent(ctx, shopID, key, cur.Version); err != nil {
			return nil, err
		}
	default:
		return nil, err
	}
	return st, nil
}

// copyFlow deep-copies a definition (the store's are shared and cached).
func copyFlow(f *flow.Flow) (flow.Flow, error) {
	var out flow.Flow
	b, err := json.Marshal(f)
	if err != nil {
		return out, err
	}
	err = json.Unmarshal(b, &out)
	out.Version = f.Version
	return out, err
}

// shopLocale is the shop's default email language.
func (a *admin) shopLocale(c echo.Context, shopID int64) (string, error) {
	ss, err := courier.LoadSenderSettings(c.Request().Context(), a.DB, shopID)
	if err != nil {
		return "", err
	}
	return mail.PickLocale(ss.DefaultLocale, ""), nil
}

// requestLocale is ?locale= (en or fr) or the shop's default language.
func (a *admin) requestLocale(c echo.Context, shopID int64, given string) (string, error) {
	if given == "" {
		return a.shopLocale(c, shopID)
	}
	if given != mail.LocaleEN && given != mail.LocaleFR {
		return "", invalid(c, fieldErrors{"locale": `must be "en" or "fr"`})
	}
	return given, nil
}

func (st *editorState) json(locale string) FlowJSON {
	out := FlowJSON{Key: st.def.Key, Name: st.def.Name, Enabled: st.enabled, Version: st.published.Version, Goal: st.def.Goal,
		Locale: locale, HasDraft: st.hasDraft, Steps: []StepJSON{},
		Exits: append([]flow.Exit{}, st.def.Exits...), AvailableExits: append([]flow.Exit{}, flow.ApplicableExits(&st.def)...),
		Reentry: ReentryJSON{Once: st.def.Reentry.Once, CooldownDays: st.def.Reentry.CooldownDays}}
	for _, b := range st.def.Branches {
		for _, s := range b.Steps {
			sj := StepJSON{Key: s.Key, Branch: b.Key, Delay: delayJSON(s.Delay), Class: string(s.Class), Offer: s.Offer}
			if c, ok := st.content.Get(s.Template, locale); ok {
				sj.Subject, sj.Preheader, sj.Body = c.Subject, c.Preheader, c.Body
			} else if t, ok := mail.DefaultTemplate(s.Template, locale); ok {
				sj.Subject, sj.Preheader, sj.Body = t.Subject, t.Preheader, t.Body
			}
			out.Steps = append(out.Steps, sj)
		}
	}
	return out
}

var weekdayNames = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

func delayJSON(d flow.Delay) DelayJSON {
	if d.At == "" {
		h := d.Hours
		return DelayJSON{Hours: &h}
	}
	out := DelayJSON{At: d.At, UsableLife: d.UsableLife}
	if !d.UsableLife {
		days := d.Days
		out.Days = &days
	}
	for _, wd := range d.Weekdays {
		out.Weekdays = append(out.Weekdays, weekdayNames[wd])
	}
	return out
}

// parseDelay converts the JSON form; flow.Validate checks the ranges.
func parseDelay(d DelayJSON) (flow.Delay, string) {
	switch {
	case d.Hours != nil && (d.Days != nil || d.UsableLife || d.At != "" || len(d.Weekdays) > 0):
		return flow.Delay{}, "use either hours or days at a time of day"
	case d.Hours != nil:
		return flow.Delay{Hours: *d.Hours}, ""
	case d.At == "":
		return flow.Delay{}, "hours, or days with a time of day, are required"
	case d.Days == nil && !d.UsableLife:
		return flow.Delay{}, "days are required with a time of day"
	}
	out := flow.Delay{At: d.At, UsableLife: d.UsableLife}
	if d.Days != nil {
		out.Days = *d.Days
	}
	for _, name := range d.Weekdays {
		i := indexOf(weekdayNames, strings.ToLower(name))
		if i < 0 {
			return flow.Delay{}, fmt.Sprintf("unknown weekday %q", name)
		}
		out.Weekdays = append(out.Weekdays, time.Weekday(i))
	}
	return out, ""
}

func indexOf(xs []string, x string) int {
	for i, v := range xs {
		if v == x {
			return i
		}
	}
	return -1
}

// getFlow answers GET /api/flows/:key[?locale=en|fr].
func (a *admin) getFlow(c echo.Context) error {
	s, err := sessionShop(c)
	if err != nil {
		return err
	}
	key, err := flowKey(c)
	if err != nil {
		return err
	}
	locale, err := a.requestLocale(c, s.ID, c.QueryParam("locale"))
	if err != nil || c.Response().Committed {
		return err
	}
	st, err := a.editorState(c, s.ID, key)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, st.json(locale))
}

// DraftJSON is the body of PUT /api/flows/:key/draft: FlowJSON's editable
// part. Name and goal keep their value when empty, exits and reentry when
// absent; locale defaults to the shop's language.
type DraftJSON struct {
	Key            flow.Key     `json:"key,omitempty"`
	Name           string       `json:"name,omitempty"`
	Enabled        *bool        `json:"enabled,omitempty"`         // ignored: POST /enabled switches a flow
	Version        *int         `json:"version,omitempty"`         // ignored
	HasDraft       *bool        `json:"has_draft,omitempty"`       // ignored
	AvailableExits []flow.Exit  `json:"available_exits,omitempty"` // ignored
	Goal           flow.Goal    `json:"goal,omitempty"`
	Locale         string       `json:"locale,omitempty"`
	Steps          []StepJSON   `json:"steps"`
	Exits          *[]flow.Exit `json:"exits,omitempty"`
	Reentry        *ReentryJSON `json:"reentry,omitempty"`
}

var (
	validatePathRE = regexp.MustCompile(`^branches\[(\d+)\]\.steps\[(\d+)\](.*)$`)
	exitPathRE     = regexp.MustCompile(`^exits\[(\d+)\]$`)
)

// saveDraft answers PUT /api/flows/:key/draft: the definition is checked
// by flow.Validate and every step's content is compiled (Liquid errors with
// their line) before the draft is stored; problems are 422 with field paths
// such as "steps.1.body".
func (a *admin) saveDraft(c echo.Context) error {
	s, err := sessionShop(c)
	if err != nil {
		return err
	}
	key, err := flowKey(c)
	if err != nil {
		return err
	}
	var in DraftJSON
	if err := bind(c, &in); err != nil {
		return err
	}
	bad := fieldErrors{}
	if in.Key != "" && in.Key != key {
		bad["key"] = "does not match the flow in the URL"
	}
	locale, err := a.requestLocale(c, s.ID, in.Locale)
	if err != nil || c.Response().Committed {
		return err
	}
	st, err := a.editorState(c, s.ID, key)
	if err != nil {
		return err
	}
	def := st.def
	if in.Name != "" {
		def.Name = strings.TrimSpace(in.Name)
	}
	if in.Goal != "" {
		def.Goal = in.Goal
	}
	if in.Exits != nil {
		def.Exits = append([]flow.Exit{}, *in.Exits...)
	}
	if r := in.Reentry; r != nil {
		def.Reentry = flow.Reentry{Once: r.Once, CooldownDays: r.CooldownDays}
	}
	if len(in.Steps) == 0 {
		bad["steps"] = "at least one step is required"
	}

	// Steps are grouped back into the definition's branches, in the order
	// given; a step keeps the template (and fulfilment wait) of the step of
	// the same key in its branch, and a new step gets a template name of
	// its own, served by its custom content.
	type pos struct{ branch, step int }
	flat := map[pos]int{} // branch/step index → index in in.Steps
	oldBranches := def.Branches
	newSteps := make([][]flow.Step, len(oldBranches))
	branchIndex := func(k string) int {
		for i, b := range oldBranches {
			if b.Key == k {
				return i
			}
		}
		return -1
	}
	content := flow.ContentSet{}
	for tmpl, byLocale := range st.content {
		for l, ct := range byLocale {
			if l != locale {
				content.Set(tmpl, l, ct)
			}
		}
	}
	for i, sj := range in.Steps {
		p := fmt.Sprintf("steps.%d.", i)
		bi := 0
		switch {
		case sj.Branch != "":
			if bi = branchIndex(sj.Branch); bi < 0 {
				bad[p+"branch"] = fmt.Sprintf("unknown branch %q", sj.Branch)
				continue
			}
		case len(oldBranches) > 1:
			bad[p+"branch"] = "is required: this flow has several branches"
			continue
		}
		delay, msg := parseDelay(sj.Delay)
		if msg != "" {
			bad[p+"delay"] = msg
		}
		step := flow.Step{Key: strings.TrimSpace(sj.Key), Delay: delay, Class: flow.Class(sj.Class), Offer: sj.Offer}
		for _, old := range oldBranches[bi].Steps {
			if old.Key == step.Key {
				step.Template, step.AfterFulfilment = old.Template, old.AfterFulfilment
			}
		}
		if step.Template == "" {
			step.Template = "custom/" + string(key) + "/" + oldBranches[bi].Key + "/" + step.Key
		}
		flat[pos{bi, len(newSteps[bi])}] = i
		newSteps[bi] = append(newSteps[bi], step)

		t := mail.Template{Subject: sj.Subject, Preheader: sj.Preheader, Body: sj.Body}
		if _, err := mail.Compile(t); err != nil {
			var te *mail.TemplateError
			if errors.As(err, &te) {
				bad[p+te.Part] = fmt.Sprintf("line %d: %s", te.Line, te.Message)
			} else if errors.Is(err, mail.ErrTooLarge) {
				bad[p+"body"] = "the rendered email is larger than 100 KB"
			} else {
				return err
			}
			continue
		}
		if dt, ok := mail.DefaultTemplate(step.Template, locale); !ok || dt != t {
			content.Set(step.Template, locale, flow.Content{Subject: t.Subject, Preheader: t.Preheader, Body: t.Body})
		}
	}
	def.Branches = make([]flow.Branch, len(oldBranches))
	for i, b := range oldBranches {
		b.Steps = newSteps[i]
		def.Branches[i] = b
	}
	if err := flow.Validate(&def); err != nil {
		var ve *flow.ValidationError
		if !errors.As(err, &ve) {
			return err
		}
		for _, fe := range ve.Fields {
			field := fe.Field
			if m := validatePathRE.FindStringSubmatch(field); m != nil {
				b, _ := strconv.Atoi(m[1])
				si, _ := strconv.Atoi(m[2])
				field = "steps." + strconv.Itoa(flat[pos{b, si}]) + m[3]
			} else if m := exitPathRE.FindStringSubmatch(field); m != nil {
				field = "exits." + m[1]
			} else if strings.HasPrefix(field, "branches[") {
				if b, err := strconv.Atoi(field[len("branches["):strings.Index(field, "]")]); err == nil && b < len(oldBranches) {
					field = "steps"
					fe.Message = fmt.Sprintf("branch %q: %s", oldBranches[b].Key, fe.Message)
				}
			}
			if _, dup := bad[field]; !dup {
				bad[field] = fe.Message
			}
		}
	}
	if len(bad) > 0 {
		return invalid(c, bad)
	}
	// Keep only the content of steps that still exist.
	used := map[string]bool{}
	for _, b := range def.Branches {
		for _, st := range b.Steps {
			used[st.Template] = true
		}
	}
	for tmpl := range content {
		if !used[tmpl] {
			delete(content, tmpl)
		}
	}
	ctx := c.Request().Context()
	if err := a.Flows.SaveDraft(ctx, s.ID, flow.Draft{Flow: def, Content: content, BaseVersion: st.published.Version}); err != nil {
		return err
	}
	st, err = a.editorState(c, s.ID, key)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, st.json(locale))
}

// PublishResult is the answer of POST /api/flows/:key/publish.
type PublishResult struct {
	Version int   `json:"version"`
	Moved   int64 `json:"moved"` // waiting shoppers moved to the new version
}

// publish answers POST /api/flows/:key/publish {"move_waiting": bool}: the
// draft becomes the flow's next version (its content is what the courier
// renders for enrollments on it); move_waiting re-pins the waiting
// shoppers to it, otherwise they finish on their own version.
func (a *admin) publish(c echo.Context) error {
	s, err := sessionShop(c)
	if err != nil {
		return err
	}
	key, err := flowKey(c)
	if err != nil {
		return err
	}
	var in struct {
		MoveWaiting bool `json:"move_waiting"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	ctx := c.Request().Context()
	v, err := a.Flows.PublishDraft(ctx, s.ID, key)
	if errors.Is(err, flow.ErrNotFound) {
		return echo.NewHTTPError(http.StatusConflict, "no draft to publish")
	}
	var ve *flow.ValidationError
	if errors.As(err, &ve) {
		return invalid(c, validationFields(ve))
	}
	if err != nil {
		return err
	}
	out := PublishResult{Version: v}
	if in.MoveWaiting {
		if out.Moved, err = a.Engine.MoveToVersion(ctx, s.ID, key, v); err != nil {
			return err
		}
	}
	return c.JSON(http.StatusOK, out)
}

func validationFields(ve *flow.ValidationError) fieldErrors {
	out := fieldErrors{}
	for _, f := range ve.Fields {
		out[f.Field] = f.Message
	}
	return out
}

// versions answers GET /api/flows/:key/versions?limit=&cursor=: published
// versions, newest first; the cursor is a version number.
func (a *admin) versions(c echo.Context) error {
	s, err := sessionShop(c)
	if err != nil {
		return err
	}
	key, err := flowKey(c)
	if err != nil {
		return err
	}
	limit, cursor, err := pageParams(c)
	if err != nil {
		return err
	}
	all, err := a.Flows.Versions(c.Request().Context(), s.ID, key)
	if err != nil {
		return err
	}
	var items []flow.VersionInfo
	for _, v := range all {
		if cursor == 0 || int64(v.Version) < cursor {
			items = append(items, v)
		}
		if len(items) > limit {
			break
		}
	}
	return c.JSON(http.StatusOK, newPage(items, limit, func(v flow.VersionInfo) int64 { return int64(v.Version) }))
}

// senderShop is the session shop as the sender of emails.
func senderShop(s *shop.Shop, ss courier.SenderSettings) mail.Shop {
	return courier.MailShop(s.Name, s.Email, s.Domain, s.Timezone, ss)
}
