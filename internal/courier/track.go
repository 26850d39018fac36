package courier

import (
	"html"
	"net/url"
	"regexp"
	"strings"

	"github.com/relance/relance/internal/mail"
)

// Tracked links: every link of a rendered email that points at the store
// (the shop's domain, or the host of the recovery link) goes through
// /r/:token instead, signed for this message, so a click is recorded,
// identifies the shopper to the web pixel and carries UTM parameters.
// Rewriting the rendered HTML, not the template data, keeps links built
// from the shop URL (the discount apply link) intact, and catches every
// call to action whatever the template.

var hrefRE = regexp.MustCompile(`href="([^"]*)"`)

// trackLinks rewrites the store links of r for message (shop, contact,
// message). hosts are the storefront hosts whose links are tracked.
func (c *Courier) trackLinks(r *mail.Rendered, shopID, contactID, messageID int64, hosts ...string) {
	if shopID <= 0 || contactID <= 0 || messageID <= 0 {
		return
	}
	ours := map[string]bool{}
	for _, h := range hosts {
		if h != "" {
			ours[strings.ToLower(h)] = true
		}
	}
	replaced := map[string]string{} // original URL → tracked URL
	r.HTML = hrefRE.ReplaceAllStringFunc(r.HTML, func(attr string) string {
		raw := html.UnescapeString(attr[len(`href="`) : len(attr)-1])
		tracked, ok := replaced[raw]
		if !ok {
			target, ok := storePath(raw, ours)
			if !ok {
				return attr
			}
			tracked = trackedURL(c.o.AppURL, c.o.Links.SignClick(mail.ClickClaims{ShopID: shopID, ContactID: contactID,
				MessageID: messageID, Target: target}))
			replaced[raw] = tracked
		}
		return `href="` + html.EscapeString(tracked) + `"`
	})
	// The text part shows the same links: longest first, so a URL that
	// prefixes another is not replaced inside it.
	olds := make([]string, 0, len(replaced))
	for o := range replaced {
		olds = append(olds, o)
	}
	sortByLenDesc(olds)
	for _, o := range olds {
		r.Text = strings.ReplaceAll(r.Text, o, replaced[o])
	}
}

// storePath is the path and query of raw when raw is an http(s) link to
// one of the store's hosts, and safe to carry (mail.ClickTarget).
func storePath(raw string, hosts map[string]bool) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.User != nil || !hosts[strings.ToLower(u.Hostname())] {
		return "", false
	}
	p := u.EscapedPath()
	if p == "" {
		p = "/"
	}
	if u.RawQuery != "" {
		p += "?" + u.RawQuery
	}
	return mail.ClickTarget(p)
}

func trackedURL(app *url.URL, token string) string {
	return strings.TrimRight(app.String(), "/") + "/r/" + token
}

func sortByLenDesc(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && len(s[j]) > len(s[j-1]); j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
