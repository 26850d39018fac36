package unsubscribe

import (
	"bytes"
	"fmt"
	"html/template"
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/relance/relance/internal/mail"
)

type pageKind int

const (
	kindInvalid pageKind = iota
	kindConfirmUnsubscribe
	kindUnsubscribed
	kindConfirmLeave
	kindLeft
	kindPreferences
)

// page is one shopper page: small, self-contained (no external assets),
// readable on a phone.
type page struct {
	Kind   pageKind
	Locale string
	Shop   string
	// Action is where the buttons post (the same /u/:token URL).
	Action string
	// Prefs is the preferences page's content (kindPreferences).
	Prefs prefView
	// Manage, on the unsubscribed page, is the preferences page of a
	// shopper who may subscribe again from it.
	Manage string
}

type pageText struct {
	Lang, Title, Notice, Body, Button, Footer string
	// LinkLabel names the Manage link, shown after Footer.
	LinkLabel string
	// Choices are the preferences page's buttons, in order.
	Choices []choiceButton
}

// choiceButton is one button of the preferences form; the first is the
// primary one.
type choiceButton struct {
	Value, Label string
}

// text returns the page's wording.
func (p page) text() pageText {
	t := p.wording()
	if p.Manage != "" {
		// Rather than "reply and we will add you back": the shopper can.
		t.Footer, t.LinkLabel = "Unsubscribed by mistake?", "Manage your preferences and subscribe again"
		if t.Lang == "fr" {
			t.Footer, t.LinkLabel = "Une erreur ?", "Gérer vos préférences et vous réinscrire"
		}
	}
	return t
}

func (p page) wording() pageText {
	shop := p.Shop
	fr := mail.PickLocale(p.Locale, "") == mail.LocaleFR
	if shop == "" {
		shop = map[bool]string{false: "this shop", true: "cette boutique"}[fr]
	}
	switch {
	case p.Kind == kindPreferences:
		return p.Prefs.text(fr, shop)
	case p.Kind == kindInvalid:
		return pageText{Lang: "en", Title: "This link is not valid · Ce lien n'est pas valide",
			Body: "This link is incomplete or no longer valid. If you want to stop receiving emails, use the unsubscribe link at the bottom of the latest email you received. " +
				"· Ce lien est incomplet ou n'est plus valide. Pour ne plus recevoir d'e-mails, utilisez le lien de désinscription en bas du dernier e-mail reçu."}
	case fr && p.Kind == kindConfirmUnsubscribe:
		return pageText{Lang: "fr", Title: "Se désinscrire des e-mails de " + shop,
			Body:   "Vous ne recevrez plus nos e-mails marketing (nouveautés, offres, rappels). Confirmez-vous ?",
			Button: "Me désinscrire"}
	case fr && p.Kind == kindUnsubscribed:
		return pageText{Lang: "fr", Title: "Vous êtes désinscrit(e) des e-mails de " + shop,
			Body:   "C'est fait : vous ne recevrez plus nos e-mails marketing. Cela prend effet immédiatement.",
			Footer: "Une erreur ? Répondez simplement à l'un de nos e-mails et nous vous réinscrirons."}
	case fr && p.Kind == kindConfirmLeave:
		return pageText{Lang: "fr", Title: "Ne plus recevoir de rappels pour ce panier ?",
			Body:   "Nous arrêterons de vous écrire au sujet de ce panier. Vous continuerez à recevoir nos autres e-mails.",
			Button: "Arrêter ces rappels"}
	case fr && p.Kind == kindLeft:
		return pageText{Lang: "fr", Title: "C'est noté",
			Body: "Vous ne recevrez plus de rappels pour ce panier de " + shop + "."}
	case p.Kind == kindConfirmUnsubscribe:
		return pageText{Lang: "en", Title: "Unsubscribe from " + shop + "'s emails",
			Body:   "You will no longer receive our marketing emails (news, offers, reminders). Do you confirm?",
			Button: "Unsubscribe me"}
	case p.Kind == kindUnsubscribed:
		return pageText{Lang: "en", Title: "You're unsubscribed from " + shop + "'s emails",
			Body:   "Done: you will not receive our marketing emails any more. This takes effect right away.",
			Footer: "Unsubscribed by mistake? Just reply to one of our emails and we will add you back."}
	case p.Kind == kindConfirmLeave:
		return pageText{Lang: "en", Title: "Stop reminders about this cart?",
			Body:   "We will stop writing to you about this cart. You will still receive our other emails.",
			Button: "Stop these reminders"}
	default: // kindLeft
		return pageText{Lang: "en", Title: "Got it",
			Body: "You won't get any more reminders about this cart from " + shop + "."}
	}
}

// prefWording is the preferences page in one language.
type prefWording struct {
	lang, title string // title is followed by the shop's name
	states      map[prefState]string
	notices     map[prefNotice]string
	choices     map[string]string
	// stopAll labels the unsubscribe choice of a shopper who gets no
	// marketing: what it stops is their cart reminders.
	stopAll string
	// help tells a shopper who cannot subscribe again here what to do.
	help string
}

var prefWordings = map[bool]prefWording{
	false: {
		lang: "en", title: "Your emails from ",
		states: map[prefState]string{
			prefSubscribed:    "You receive our marketing emails: news, offers and reminders.",
			prefNotSubscribed: "You are not subscribed to our marketing emails. We may still remind you of a cart you left with us.",
			prefUnsubscribed:  "You are unsubscribed: you no longer receive our marketing emails.",
			prefSuppressed:    "We no longer send emails to this address.",
		},
		notices: map[prefNotice]string{
			noticeKept:         "Saved: nothing changes.",
			noticeUnsubscribed: "Done: you are unsubscribed. This takes effect right away.",
			noticeResubscribed: "Welcome back: you will receive our emails again.",
			noticeRefused:      "This address cannot be subscribed again from this page.",
			noticeChoose:       "Please choose one of the options below.",
		},
		choices: map[string]string{
			choiceKeep:        "Keep receiving emails",
			choiceUnsubscribe: "Unsubscribe from marketing emails",
			choiceResubscribe: "Subscribe again",
		},
		stopAll: "Stop all emails",
		help:    "To receive our emails again, please contact us.",
	},
	true: {
		lang: "fr", title: "Vos e-mails de ",
		states: map[prefState]string{
			prefSubscribed:    "Vous recevez nos e-mails marketing : nouveautés, offres et rappels.",
			prefNotSubscribed: "Vous n'êtes pas inscrit(e) à nos e-mails marketing. Nous pouvons tout de même vous rappeler un panier laissé chez nous.",
			prefUnsubscribed:  "Vous êtes désinscrit(e) : vous ne recevez plus nos e-mails marketing.",
			prefSuppressed:    "Nous n'envoyons plus d'e-mails à cette adresse.",
		},
		notices: map[prefNotice]string{
			noticeKept:         "C'est noté : rien ne change.",
			noticeUnsubscribed: "C'est fait : vous êtes désinscrit(e). Cela prend effet immédiatement.",
			noticeResubscribed: "Ravi de vous retrouver : vous recevrez de nouveau nos e-mails.",
			noticeRefused:      "Cette adresse ne peut pas être réinscrite depuis cette page.",
			noticeChoose:       "Choisissez l'une des options ci-dessous.",
		},
		choices: map[string]string{
			choiceKeep:        "Continuer à recevoir les e-mails",
			choiceUnsubscribe: "Me désinscrire des e-mails marketing",
			choiceResubscribe: "Me réinscrire",
		},
		stopAll: "Ne plus recevoir aucun e-mail",
		help:    "Pour recevoir de nouveau nos e-mails, contactez-nous.",
	},
}

// text is the preferences page's wording.
func (v prefView) text(fr bool, shop string) pageText {
	w := prefWordings[fr]
	t := pageText{Lang: w.lang, Title: w.title + shop, Notice: w.notices[v.Notice], Body: w.states[v.State]}
	for _, c := range v.Choices {
		label := w.choices[c]
		if c == choiceUnsubscribe && v.State == prefNotSubscribed {
			label = w.stopAll
		}
		t.Choices = append(t.Choices, choiceButton{Value: c, Label: label})
	}
	if (v.State == prefUnsubscribed || v.State == prefSuppressed) && !slices.Contains(v.Choices, choiceResubscribe) {
		t.Footer = w.help
	}
	return t
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="{{.T.Lang}}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<meta name="referrer" content="no-referrer">
<title>{{.T.Title}}</title>
<style>
body{margin:0;background:#f6f6f7;color:#1f2937;font:16px/1.5 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,Helvetica,Arial,sans-serif}
main{max-width:480px;margin:12vh auto;padding:32px 28px;background:#fff;border:1px solid #e5e7eb;border-radius:10px}
h1{font-size:20px;line-height:1.3;margin:0 0 12px}
p{margin:0 0 16px}
button{font:inherit;font-weight:600;color:#fff;background:#111827;border:2px solid #111827;border-radius:6px;padding:10px 18px;min-height:44px;cursor:pointer}
button.secondary{color:#111827;background:transparent}
.choices button{display:block;width:100%;margin:0 0 12px}
.notice{padding:10px 14px;border-left:4px solid #111827;background:#f3f4f6}
a{color:inherit}
button:focus-visible,a:focus-visible{outline:3px solid #2563eb;outline-offset:2px}
small{color:#6b7280}
@media (max-width:520px){main{margin:0;border:0;border-radius:0;min-height:100vh;box-sizing:border-box;padding:24px 20px}}
@media (prefers-color-scheme:dark){body{background:#111827;color:#e5e7eb}main{background:#1f2937;border-color:#374151}button{background:#e5e7eb;color:#111827;border-color:#e5e7eb}button.secondary{color:#e5e7eb;background:transparent}.notice{background:#111827;border-color:#e5e7eb}small{color:#9ca3af}}
</style>
</head>
<body>
<main>
<h1>{{.T.Title}}</h1>
{{- if .T.Notice}}
<p class="notice" role="status">{{.T.Notice}}</p>
{{- end}}
<p>{{.T.Body}}</p>
{{- if .T.Button}}
<form method="post" action="{{.Action}}"><input type="hidden" name="confirm" value="1"><button type="submit">{{.T.Button}}</button></form>
{{- end}}
{{- if .T.Choices}}
<form method="post" action="{{.Action}}" class="choices">
{{- range $i, $c := .T.Choices}}
<button type="submit" name="choice" value="{{$c.Value}}"{{if $i}} class="secondary"{{end}}>{{$c.Label}}</button>
{{- end}}
</form>
{{- end}}
{{- if .T.Footer}}
<p><small>{{.T.Footer}}{{if and .T.LinkLabel .Manage}} <a href="{{.Manage}}">{{.T.LinkLabel}}</a>{{end}}</small></p>
{{- end}}
</main>
</body>
</html>
`))

func (s *Service) render(c echo.Context, status int, p page) error {
	var b bytes.Buffer
	if err := pageTemplate.Execute(&b, struct {
		T              pageText
		Action, Manage string
	}{p.text(), p.Action, p.Manage}); err != nil {
		return fmt.Errorf("unsubscribe: render page: %w", err)
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Robots-Tag", "noindex")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	return c.HTMLBlob(status, b.Bytes())
}
