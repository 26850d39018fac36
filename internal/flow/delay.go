package flow

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Delay is how long a step waits after the previous one (or after the
// trigger, for the first step). Two forms, written as text in definitions:
//
//	"N hours"                                   a plain duration
//	"N days at HH:MM [on mon,tue,…]"            N calendar days later, at that
//	                                            local time on an allowed weekday
//	"usable life at HH:MM [on …]"               replenishment: the product's
//	                                            usable life in days, then as above
//
// Clock times are in the shop's time zone, so a daylight-saving change inside
// the delay does not shift them.
type Delay struct {
	Hours      int
	Days       int
	UsableLife bool
	At         string // "HH:MM"; empty for the hours form
	Weekdays   []time.Weekday
}

// Hours is a plain delay of n hours.
func Hours(n int) Delay { return Delay{Hours: n} }

// DaysAt is n calendar days later at hh:mm local time, on the given weekdays
// (any when none).
func DaysAt(n int, at string, on ...time.Weekday) Delay { return Delay{Days: n, At: at, Weekdays: on} }

var (
	hoursRE = regexp.MustCompile(`^(\d+) hours?$`)
	daysRE  = regexp.MustCompile(`^(\d+ days?|usable life) at (\d\d:\d\d)(?: on ([a-z,]+))?$`)
)

var weekdayNames = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}

// ParseDelay reads the text form of a delay.
func ParseDelay(s string) (Delay, error) {
	s = strings.Join(strings.Fields(strings.ToLower(s)), " ")
	if m := hoursRE.FindStringSubmatch(s); m != nil {
		n, err := strconv.Atoi(m[1])
		if err != nil {
			return Delay{}, fmt.Errorf("flow: delay %q: %w", s, err)
		}
		return Delay{Hours: n}, nil
	}
	m := daysRE.FindStringSubmatch(s)
	if m == nil {
		return Delay{}, fmt.Errorf(`flow: delay %q: want "N hours" or "N days at HH:MM [on mon,…]"`, s)
	}
	d := Delay{At: m[2]}
	if m[1] == "usable life" {
		d.UsableLife = true
	} else {
		n, err := strconv.Atoi(strings.Fields(m[1])[0])
		if err != nil {
			return Delay{}, fmt.Errorf("flow: delay %q: %w", s, err)
		}
		d.Days = n
	}
	if m[3] != "" {
		for _, name := range strings.Split(m[3], ",") {
			wd, ok := weekdayNames[name]
			if !ok {
				return Delay{}, fmt.Errorf("flow: delay %q: unknown weekday %q", s, name)
			}
			d.Weekdays = append(d.Weekdays, wd)
		}
	}
	if _, _, err := d.clock(); err != nil {
		return Delay{}, err
	}
	return d, nil
}

// String is the text form ParseDelay reads.
func (d Delay) String() string {
	if d.At == "" {
		if d.Hours == 1 {
			return "1 hour"
		}
		return fmt.Sprintf("%d hours", d.Hours)
	}
	var b strings.Builder
	switch {
	case d.UsableLife:
		b.WriteString("usable life")
	case d.Days == 1:
		b.WriteString("1 day")
	default:
		fmt.Fprintf(&b, "%d days", d.Days)
	}
	b.WriteString(" at " + d.At)
	if len(d.Weekdays) > 0 {
		names := make([]string, len(d.Weekdays))
		for i, wd := range d.Weekdays {
			names[i] = strings.ToLower(wd.String()[:3])
		}
		b.WriteString(" on " + strings.Join(names, ","))
	}
	return b.String()
}

// MarshalJSON writes the text form.
func (d Delay) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads the text form.
func (d *Delay) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("flow: delay: %w", err)
	}
	v, err := ParseDelay(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

func (d Delay) clock() (h, m int, err error) {
	if len(d.At) != 5 || d.At[2] != ':' {
		return 0, 0, fmt.Errorf("flow: time %q: want HH:MM", d.At)
	}
	h, err1 := strconv.Atoi(d.At[:2])
	m, err2 := strconv.Atoi(d.At[3:])
	if err1 != nil || err2 != nil || h > 23 || m > 59 || h < 0 || m < 0 {
		return 0, 0, fmt.Errorf("flow: time %q: want HH:MM", d.At)
	}
	return h, m, nil
}

// Scale shortens real-world durations (TIME_SCALE); nil means none.
type Scale func(time.Duration) time.Duration

// Due returns when a step with this delay falls due, counting from from.
// loc is the shop's time zone; lifeDays is the product's usable life (only
// read by the usable-life form). Under a time scale, calendar days and clock
// times have no meaning, so the days form becomes a compressed duration.
func (d Delay) Due(from time.Time, loc *time.Location, scale Scale, lifeDays int) time.Time {
	if scale == nil {
		scale = func(x time.Duration) time.Duration { return x }
	}
	if d.At == "" {
		return from.Add(scale(time.Duration(d.Hours) * time.Hour))
	}
	days := d.Days
	if d.UsableLife {
		days = lifeDays
	}
	if scale(24*time.Hour) != 24*time.Hour {
		return from.Add(scale(time.Duration(days) * 24 * time.Hour))
	}
	h, m, err := d.clock()
	if err != nil { // validated definitions never get here; fall back to the plain duration
		return from.Add(time.Duration(days) * 24 * time.Hour)
	}
	local := from.In(loc)
	// time.Date normalizes day overflow and resolves the wall clock in loc,
	// so 10:00 stays 10:00 across a daylight-saving change.
	due := time.Date(local.Year(), local.Month(), local.Day()+days, h, m, 0, 0, loc)
	for due.Before(from) {
		due = time.Date(due.Year(), due.Month(), due.Day()+1, h, m, 0, 0, loc)
	}
	for range 7 {
		if d.allowed(due.Weekday()) {
			break
		}
		due = time.Date(due.Year(), due.Month(), due.Day()+1, h, m, 0, 0, loc)
	}
	return due
}

func (d Delay) allowed(wd time.Weekday) bool {
	if len(d.Weekdays) == 0 {
		return true
	}
	for _, w := range d.Weekdays {
		if w == wd {
			return true
		}
	}
	return false
}
