package mail

import (
	"bytes"
	"strings"

	"golang.org/x/net/html"
)

// htmlToText derives the plain-text part from the rendered HTML body, so the
// two parts never say different things and merchants edit one template.
// Links keep their target ("Complete my order: https://…"), images their alt
// text is dropped (it describes a picture the reader cannot see), block
// elements become line breaks.
func htmlToText(src string) string {
	z := html.NewTokenizer(strings.NewReader(src))
	var b strings.Builder
	var href []string // stack of open <a> targets
	var linkText []int
	skip := 0 // inside <style>, <head>, <script> or a hidden element
	hiddenDepth := []bool{}
	newline := func(n int) {
		s := b.String()
		have := len(s) - len(strings.TrimRight(s, "\n"))
		if len(strings.TrimSpace(s)) == 0 {
			return
		}
		for ; have < n; have++ {
			b.WriteByte('\n')
		}
	}
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return tidyText(b.String())
		case html.TextToken:
			if skip > 0 {
				continue
			}
			raw := string(z.Text()) // Text may be read once per token
			t := strings.Join(strings.Fields(raw), " ")
			if t == "" {
				continue
			}
			s := b.String()
			if len(s) > 0 && !strings.HasSuffix(s, "\n") && !strings.HasSuffix(s, " ") && (raw[0] == ' ' || raw[0] == '\n' || raw[0] == '\t') {
				b.WriteByte(' ')
			}
			b.WriteString(t)
			if raw[len(raw)-1] == ' ' || raw[len(raw)-1] == '\n' {
				b.WriteByte(' ')
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			tag := string(name)
			var hrefAttr string
			hidden := false
			for hasAttr {
				var k, v []byte
				k, v, hasAttr = z.TagAttr()
				switch string(k) {
				case "href":
					hrefAttr = string(v)
				case "style":
					// Most styles never mention display: skip the copy.
					hidden = bytes.Contains(v, []byte("display")) &&
						bytes.Contains(bytes.ReplaceAll(v, []byte(" "), nil), []byte("display:none"))
				}
			}
			if tt == html.StartTagToken && !voidElement(tag) {
				hiddenDepth = append(hiddenDepth, hidden)
				if hidden {
					skip++
				}
			}
			switch tag {
			case "style", "script", "head", "title":
				if tt == html.StartTagToken {
					skip++
				}
			case "br":
				newline(1)
			case "p", "div", "h1", "h2", "h3", "h4", "table", "ul", "ol":
				newline(2)
			case "tr", "li":
				newline(1)
				if tag == "li" {
					b.WriteString("- ")
				}
			case "td", "th":
				s := b.String()
				if len(s) > 0 && !strings.HasSuffix(s, "\n") && !strings.HasSuffix(s, " ") {
					b.WriteString(" ")
				}
			case "a":
				if tt == html.StartTagToken {
					href = append(href, hrefAttr)
					linkText = append(linkText, b.Len())
				}
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			tag := string(name)
			if !voidElement(tag) && len(hiddenDepth) > 0 {
				if hiddenDepth[len(hiddenDepth)-1] {
					skip--
				}
				hiddenDepth = hiddenDepth[:len(hiddenDepth)-1]
			}
			switch tag {
			case "style", "script", "head", "title":
				skip--
			case "p", "div", "h1", "h2", "h3", "h4", "table", "ul", "ol":
				newline(2)
			case "a":
				if len(href) == 0 {
					continue
				}
				h, start := href[len(href)-1], linkText[len(linkText)-1]
				href, linkText = href[:len(href)-1], linkText[:len(linkText)-1]
				if skip > 0 || !strings.HasPrefix(h, "http") {
					continue
				}
				text := strings.TrimSpace(b.String()[start:])
				switch {
				case text == h:
				case text == "":
					b.WriteString(h)
				default:
					s := strings.TrimRight(b.String(), " ")
					b.Reset()
					b.WriteString(s)
					b.WriteString(": " + h + " ")
				}
			}
		}
	}
}

func voidElement(tag string) bool {
	switch tag {
	case "br", "img", "hr", "meta", "link", "input", "col", "area", "base", "wbr", "source":
		return true
	}
	return false
}

// tidyText trims every line and keeps at most one blank line in a row.
func tidyText(s string) string {
	var out []string
	blank := false
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			if !blank && len(out) > 0 {
				out = append(out, "")
			}
			blank = true
			continue
		}
		blank = false
		out = append(out, l)
	}
	return strings.TrimSpace(strings.Join(out, "\n"))
}
