package mail

import (
	"bytes"
	"strings"
	"unicode"
	"unicode/utf8"

	xhtml "golang.org/x/net/html"
)

// htmlToText derives the plain-text part from the rendered HTML body, so the
// two parts never say different things and merchants edit one template.
// Links keep their target ("Complete my order: https://…"), images their alt
// text is dropped (it describes a picture the reader cannot see), block
// elements become line breaks.
//
// The markup of a render is ours (layout snippets) or simple template HTML,
// which scanSimple reads without x/net/html's tokenizer, the largest cost of
// a render. Anything outside that subset (raw-text elements, unusual
// attribute syntax, <!DOCTYPE>, a bare "<") goes through the tokenizer, so
// the result never depends on which reader ran.
func htmlToText(src string) string {
	x := textWriter{b: make([]byte, 0, len(src)/4)}
	if !x.scanSimple(src) {
		x = textWriter{b: x.b[:0]}
		x.tokenize(src)
	}
	return tidyText(x.b)
}

// textWriter turns tokens into text; both readers feed it.
type textWriter struct {
	b        []byte
	href     []string // stack of open <a> targets
	linkText []int    // where each open link's text starts in b
	skip     int      // inside <style>, <head>, <script>, <title> or a hidden element
	hidden   []bool   // per open non-void element: did it hide its content?
}

func (x *textWriter) newline(n int) {
	if len(bytes.TrimSpace(x.b)) == 0 {
		return
	}
	have := len(x.b) - len(bytes.TrimRight(x.b, "\n"))
	for ; have < n; have++ {
		x.b = append(x.b, '\n')
	}
}

// endsWord: the text so far ends with something other than a space or a
// line break.
func (x *textWriter) endsWord() bool {
	return len(x.b) > 0 && x.b[len(x.b)-1] != '\n' && x.b[len(x.b)-1] != ' '
}

// text handles a text token, entities already decoded; runs of white space
// become one space.
func (x *textWriter) text(raw string) {
	if x.skip > 0 || raw == "" {
		return
	}
	n := len(x.b)
	space := x.endsWord() && (raw[0] == ' ' || raw[0] == '\n' || raw[0] == '\t')
	if space {
		x.b = append(x.b, ' ')
	}
	if !appendFields(&x.b, raw) {
		x.b = x.b[:n] // only white space: nothing written
		return
	}
	if raw[len(raw)-1] == ' ' || raw[len(raw)-1] == '\n' {
		x.b = append(x.b, ' ')
	}
}

// appendFields appends strings.Join(strings.Fields(s), " ") to *b without
// the intermediate slice, and tells whether s had any field.
func appendFields(b *[]byte, s string) bool {
	found, inField := false, false
	for i := 0; i < len(s); {
		c := s[i]
		size := 1
		var isSpace bool
		if c < utf8.RuneSelf {
			isSpace = asciiSpace[c]
		} else {
			var r rune
			r, size = utf8.DecodeRuneInString(s[i:])
			isSpace = unicode.IsSpace(r)
		}
		switch {
		case isSpace:
			inField = false
		case !inField && found:
			*b = append(*b, ' ')
			fallthrough
		default:
			*b = append(*b, s[i:i+size]...)
			inField, found = true, true
		}
		i += size
	}
	return found
}

// asciiSpace is strings.Fields's notion of ASCII white space.
var asciiSpace = [utf8.RuneSelf]bool{'\t': true, '\n': true, '\v': true, '\f': true, '\r': true, ' ': true}

// start handles a start tag; selfClosing is "<br/>". href and style are the
// tag's attributes of that name, decoded.
func (x *textWriter) start(tag string, selfClosing bool, href, style string) {
	// Most styles never mention display: skip the copy.
	hidden := strings.Contains(style, "display") && strings.Contains(strings.ReplaceAll(style, " ", ""), "display:none")
	if !selfClosing && !voidElement(tag) {
		x.hidden = append(x.hidden, hidden)
		if hidden {
			x.skip++
		}
	}
	switch tag {
	case "style", "script", "head", "title":
		if !selfClosing {
			x.skip++
		}
	case "br":
		x.newline(1)
	case "p", "div", "h1", "h2", "h3", "h4", "table", "ul", "ol":
		x.newline(2)
	case "tr", "li":
		x.newline(1)
		if tag == "li" {
			x.b = append(x.b, "- "...)
		}
	case "td", "th":
		if x.endsWord() {
			x.b = append(x.b, ' ')
		}
	case "a":
		if !selfClosing {
			x.href = append(x.href, href)
			x.linkText = append(x.linkText, len(x.b))
		}
	}
}

func (x *textWriter) end(tag string) {
	if !voidElement(tag) && len(x.hidden) > 0 {
		if x.hidden[len(x.hidden)-1] {
			x.skip--
		}
		x.hidden = x.hidden[:len(x.hidden)-1]
	}
	switch tag {
	case "style", "script", "head", "title":
		x.skip--
	case "p", "div", "h1", "h2", "h3", "h4", "table", "ul", "ol":
		x.newline(2)
	case "a":
		if len(x.href) == 0 {
			return
		}
		h, start := x.href[len(x.href)-1], x.linkText[len(x.linkText)-1]
		x.href, x.linkText = x.href[:len(x.href)-1], x.linkText[:len(x.linkText)-1]
		if x.skip > 0 || !strings.HasPrefix(h, "http") {
			return
		}
		// A nested link may have trimmed what this one started after.
		text := bytes.TrimSpace(x.b[min(start, len(x.b)):])
		switch {
		case string(text) == h:
		case len(text) == 0:
			x.b = append(x.b, h...)
		default:
			x.b = append(bytes.TrimRight(x.b, " "), ": "...)
			x.b = append(x.b, h...)
			x.b = append(x.b, ' ')
		}
	}
}

// tokenize reads any HTML with x/net/html's tokenizer.
func (x *textWriter) tokenize(src string) {
	z := xhtml.NewTokenizer(strings.NewReader(src))
	for {
		tt := z.Next()
		switch tt {
		case xhtml.ErrorToken:
			return
		case xhtml.TextToken:
			if x.skip == 0 {
				x.text(string(z.Text())) // Text may be read once per token
			}
		case xhtml.StartTagToken, xhtml.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			tag := string(name)
			var href, style string
			for hasAttr {
				var k, v []byte
				k, v, hasAttr = z.TagAttr()
				switch string(k) {
				case "href":
					href = string(v)
				case "style":
					style = string(v)
				}
			}
			x.start(tag, tt == xhtml.SelfClosingTagToken, href, style)
		case xhtml.EndTagToken:
			name, _ := z.TagName()
			x.end(string(name))
		}
	}
}

// scanSimple reads the subset of HTML that renders produce: text with
// entities, comments, and tags with letters-and-digits names whose
// attribute values are quoted or plain unquoted words. It tokenizes
// that subset exactly as x/net/html does and reports false, having
// possibly written partial output, on anything else.
func (x *textWriter) scanSimple(s string) bool {
	if strings.IndexByte(s, '\r') >= 0 || strings.IndexByte(s, 0) >= 0 {
		return false // the tokenizer rewrites these
	}
	for i := 0; i < len(s); {
		if s[i] != '<' {
			j := strings.IndexByte(s[i:], '<')
			if j < 0 {
				j = len(s) - i
			}
			t := s[i : i+j]
			if strings.IndexByte(t, '&') >= 0 {
				t = xhtml.UnescapeString(t) // the tokenizer's own rules for text
			}
			x.text(t)
			i += j
			continue
		}
		if i+1 >= len(s) {
			return false
		}
		switch c := s[i+1]; {
		case c == '!':
			n, ok := skipComment(s[i:])
			if !ok {
				return false
			}
			i += n
		case c == '/':
			name, n, ok := tagName(s[i+2:])
			if !ok {
				return false
			}
			i = skipSpace(s, i+2+n)
			if i >= len(s) || s[i] != '>' {
				return false
			}
			i++
			x.end(name)
		case isLetter(c):
			n, ok := x.startTag(s[i+1:])
			if !ok {
				return false
			}
			i += 1 + n
		default:
			return false // "<" as text, "<?": the tokenizer's corner cases
		}
	}
	return true
}

// startTag reads a start tag after its "<", up to and including ">".
func (x *textWriter) startTag(s string) (int, bool) {
	name, i, ok := tagName(s)
	if !ok || rawTextElement(name) {
		return 0, false
	}
	// The tokenizer keeps the first of duplicate attributes.
	var href, style string
	var haveHref, haveStyle bool
	for {
		j := skipSpace(s, i)
		if j >= len(s) {
			return 0, false
		}
		switch s[j] {
		case '>':
			// Even after an unquoted value ending in "/" (<a href=x/>):
			// the tokenizer reads the "/" as part of the value.
			x.start(name, false, href, style)
			return j + 1, true
		case '/':
			if j+1 < len(s) && s[j+1] == '>' {
				x.start(name, true, href, style)
				return j + 2, true
			}
			return 0, false
		}
		// An attribute: a name, then maybe = and a value.
		k := j
		for k < len(s) && !attrNameEnd[s[k]] {
			k++
		}
		if k == j || k >= len(s) {
			return 0, false
		}
		key := s[j:k]
		i = k
		v := skipSpace(s, k)
		if v >= len(s) {
			return 0, false
		}
		var val string
		if s[v] == '=' {
			v = skipSpace(s, v+1)
			if v >= len(s) {
				return 0, false
			}
			switch q := s[v]; q {
			case '"', '\'':
				e := strings.IndexByte(s[v+1:], q)
				if e < 0 {
					return 0, false
				}
				val, i = s[v+1:v+1+e], v+2+e
			default:
				e := v
				for e < len(s) && !unquotedEnd[s[e]] {
					e++
				}
				if e == v || e >= len(s) || !tagSpace[s[e]] && s[e] != '>' {
					return 0, false
				}
				val, i = s[v:e], e
			}
		}
		isHref := !haveHref && strings.EqualFold(key, "href")
		isStyle := !haveStyle && strings.EqualFold(key, "style")
		if !isHref && !isStyle {
			continue
		}
		if strings.IndexByte(val, '&') >= 0 {
			// Attribute values decode entities with different rules from
			// text; only the ones html.EscapeString writes are read here.
			if !plainEntities(val) {
				return 0, false
			}
			val = xhtml.UnescapeString(val)
		}
		if isHref {
			href, haveHref = val, true
		} else {
			style, haveStyle = val, true
		}
	}
}

// tagName reads [A-Za-z][A-Za-z0-9]* followed by white space, / or >,
// lower-cased, and returns its length.
func tagName(s string) (string, int, bool) {
	if s == "" || !isLetter(s[0]) {
		return "", 0, false
	}
	n, upper := 0, false
	for n < len(s) && (isLetter(s[n]) || s[n] >= '0' && s[n] <= '9') {
		upper = upper || s[n] >= 'A' && s[n] <= 'Z'
		n++
	}
	if n >= len(s) || !tagSpace[s[n]] && s[n] != '/' && s[n] != '>' {
		return "", 0, false
	}
	if upper {
		return strings.ToLower(s[:n]), n, true
	}
	return s[:n], n, true
}

// tagSpace is white space inside a tag for the tokenizer (\r is never
// seen: scanSimple leaves input with one to the tokenizer).
var tagSpace = [256]bool{' ': true, '\t': true, '\n': true, '\f': true}

// attrNameEnd ends an attribute name here; unquotedEnd an unquoted value
// (the characters after which scanSimple gives up, or the tag goes on).
var attrNameEnd, unquotedEnd = byteSet(" \t\n\f/=>\"'<"), byteSet(" \t\n\f>\"'=<`")

func byteSet(chars string) (set [256]bool) {
	for i := range len(chars) {
		set[chars[i]] = true
	}
	return set
}

func skipSpace(s string, i int) int {
	for i < len(s) && tagSpace[s[i]] {
		i++
	}
	return i
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// skipComment reads "<!--…-->" and returns its length; doctype, CDATA and
// the tokenizer's abrupt comment endings are left to the tokenizer.
func skipComment(s string) (int, bool) {
	if !strings.HasPrefix(s, "<!--") {
		return 0, false
	}
	body := s[4:]
	if strings.HasPrefix(body, ">") || strings.HasPrefix(body, "->") {
		return 0, false
	}
	end := strings.Index(body, "-->")
	if end < 0 || strings.Contains(body[:end+2], "--!>") {
		return 0, false
	}
	return 4 + end + 3, true
}

// plainEntities: every & in s starts &amp; &lt; &gt; &quot; &#34; or &#39;.
func plainEntities(s string) bool {
	for i := strings.IndexByte(s, '&'); i >= 0; i = strings.IndexByte(s, '&') {
		s = s[i:]
		ok := false
		for _, e := range [...]string{"&amp;", "&lt;", "&gt;", "&quot;", "&#34;", "&#39;"} {
			if strings.HasPrefix(s, e) {
				ok = true
				s = s[len(e):]
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// rawTextElement: the tokenizer reads these elements' content as text, not
// markup.
func rawTextElement(tag string) bool {
	switch tag {
	case "iframe", "noembed", "noframes", "noscript", "plaintext", "script", "style", "textarea", "title", "xmp":
		return true
	}
	return false
}

func voidElement(tag string) bool {
	switch tag {
	case "br", "img", "hr", "meta", "link", "input", "col", "area", "base", "wbr", "source":
		return true
	}
	return false
}

// tidyText trims every line and keeps at most one blank line in a row.
func tidyText(s []byte) string {
	lines := make([][]byte, 0, 64)
	blank := false
	for len(s) > 0 {
		l := s
		if i := bytes.IndexByte(s, '\n'); i >= 0 {
			l, s = s[:i], s[i+1:]
		} else {
			s = nil
		}
		l = bytes.TrimSpace(l)
		if len(l) == 0 {
			if !blank && len(lines) > 0 {
				lines = append(lines, nil)
			}
			blank = true
			continue
		}
		blank = false
		lines = append(lines, l)
	}
	if len(lines) > 0 && len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	var out strings.Builder
	out.Grow(len(lines) * 48)
	for i, l := range lines {
		if i > 0 {
			out.WriteByte('\n')
		}
		out.Write(l)
	}
	return out.String()
}
