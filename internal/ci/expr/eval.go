package expr

import (
	"regexp"
	"strings"
)

type node interface {
	eval(Lookup) bool
	write(*strings.Builder)
}

// value is an operand's runtime value: a string, or null for null and for
// undefined variables. A defined but empty variable is "", not null.
type value struct {
	s    string
	null bool
}

func (v value) truthy() bool { return !v.null && v.s != "" }

type operand interface {
	value(Lookup) value
	write(*strings.Builder)
}

type (
	orNode    []node
	andNode   []node
	notNode   struct{ x node }
	groupNode struct{ x node }
	truthNode struct{ v operand }
	cmpNode   struct {
		op          tokenKind
		left, right operand
	}
)

func (n orNode) eval(l Lookup) bool {
	for _, t := range n {
		if t.eval(l) {
			return true
		}
	}
	return false
}

func (n andNode) eval(l Lookup) bool {
	for _, t := range n {
		if !t.eval(l) {
			return false
		}
	}
	return true
}

func (n notNode) eval(l Lookup) bool   { return !n.x.eval(l) }
func (n groupNode) eval(l Lookup) bool { return n.x.eval(l) }
func (n truthNode) eval(l Lookup) bool { return n.v.value(l).truthy() }

func (n cmpNode) eval(l Lookup) bool {
	lv := n.left.value(l)
	switch n.op {
	case tokEq:
		return equal(lv, n.right.value(l))
	case tokNe:
		return !equal(lv, n.right.value(l))
	}
	// An undefined or null left side never matches a pattern, so =~ is false
	// and !~ is true, as in GitLab.
	if lv.null {
		return n.op == tokNoMatch
	}
	re := n.regex(l)
	if re == nil {
		// The pattern came from a variable that is undefined or not a valid
		// regex: the comparison cannot be made, so neither operator holds.
		return false
	}
	return re.MatchString(lv.s) == (n.op == tokMatch)
}

func (n cmpNode) regex(l Lookup) *regexp.Regexp {
	switch r := n.right.(type) {
	case regexOperand:
		return r.re
	case varOperand:
		v, ok := l(string(r))
		if !ok {
			return nil
		}
		pattern, flags, isRegex := parseRegexValue(v)
		if !isRegex {
			// A value that is not written as /pattern/flags is taken as the
			// text to look for, not as a pattern: such values are usually
			// branch names or versions whose dots and pluses would otherwise
			// turn into metacharacters and match more than intended.
			pattern, flags = regexp.QuoteMeta(v), ""
		}
		re, err := compile(pattern, flags)
		if err != nil {
			return nil
		}
		return re
	}
	return nil
}

func equal(a, b value) bool {
	if a.null || b.null {
		return a.null && b.null
	}
	return a.s == b.s
}

type (
	varOperand    string
	stringOperand string
	nullOperand   struct{}
	regexOperand  struct {
		pattern, flags string
		re             *regexp.Regexp
	}
)

func (o varOperand) value(l Lookup) value {
	s, ok := l(string(o))
	return value{s: s, null: !ok}
}

func (o stringOperand) value(Lookup) value { return value{s: string(o)} }
func (nullOperand) value(Lookup) value     { return value{null: true} }

// A regex has no string value; the parser only places it where cmpNode
// reads it as a pattern.
func (regexOperand) value(Lookup) value { return value{null: true} }

func (n orNode) write(b *strings.Builder)    { writeList(b, n, " || ") }
func (n andNode) write(b *strings.Builder)   { writeList(b, n, " && ") }
func (n notNode) write(b *strings.Builder)   { b.WriteByte('!'); n.x.write(b) }
func (n truthNode) write(b *strings.Builder) { n.v.write(b) }

func (n groupNode) write(b *strings.Builder) {
	b.WriteByte('(')
	n.x.write(b)
	b.WriteByte(')')
}

func (n cmpNode) write(b *strings.Builder) {
	n.left.write(b)
	switch n.op {
	case tokEq:
		b.WriteString(" == ")
	case tokNe:
		b.WriteString(" != ")
	case tokMatch:
		b.WriteString(" =~ ")
	case tokNoMatch:
		b.WriteString(" !~ ")
	}
	n.right.write(b)
}

func writeList(b *strings.Builder, terms []node, sep string) {
	for i, t := range terms {
		if i > 0 {
			b.WriteString(sep)
		}
		t.write(b)
	}
}

func (o varOperand) write(b *strings.Builder) { b.WriteByte('$'); b.WriteString(string(o)) }
func (nullOperand) write(b *strings.Builder)  { b.WriteString("null") }

func (o stringOperand) write(b *strings.Builder) {
	b.WriteByte('"')
	for i := 0; i < len(o); i++ {
		if o[i] == '"' || o[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(o[i])
	}
	b.WriteByte('"')
}

// write re-escapes slashes. Backslash pairs are copied whole so that a "\\"
// before a slash is not mistaken for an escape of that slash.
func (o regexOperand) write(b *strings.Builder) {
	b.WriteByte('/')
	p := o.pattern
	for i := 0; i < len(p); i++ {
		switch {
		case p[i] == '\\' && i+1 < len(p):
			b.WriteString(p[i : i+2])
			i++
		case p[i] == '/':
			b.WriteString(`\/`)
		default:
			b.WriteByte(p[i])
		}
	}
	b.WriteByte('/')
	b.WriteString(o.flags)
}
