// Package expr implements the expression language of GitLab's `rules:if`
// and `workflow:rules:if`, and the $VAR expansion used for variable values.
//
// An expression compares variables, quoted strings, null and regex literals
// with ==, !=, =~ and !~, and combines comparisons with &&, ||, ! and
// parentheses. Parse checks the whole expression (including regex literals)
// once, so a configuration with a bad expression is refused when it is
// loaded rather than when a pipeline happens to evaluate it.
package expr

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Limits on what Parse accepts. Expressions come from repository files, so
// they are hostile input; these bounds keep parsing and evaluation cheap.
const (
	MaxLength = 8 << 10 // bytes of source
	MaxDepth  = 64      // nested parentheses and negations
)

// Expr is a parsed expression. It is immutable and safe for concurrent Eval.
type Expr struct {
	root node
}

// Lookup returns a variable's value and whether it is defined.
type Lookup func(name string) (value string, defined bool)

// Parse parses a rules:if expression.
func Parse(s string) (*Expr, error) {
	if len(s) > MaxLength {
		return nil, fmt.Errorf("expression is %d bytes, longer than the %d-byte limit", len(s), MaxLength)
	}
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	if toks[0].kind == tokEOF {
		return nil, errors.New("empty expression")
	}
	p := &parser{toks: toks}
	root, err := p.or(0)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tokEOF {
		return nil, p.unexpected(t)
	}
	return &Expr{root: root}, nil
}

// Eval evaluates the expression. A nil lookup means no variable is defined.
func (e *Expr) Eval(lookup func(name string) (value string, defined bool)) bool {
	if lookup == nil {
		lookup = func(string) (string, bool) { return "", false }
	}
	return e.root.eval(lookup)
}

// String returns the expression in a canonical form that Parse accepts and
// that evaluates the same: variables as $NAME, strings double-quoted,
// parentheses where the source had them.
func (e *Expr) String() string {
	var b strings.Builder
	e.root.write(&b)
	return b.String()
}

type parser struct {
	toks []token
	i    int
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tokEOF {
		p.i++
	}
	return t
}

func (p *parser) unexpected(t token) error {
	return fmt.Errorf("unexpected %s at offset %d", t.describe(), t.pos)
}

// or parses a ||-separated list; && binds tighter, so its terms are and-lists.
func (p *parser) or(depth int) (node, error) {
	first, err := p.and(depth)
	if err != nil {
		return nil, err
	}
	terms := []node{first}
	for p.peek().kind == tokOr {
		p.next()
		t, err := p.and(depth)
		if err != nil {
			return nil, err
		}
		terms = append(terms, t)
	}
	if len(terms) == 1 {
		return first, nil
	}
	return orNode(terms), nil
}

func (p *parser) and(depth int) (node, error) {
	first, err := p.unary(depth)
	if err != nil {
		return nil, err
	}
	terms := []node{first}
	for p.peek().kind == tokAnd {
		p.next()
		t, err := p.unary(depth)
		if err != nil {
			return nil, err
		}
		terms = append(terms, t)
	}
	if len(terms) == 1 {
		return first, nil
	}
	return andNode(terms), nil
}

// unary parses "!x", "(x)" or a comparison. "!" applies to the whole
// comparison that follows it: `!$A == "x"` means `!($A == "x")`, because a
// comparison's operands are values, never booleans.
func (p *parser) unary(depth int) (node, error) {
	t := p.peek()
	switch t.kind {
	case tokNot, tokLParen:
		if depth >= MaxDepth {
			return nil, fmt.Errorf("expression nested deeper than %d levels at offset %d", MaxDepth, t.pos)
		}
		p.next()
		if t.kind == tokNot {
			x, err := p.unary(depth + 1)
			if err != nil {
				return nil, err
			}
			return notNode{x}, nil
		}
		x, err := p.or(depth + 1)
		if err != nil {
			return nil, err
		}
		if c := p.peek(); c.kind != tokRParen {
			if c.kind == tokEOF {
				return nil, fmt.Errorf("missing \")\" for \"(\" at offset %d", t.pos)
			}
			return nil, p.unexpected(c)
		}
		p.next()
		return groupNode{x}, nil
	case tokVar, tokString, tokNull, tokRegex:
		return p.comparison()
	default:
		return nil, p.unexpected(t)
	}
}

func (p *parser) comparison() (node, error) {
	lt := p.next()
	if lt.kind == tokRegex {
		return nil, misplacedRegex(lt)
	}
	left := operandOf(lt)
	op := p.peek()
	switch op.kind {
	case tokEq, tokNe, tokMatch, tokNoMatch:
	default:
		return truthNode{left}, nil
	}
	p.next()
	rt := p.next()
	switch rt.kind {
	case tokVar, tokString, tokNull, tokRegex:
	default:
		return nil, p.unexpected(rt)
	}
	matching := op.kind == tokMatch || op.kind == tokNoMatch
	if matching && rt.kind != tokRegex && rt.kind != tokVar {
		return nil, fmt.Errorf("right side of %q at offset %d must be a regex or a variable", op.text, rt.pos)
	}
	if !matching && rt.kind == tokRegex {
		return nil, misplacedRegex(rt)
	}
	right := operandOf(rt)
	if rt.kind == tokRegex {
		re, err := compile(rt.val, rt.flags)
		if err != nil {
			return nil, fmt.Errorf("invalid regex %s at offset %d: %v", rt.text, rt.pos, err)
		}
		right = regexOperand{pattern: rt.val, flags: rt.flags, re: re}
	}
	return cmpNode{op: op.kind, left: left, right: right}, nil
}

func misplacedRegex(t token) error {
	return fmt.Errorf("regex %s at offset %d can only be the right side of =~ or !~", t.text, t.pos)
}

func operandOf(t token) operand {
	switch t.kind {
	case tokVar:
		return varOperand(t.val)
	case tokString:
		return stringOperand(t.val)
	default:
		return nullOperand{}
	}
}

// compile builds an RE2 regex from a GitLab /pattern/flags literal. RE2 is
// what GitLab itself uses for rules (Gitlab::UntrustedRegexp), so the syntax
// accepted here matches; the flags become an inline group.
func compile(pattern, flags string) (*regexp.Regexp, error) {
	if flags != "" {
		pattern = "(?" + flags + ")" + pattern
	}
	return regexp.Compile(pattern)
}

// parseRegexValue reads a variable's value as a /pattern/flags regex. ok is
// false when the value is not in that form.
func parseRegexValue(v string) (pattern, flags string, ok bool) {
	if len(v) < 2 || v[0] != '/' {
		return "", "", false
	}
	end := strings.LastIndexByte(v, '/')
	if end == 0 {
		return "", "", false
	}
	flags = v[end+1:]
	for i := 0; i < len(flags); i++ {
		if !strings.ContainsRune("ims", rune(flags[i])) {
			return "", "", false
		}
	}
	return unescapeSlashes(v[1:end]), flags, true
}

// unescapeSlashes turns "\/" into "/", walking backslash pairs so that an
// escaped backslash before a slash stays a backslash.
func unescapeSlashes(p string) string {
	if !strings.Contains(p, `\/`) {
		return p
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '\\' && i+1 < len(p) {
			if p[i+1] != '/' {
				b.WriteByte('\\')
			}
			b.WriteByte(p[i+1])
			i++
			continue
		}
		b.WriteByte(p[i])
	}
	return b.String()
}
