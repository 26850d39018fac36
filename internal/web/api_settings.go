package web

import (
	"net/http"
	netmail "net/mail"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/relance/relance/internal/courier"
	"github.com/relance/relance/internal/journey"
	"github.com/relance/relance/internal/mail"
)

// QuietHours are the hours, in the shop's time zone, when nothing is sent.
type QuietHours struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

// SettingsJSON is the body of GET and PUT /api/settings.
type SettingsJSON struct {
	SenderName              string      `json:"sender_name"`
	OwnerFirstName          string      `json:"owner_first_name"`
	ReplyTo                 string      `json:"reply_to"`
	PostalAddress           string      `json:"postal_address"`
	Timezone                string      `json:"timezone"`
	QuietHours              *QuietHours `json:"quiet_hours"`
	FrequencyCapHours       int         `json:"frequency_cap_hours"`
	RemindersWithoutConsent bool        `json:"reminders_without_consent"`
	DefaultLocale           string      `json:"default_locale"`
	ReplenishmentDays       int         `json:"replenishment_days"`
	DisengagedDays          int         `json:"disengaged_days"`
	DormantDays             int         `json:"dormant_days"`
}

// getSettings answers GET /api/settings: the values in force, Shopify's
// where the merchant set none (sender name, reply-to, time zone).
func (a *admin) getSettings(c echo.Context) error {
	s, err := sessionShop(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	js, err := a.Engine.Settings(ctx, s.ID)
	if err != nil {
		return err
	}
	rs, err := a.Engine.ReengagementSettings(ctx, s.ID)
	if err != nil {
		return err
	}
	ss, err := courier.LoadSenderSettings(ctx, a.DB, s.ID)
	if err != nil {
		return err
	}
	out := SettingsJSON{
		SenderName: firstNonEmpty(ss.SenderName, s.Name), OwnerFirstName: ss.OwnerFirstName, ReplyTo: firstNonEmpty(ss.ReplyTo, s.Email),
		PostalAddress: ss.PostalAddress, Timezone: firstNonEmpty(ss.Timezone, s.Timezone, "UTC"),
		FrequencyCapHours: js.FrequencyCapHours, RemindersWithoutConsent: js.RemindersWithoutConsent,
		DefaultLocale: mail.PickLocale(ss.DefaultLocale, ""), ReplenishmentDays: js.UsableLifeDays,
		DisengagedDays: rs.DisengagedDays, DormantDays: rs.DormantDays,
	}
	if js.QuietStart != js.QuietEnd { // equal: no quiet hours
		out.QuietHours = &QuietHours{Start: js.QuietStart, End: js.QuietEnd}
	}
	return c.JSON(http.StatusOK, out)
}

var clockRE = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$`)

// putSettings answers PUT /api/settings: the whole document, validated
// field by field before anything is stored.
func (a *admin) putSettings(c echo.Context) error {
	s, err := sessionShop(c)
	if err != nil {
		return err
	}
	var in SettingsJSON
	if err := bind(c, &in); err != nil {
		return err
	}
	in.SenderName, in.OwnerFirstName = strings.TrimSpace(in.SenderName), strings.TrimSpace(in.OwnerFirstName)
	in.ReplyTo, in.PostalAddress = strings.TrimSpace(in.ReplyTo), strings.TrimSpace(in.PostalAddress)
	in.Timezone = strings.TrimSpace(in.Timezone)
	bad := fieldErrors{}
	text := func(field, v string, required bool, maxLen int) {
		switch {
		case required && v == "":
			bad[field] = "is required"
		case utf8.RuneCountInString(v) > maxLen:
			bad[field] = "is too long"
		case strings.ContainsAny(v, "\r\n") && field != "postal_address":
			bad[field] = "must be one line"
		}
	}
	text("sender_name", in.SenderName, true, 100)
	text("owner_first_name", in.OwnerFirstName, false, 60)
	text("postal_address", in.PostalAddress, true, 300)
	if in.ReplyTo == "" {
		bad["reply_to"] = "is required"
	} else if addr, err := netmail.ParseAddress(in.ReplyTo); err != nil || addr.Address != in.ReplyTo {
		bad["reply_to"] = "must be an email address"
	}
	if in.Timezone == "" {
		bad["timezone"] = "is required"
	} else if _, err := time.LoadLocation(in.Timezone); err != nil || in.Timezone == "Local" {
		bad["timezone"] = "must be an IANA time zone such as Europe/Paris"
	}
	if q := in.QuietHours; q != nil {
		if !clockRE.MatchString(q.Start) {
			bad["quiet_hours.start"] = "must be HH:MM"
		}
		if !clockRE.MatchString(q.End) {
			bad["quiet_hours.end"] = "must be HH:MM"
		}
		if q.Start == q.End && clockRE.MatchString(q.Start) {
			bad["quiet_hours.end"] = "must differ from the start (null turns quiet hours off)"
		}
	}
	if in.FrequencyCapHours < 0 || in.FrequencyCapHours > 720 {
		bad["frequency_cap_hours"] = "must be between 0 and 720"
	}
	if in.DefaultLocale != mail.LocaleEN && in.DefaultLocale != mail.LocaleFR {
		bad["default_locale"] = `must be "en" or "fr"`
	}
	if in.ReplenishmentDays < 1 || in.ReplenishmentDays > 3650 {
		bad["replenishment_days"] = "must be between 1 and 3650"
	}
	if in.DisengagedDays < 1 || in.DisengagedDays > 3649 {
		bad["disengaged_days"] = "must be between 1 and 3649"
	}
	if in.DormantDays <= in.DisengagedDays || in.DormantDays > 3650 {
		bad["dormant_days"] = "must be more than disengaged days and at most 3650"
	}
	if len(bad) > 0 {
		return invalid(c, bad)
	}

	ctx := c.Request().Context()
	js := journey.Settings{FrequencyCapHours: in.FrequencyCapHours, QuietStart: "00:00", QuietEnd: "00:00",
		RemindersWithoutConsent: in.RemindersWithoutConsent, UsableLifeDays: in.ReplenishmentDays}
	if in.QuietHours != nil {
		js.QuietStart, js.QuietEnd = in.QuietHours.Start, in.QuietHours.End
	}
	if err := a.Engine.SaveSettings(ctx, s.ID, js); err != nil {
		return err
	}
	if err := a.Engine.SaveReengagementSettings(ctx, s.ID, journey.ReengagementSettings{DisengagedDays: in.DisengagedDays,
		DormantDays: in.DormantDays}); err != nil {
		return err
	}
	tz := in.Timezone
	if tz == s.Timezone {
		tz = "" // follow Shopify's when it changes
	}
	if err := courier.SaveSenderSettings(ctx, a.DB, s.ID, courier.SenderSettings{SenderName: in.SenderName,
		OwnerFirstName: in.OwnerFirstName, ReplyTo: in.ReplyTo, PostalAddress: in.PostalAddress, DefaultLocale: in.DefaultLocale,
		Timezone: tz}); err != nil {
		return err
	}
	return a.getSettings(c)
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
