package unsubscribe

import (
	"bytes"
	"html/template"

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
)

// page is one shopper page: small, self-contained (no external assets),
// readable on a phone.
type page struct {
	Kind   pageKind
	Locale string
	Shop   string
	// Action is where the confirm button posts (the same /u/:token URL).
	Action string
}

type pageText struct {
	Lang, Title, Body, Button, Footer string
}

// texts returns the page's wording; %s is the shop's name.
func (p page) text() pageText {
	shop := p.Shop
	fr := mail.PickLocale(p.Locale, "") == mail.LocaleFR
	if shop == "" {
		shop = map[bool]string{false: "this shop", true: "cette boutique"}[fr]
	}
	switch {
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
button{font:inherit;font-weight:600;color:#fff;background:#111827;border:0;border-radius:6px;padding:10px 18px;cursor:pointer}
small{color:#6b7280}
@media (prefers-color-scheme:dark){body{background:#111827;color:#e5e7eb}main{background:#1f2937;border-color:#374151}button{background:#e5e7eb;color:#111827}small{color:#9ca3af}}
</style>
</head>
<body>
<main>
<h1>{{.T.Title}}</h1>
<p>{{.T.Body}}</p>
{{- if .T.Button}}
<form method="post" action="{{.Action}}"><input type="hidden" name="confirm" value="1"><button type="submit">{{.T.Button}}</button></form>
{{- end}}
{{- if .T.Footer}}
<p><small>{{.T.Footer}}</small></p>
{{- end}}
</main>
</body>
</html>
`))

func (s *Service) render(c echo.Context, status int, p page) error {
	var b bytes.Buffer
	if err := pageTemplate.Execute(&b, struct {
		T      pageText
		Action string
	}{p.text(), p.Action}); err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Robots-Tag", "noindex")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	return c.HTMLBlob(status, b.Bytes())
}
