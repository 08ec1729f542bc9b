package expr

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

type tokenKind uint8

const (
	tokEOF tokenKind = iota
	tokVar
	tokString
	tokNull
	tokRegex
	tokEq
	tokNe
	tokMatch
	tokNoMatch
	tokAnd
	tokOr
	tokNot
	tokLParen
	tokRParen
)

// token is one lexeme. For variables val is the name, for strings the
// unescaped value, for regexes the pattern with "\/" already turned into "/".
type token struct {
	kind  tokenKind
	pos   int    // byte offset in the source
	text  string // the source text, for error messages
	val   string
	flags string // regex flags
}

func (t token) describe() string {
	if t.kind == tokEOF {
		return "end of expression"
	}
	s := t.text
	// Long literals would drown the message; the offset locates them anyway.
	if len(s) > 32 {
		s = s[:32] + "..."
	}
	return fmt.Sprintf("token %q", s)
}

// lex splits s into tokens. There is no division operator, so a "/" can
// only ever start a regex literal and the lexer needs no parser context.
func lex(s string) ([]token, error) {
	var toks []token
	i := 0
	for {
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i >= len(s) {
			toks = append(toks, token{kind: tokEOF, pos: len(s)})
			return toks, nil
		}
		start := i
		c := s[i]
		two := ""
		if i+1 < len(s) {
			two = s[i : i+2]
		}
		switch {
		case two == "==":
			toks, i = append(toks, token{kind: tokEq, pos: start, text: two}), i+2
		case two == "!=":
			toks, i = append(toks, token{kind: tokNe, pos: start, text: two}), i+2
		case two == "=~":
			toks, i = append(toks, token{kind: tokMatch, pos: start, text: two}), i+2
		case two == "!~":
			toks, i = append(toks, token{kind: tokNoMatch, pos: start, text: two}), i+2
		case two == "&&":
			toks, i = append(toks, token{kind: tokAnd, pos: start, text: two}), i+2
		case two == "||":
			toks, i = append(toks, token{kind: tokOr, pos: start, text: two}), i+2
		case c == '!':
			toks, i = append(toks, token{kind: tokNot, pos: start, text: "!"}), i+1
		case c == '(':
			toks, i = append(toks, token{kind: tokLParen, pos: start, text: "("}), i+1
		case c == ')':
			toks, i = append(toks, token{kind: tokRParen, pos: start, text: ")"}), i+1
		case c == '$':
			name, n, err := lexVariable(s, i)
			if err != nil {
				return nil, err
			}
			toks, i = append(toks, token{kind: tokVar, pos: start, text: s[i : i+n], val: name}), i+n
		case c == '"' || c == '\'':
			val, n, err := lexString(s, i)
			if err != nil {
				return nil, err
			}
			toks, i = append(toks, token{kind: tokString, pos: start, text: s[i : i+n], val: val}), i+n
		case c == '/':
			pat, flags, n, err := lexRegex(s, i)
			if err != nil {
				return nil, err
			}
			toks, i = append(toks, token{kind: tokRegex, pos: start, text: s[i : i+n], val: pat, flags: flags}), i+n
		case isNameStart(c):
			j := i
			for j < len(s) && isNameChar(s[j]) {
				j++
			}
			if s[i:j] != "null" {
				return nil, fmt.Errorf("unexpected word %q at offset %d", s[i:j], start)
			}
			toks, i = append(toks, token{kind: tokNull, pos: start, text: "null"}), j
		default:
			r, _ := utf8.DecodeRuneInString(s[i:])
			return nil, fmt.Errorf("unexpected character %q at offset %d", string(r), start)
		}
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isNameStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isNameChar(c byte) bool { return isNameStart(c) || (c >= '0' && c <= '9') }

// scanName returns the length of the variable name at the start of s, 0 if
// there is none.
func scanName(s string) int {
	if s == "" || !isNameStart(s[0]) {
		return 0
	}
	n := 1
	for n < len(s) && isNameChar(s[n]) {
		n++
	}
	return n
}

// lexVariable reads "$NAME" or "${NAME}" at s[i] and returns the name and
// the number of bytes consumed.
func lexVariable(s string, i int) (string, int, error) {
	rest := s[i+1:]
	if strings.HasPrefix(rest, "{") {
		n := scanName(rest[1:])
		if n == 0 {
			return "", 0, fmt.Errorf("invalid variable name at offset %d", i)
		}
		if !strings.HasPrefix(rest[1+n:], "}") {
			return "", 0, fmt.Errorf("missing \"}\" in variable at offset %d", i)
		}
		return rest[1 : 1+n], n + 3, nil
	}
	n := scanName(rest)
	if n == 0 {
		return "", 0, fmt.Errorf("invalid variable name at offset %d", i)
	}
	return rest[:n], n + 1, nil
}

// lexString reads a quoted string at s[i]. A backslash escapes the quote and
// itself; any other backslash is kept, so Windows paths and regex-looking
// text survive unchanged.
func lexString(s string, i int) (string, int, error) {
	q := s[i]
	var b strings.Builder
	for j := i + 1; j < len(s); j++ {
		c := s[j]
		switch {
		case c == q:
			return b.String(), j - i + 1, nil
		case c == '\\' && j+1 < len(s) && (s[j+1] == q || s[j+1] == '\\'):
			b.WriteByte(s[j+1])
			j++
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, fmt.Errorf("unterminated string at offset %d", i)
}

// lexRegex reads /pattern/flags at s[i]. "\/" stands for a slash inside the
// pattern; every other escape is left for the regex engine.
func lexRegex(s string, i int) (pattern, flags string, n int, err error) {
	var b strings.Builder
	j := i + 1
	for ; j < len(s); j++ {
		c := s[j]
		if c == '/' {
			break
		}
		if c == '\\' && j+1 < len(s) {
			if s[j+1] == '/' {
				b.WriteByte('/')
			} else {
				b.WriteByte('\\')
				b.WriteByte(s[j+1])
			}
			j++
			continue
		}
		b.WriteByte(c)
	}
	if j >= len(s) {
		return "", "", 0, fmt.Errorf("unterminated regex at offset %d", i)
	}
	j++ // closing slash
	k := j
	for k < len(s) && isNameChar(s[k]) {
		if !strings.ContainsRune("ims", rune(s[k])) {
			return "", "", 0, fmt.Errorf("invalid regex flag %q at offset %d", s[k:k+1], k)
		}
		k++
	}
	return b.String(), s[j:k], k - i, nil
}
