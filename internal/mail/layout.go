package mail

import (
	"html"
	"html/template"
	"strconv"
	"strings"
)

// The layout around every template: table-based (Outlook ignores most CSS
// layout), inline styles (Gmail strips <style> in some views), a hidden
// preheader, and a footer with the shop's address and the unsubscribe link
// that no template can leave out. Written with html/template, so everything
// it inserts itself is escaped by context.
//
// Dark mode: colour-scheme metas let clients that support it switch, the
// @media and [data-ogsc] (Outlook.com) rules swap the few colours we set,
// and nothing relies on a transparent image over a light background.
var layout = template.Must(template.New("layout").Parse(`<!DOCTYPE html>
<html lang="{{.Lang}}" xmlns="http://www.w3.org/1999/xhtml">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="x-apple-disable-message-reformatting">
<meta name="color-scheme" content="light dark">
<meta name="supported-color-schemes" content="light dark">
<title>{{.Subject}}</title>
<style>
:root { color-scheme: light dark; supported-color-schemes: light dark; }
@media (prefers-color-scheme: dark) {
  .rl-bg { background-color: #111827 !important; }
  .rl-card { background-color: #1f2937 !important; }
  .rl-fg { color: #f3f4f6 !important; }
  .rl-muted { color: #9ca3af !important; }
  .rl-box { background-color: #374151 !important; border-color: #4b5563 !important; }
  .rl-link { color: #93c5fd !important; }
}
[data-ogsc] .rl-fg { color: #f3f4f6 !important; }
[data-ogsc] .rl-muted { color: #9ca3af !important; }
[data-ogsc] .rl-link { color: #93c5fd !important; }
@media only screen and (max-width: 620px) {
  .rl-pad { padding-left: 20px !important; padding-right: 20px !important; }
}
</style>
</head>
<body class="rl-bg" style="margin:0;padding:0;background-color:#f3f4f6;-webkit-text-size-adjust:100%;">
<div style="display:none;max-height:0;max-width:0;overflow:hidden;mso-hide:all;font-size:1px;line-height:1px;opacity:0;">{{.Preheader}}{{.PreheaderPad}}</div>
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" class="rl-bg" style="background-color:#f3f4f6;">
<tr><td align="center" style="padding:24px 12px;">
<table role="presentation" width="600" cellpadding="0" cellspacing="0" border="0" class="rl-card" style="width:100%;max-width:600px;background-color:#ffffff;border-radius:8px;">
<tr><td class="rl-pad rl-fg" style="padding:28px 40px 0 40px;font-family:Helvetica,Arial,sans-serif;font-size:18px;font-weight:bold;color:#111827;">
{{- if .LogoURL}}<a href="{{.ShopURL}}" style="text-decoration:none;"><img src="{{.LogoURL}}" width="140" alt="{{.ShopName}}" style="display:block;width:140px;max-width:140px;height:auto;border:0;background-color:#ffffff;"></a>
{{- else if .ShopURL}}<a href="{{.ShopURL}}" class="rl-fg" style="color:#111827;text-decoration:none;">{{.ShopName}}</a>
{{- else}}{{.ShopName}}{{end -}}
</td></tr>
<tr><td class="rl-pad rl-fg" style="padding:20px 40px 36px 40px;font-family:Helvetica,Arial,sans-serif;font-size:16px;line-height:1.55;color:#1f2937;">
{{.Body}}
</td></tr>
</table>
<table role="presentation" width="600" cellpadding="0" cellspacing="0" border="0" style="width:100%;max-width:600px;">
<tr><td class="rl-pad rl-muted" style="padding:20px 40px;font-family:Helvetica,Arial,sans-serif;font-size:12px;line-height:1.5;color:#6b7280;text-align:center;">
<p style="margin:0 0 8px 0;">{{.Reason}}</p>
{{- if .Address}}
<p style="margin:0 0 8px 0;">{{.ShopName}} · {{.Address}}</p>
{{- end}}
<p style="margin:0;">
{{- if .UnsubscribeURL}}<a href="{{.UnsubscribeURL}}" class="rl-link" style="color:#4b5563;text-decoration:underline;">{{.Unsubscribe}}</a>{{end}}
{{- if .PreferencesURL}} · <a href="{{.PreferencesURL}}" class="rl-link" style="color:#4b5563;text-decoration:underline;">{{.Preferences}}</a>{{end}}
{{- if .NotInterestedURL}} · <a href="{{.NotInterestedURL}}" class="rl-link" style="color:#4b5563;text-decoration:underline;">{{.NotInterested}}</a>{{end -}}
</p>
</td></tr>
</table>
</td></tr>
</table>
</body>
</html>
`))

type layoutData struct {
	Lang, Subject, Preheader                         string
	PreheaderPad                                     template.HTML
	ShopName, ShopURL, LogoURL, Address              string
	Body                                             template.HTML
	Reason, Unsubscribe, Preferences, NotInterested  string
	UnsubscribeURL, PreferencesURL, NotInterestedURL string
}

// preheaderPad keeps clients from filling the inbox preview with the first
// words of the body after the preheader.
var preheaderPad = template.HTML(strings.Repeat("&#847;&zwnj;&nbsp;", 60))

// cartLine is one line as shown, in the cart block ({{ cart_table }} in
// templates) and in the Liquid variables: unescaped, URLs through safeURL,
// prices formatted.
type cartLine struct {
	Title, Variant, ImageURL, URL, Price, LinePrice string
	Quantity                                        int
}

// writeCart writes the cart block: image, title, variant, quantity and price
// per line, then the subtotal. Built by hand rather than with html/template:
// it is the hot part of a render, and every value goes through
// html.EscapeString (URLs through safeURL first).
func writeCart(b *strings.Builder, lines []cartLine, qty, more, subtotalLabel, subtotal string) {
	e := html.EscapeString
	const cell = `border-bottom:1px solid #e5e7eb;`
	b.WriteString(`<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="width:100%;margin:8px 0 16px 0;border-collapse:collapse;">`)
	for _, l := range lines {
		b.WriteString("\n<tr>\n<td width=\"72\" valign=\"top\" style=\"width:72px;padding:10px 12px 10px 0;" + cell + `">`)
		if l.ImageURL != "" {
			b.WriteString(`<img src="` + e(l.ImageURL) + `" width="64" height="64" alt="` + e(l.Title) + `" style="display:block;width:64px;height:64px;object-fit:cover;border:0;border-radius:4px;">`)
		}
		b.WriteString("</td>\n<td valign=\"top\" class=\"rl-fg\" style=\"padding:10px 8px 10px 0;" + cell + `font-size:15px;color:#1f2937;">`)
		if l.URL != "" {
			b.WriteString(`<a href="` + e(l.URL) + `" class="rl-fg" style="color:#1f2937;text-decoration:none;font-weight:bold;">` + e(l.Title) + `</a>`)
		} else {
			b.WriteString(`<strong>` + e(l.Title) + `</strong>`)
		}
		if l.Variant != "" {
			b.WriteString(`<br><span class="rl-muted" style="color:#6b7280;font-size:13px;">` + e(l.Variant) + `</span>`)
		}
		b.WriteString(`<br><span class="rl-muted" style="color:#6b7280;font-size:13px;">` + e(qty) + " " + strconv.Itoa(l.Quantity) + "</span></td>\n")
		b.WriteString(`<td valign="top" align="right" class="rl-fg" style="padding:10px 0;` + cell + `font-size:15px;color:#1f2937;white-space:nowrap;">` + e(l.LinePrice) + "</td>\n</tr>")
	}
	if more != "" {
		b.WriteString("\n<tr><td></td><td colspan=\"2\" class=\"rl-muted\" style=\"padding:8px 0;font-size:13px;color:#6b7280;\">" + e(more) + "</td></tr>")
	}
	if subtotal != "" {
		b.WriteString("\n<tr><td></td><td class=\"rl-fg\" style=\"padding:12px 8px 0 0;font-size:15px;color:#1f2937;\">" + e(subtotalLabel) +
			`</td><td align="right" class="rl-fg" style="padding:12px 0 0 0;font-size:15px;font-weight:bold;color:#1f2937;white-space:nowrap;">` + e(subtotal) + "</td></tr>")
	}
	b.WriteString("\n</table>")
}

// button is the {{ url | button: "label", shop.brand_color }} filter: a
// link styled as a button inside a table cell, which Outlook renders too.
// Its inputs are already escaped (data) or template text (trusted), and are
// escaped once more without double-escaping.
func button(href, label string, color ...string) string {
	c := "#111827"
	if len(color) > 0 {
		c = brandColor(color[0])
	}
	href = escapeOnce(href)
	if href == "" {
		return ""
	}
	return `<table role="presentation" cellpadding="0" cellspacing="0" border="0" style="margin:24px 0;"><tr><td align="center" bgcolor="` + c +
		`" style="border-radius:6px;background-color:` + c + `;"><a href="` + href +
		`" style="display:inline-block;padding:14px 28px;font-family:Helvetica,Arial,sans-serif;font-size:16px;font-weight:bold;color:#ffffff;text-decoration:none;border-radius:6px;">` +
		escapeOnce(label) + `</a></td></tr></table>`
}

// trustedBody marks the rendered Liquid body as safe for the layout: its
// data was escaped before rendering, and the markup is the template's.
func trustedBody(s string) template.HTML { return template.HTML(s) }
