package devstore

import (
	"errors"
	"fmt"
	"strings"
)

// rootField finds the operation type and the first root field (its alias
// and name) of the first operation in a GraphQL document, skipping
// fragment definitions, variable definitions and directives.
func rootField(doc string) (op, alias, field string, err error) {
	if err := balanced(doc); err != nil {
		return "", "", "", err
	}
	l := &lexer{src: doc}
scan:
	for {
		tok, err := l.next()
		if err != nil {
			return "", "", "", err
		}
		switch tok {
		case "":
			return "", "", "", errors.New("syntax error, unexpected end of file")
		case "{":
			op = "query"
		case "fragment":
			// fragment Name on Type @directives { ... }
			if err := l.skipTo("{"); err != nil {
				return "", "", "", err
			}
			if err := l.skipBalanced("{", "}"); err != nil {
				return "", "", "", err
			}
			continue
		case "query", "mutation", "subscription":
			op = tok
			if err := l.skipTo("{"); err != nil {
				return "", "", "", err
			}
		default:
			return "", "", "", fmt.Errorf("syntax error, unexpected %q", tok)
		}
		break scan
	}
	name, err := l.next()
	if err != nil {
		return "", "", "", err
	}
	if !isName(name) {
		return "", "", "", fmt.Errorf("syntax error, unexpected %q in selection set", name)
	}
	alias, field = name, name
	save := l.pos
	if tok, err := l.next(); err == nil && tok == ":" {
		field, err = l.next()
		if err != nil {
			return "", "", "", err
		}
		if !isName(field) {
			return "", "", "", fmt.Errorf("syntax error, unexpected %q after alias", field)
		}
	} else {
		l.pos = save
	}
	return op, alias, field, nil
}

type lexer struct {
	src string
	pos int
}

func isName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func isNameChar(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// next returns the next token ("" at the end): a name, a number, a
// punctuator, or a string literal (returned with its quotes).
func (l *lexer) next() (string, error) {
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',':
			l.pos++
		case c == '#':
			for l.pos < len(l.src) && l.src[l.pos] != '\n' {
				l.pos++
			}
		case strings.HasPrefix(l.src[l.pos:], "\ufeff"):
			l.pos += len("\ufeff")
		default:
			return l.token()
		}
	}
	return "", nil
}

func (l *lexer) token() (string, error) {
	start := l.pos
	c := l.src[l.pos]
	switch {
	case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		for l.pos < len(l.src) && isNameChar(l.src[l.pos]) {
			l.pos++
		}
		return l.src[start:l.pos], nil
	case c == '-' || c >= '0' && c <= '9':
		l.pos++
		for l.pos < len(l.src) && strings.IndexByte("0123456789.eE+-", l.src[l.pos]) >= 0 {
			l.pos++
		}
		return l.src[start:l.pos], nil
	case strings.HasPrefix(l.src[l.pos:], `"""`):
		end := strings.Index(l.src[l.pos+3:], `"""`)
		if end < 0 {
			return "", errors.New("syntax error, unterminated string")
		}
		l.pos += 3 + end + 3
		return l.src[start:l.pos], nil
	case c == '"':
		l.pos++
		for l.pos < len(l.src) {
			switch l.src[l.pos] {
			case '\\':
				l.pos += 2
				continue
			case '"':
				l.pos++
				return l.src[start:l.pos], nil
			case '\n':
				return "", errors.New("syntax error, unterminated string")
			}
			l.pos++
		}
		return "", errors.New("syntax error, unterminated string")
	case strings.HasPrefix(l.src[l.pos:], "..."):
		l.pos += 3
		return "...", nil
	case strings.IndexByte("!$&()/:=@[]{}|", c) >= 0:
		l.pos++
		return string(c), nil
	}
	return "", fmt.Errorf("syntax error, unexpected character %q", c)
}

// skipTo consumes tokens up to and including want, skipping parenthesized
// groups (variable definitions, directive arguments) whole.
func (l *lexer) skipTo(want string) error {
	for {
		tok, err := l.next()
		if err != nil {
			return err
		}
		switch tok {
		case "":
			return errors.New("syntax error, unexpected end of file")
		case want:
			return nil
		case "(":
			if err := l.skipBalanced("(", ")"); err != nil {
				return err
			}
		}
	}
}

// skipBalanced consumes tokens until the close matching an already
// consumed open.
func (l *lexer) skipBalanced(open, close string) error {
	depth := 1
	for depth > 0 {
		tok, err := l.next()
		if err != nil {
			return err
		}
		switch tok {
		case "":
			return errors.New("syntax error, unexpected end of file")
		case open:
			depth++
		case close:
			depth--
		}
	}
	return nil
}

// balanced lexes the whole document and checks that brackets pair up, so a
// truncated query fails as it would on Shopify.
func balanced(doc string) error {
	l := &lexer{src: doc}
	var stack []string
	pairs := map[string]string{")": "(", "}": "{", "]": "["}
	for {
		tok, err := l.next()
		if err != nil {
			return err
		}
		switch tok {
		case "":
			if len(stack) > 0 {
				return errors.New("syntax error, unexpected end of file")
			}
			return nil
		case "(", "{", "[":
			stack = append(stack, tok)
		case ")", "}", "]":
			if len(stack) == 0 || stack[len(stack)-1] != pairs[tok] {
				return fmt.Errorf("syntax error, unexpected %q", tok)
			}
			stack = stack[:len(stack)-1]
		}
	}
}
