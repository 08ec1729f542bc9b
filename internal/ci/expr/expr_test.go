package expr

import (
	"strings"
	"testing"
)

var testVars = map[string]string{
	"T":     "1",
	"EMPTY": "",
	"MAIN":  "main",
	"BR":    "feature/login",
	"RE":    "/^feat/",
	"REI":   "/^FEAT/i",
	"PLAIN": "a.b",
	"BADRE": "/(/",
	"ML":    "line1\nline2",
	"QUOTE": `say "hi"`,
	"BS":    `C:\dir`,
	"SLASH": `/a\/b/`,
}

func lookupIn(m map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}

// evalCases is shared with the fuzz test as its seed corpus.
var evalCases = []struct {
	src  string
	want bool
}{
	// Bare operands: truthy when defined and non-empty.
	{`$T`, true},
	{`$EMPTY`, false},
	{`$UNDEF`, false},
	{`"x"`, true},
	{`""`, false},
	{`null`, false},
	{`${MAIN}`, true},

	// == and !=, with both quote styles and the ${} form.
	{`$MAIN == "main"`, true},
	{`$MAIN == 'main'`, true},
	{`${MAIN} == "main"`, true},
	{`"main" == $MAIN`, true},
	{`$MAIN != "main"`, false},
	{`$MAIN != "dev"`, true},
	{`$MAIN == $MAIN`, true},

	// Undefined vs empty vs null.
	{`$UNDEF == null`, true},
	{`$UNDEF != null`, false},
	{`$EMPTY == null`, false},
	{`$EMPTY != null`, true},
	{`$EMPTY == ""`, true},
	{`$UNDEF == ""`, false},
	{`$UNDEF != ""`, true},
	{`$UNDEF == $OTHER_UNDEF`, true},
	{`$UNDEF == $EMPTY`, false},
	{`null == null`, true},
	{`null != null`, false},
	{`$UNDEF == "x"`, false},
	{`$UNDEF != "x"`, true},
	{`$UNDEF =~ /.*/`, false},
	{`$UNDEF !~ /.*/`, true},
	{`null =~ /.*/`, false},
	{`null !~ /.*/`, true},
	{`$EMPTY =~ /^$/`, true},
	{`$EMPTY !~ /^$/`, false},
	{`$EMPTY !~ /x/`, true},

	// =~ and !~ with literals and flags.
	{`$MAIN =~ /^ma/`, true},
	{`$MAIN !~ /^ma/`, false},
	{`$MAIN =~ /^MA/`, false},
	{`$MAIN =~ /^MA/i`, true},
	{`$MAIN !~ /^MA/i`, false},
	{`$ML =~ /^line2$/`, false},
	{`$ML =~ /^line2$/m`, true},
	{`$ML =~ /line1.line2/`, false},
	{`$ML =~ /line1.line2/s`, true},
	{`$ML =~ /LINE1.LINE2/is`, true},
	{`$BR =~ /^feature\/login$/`, true},
	{`$BR =~ /feature\//`, true},
	{`$BR =~ /^[a-z]+\/[a-z]+$/`, true},
	{`$BS =~ /^C:\\dir$/`, true},
	{`"a\\/b" =~ /a\\\/b/`, true},
	{`"main" =~ //`, true},

	// Regex held in a variable.
	{`$BR =~ $RE`, true},
	{`$BR !~ $RE`, false},
	{`$MAIN =~ $RE`, false},
	{`$BR =~ $REI`, true},
	{`"a/b" =~ $SLASH`, true},
	{`"xa.bx" =~ $PLAIN`, true}, // not /.../: a literal substring
	{`"axb" =~ $PLAIN`, false},
	{`$MAIN =~ $BADRE`, false}, // invalid regex in a variable: false
	{`$MAIN !~ $BADRE`, false},
	{`$MAIN =~ $UNDEF`, false},
	{`$MAIN !~ $UNDEF`, false},
	{`$MAIN =~ $EMPTY`, true},

	// && binds tighter than ||; both left-associative.
	{`$T || $UNDEF && $UNDEF`, true},
	{`$UNDEF && $UNDEF || $T`, true},
	{`($T || $UNDEF) && $UNDEF`, false},
	{`$T && ($UNDEF || $T)`, true},
	{`$UNDEF || $UNDEF || $T`, true},
	{`$T && $T && $EMPTY`, false},
	{`$MAIN == "main" && $BR =~ /^feat/ || $UNDEF`, true},

	// Negation applies to the whole comparison or group after it.
	{`!$T`, false},
	{`!$UNDEF`, true},
	{`!!$T`, true},
	{`!($T && $UNDEF)`, true},
	{`!$MAIN == "main"`, false},
	{`!$MAIN == "dev"`, true},
	{`!$T || $T`, true},
	{`!($T || $T)`, false},

	// Strings: escapes of the quote and the backslash only.
	{`$QUOTE == "say \"hi\""`, true},
	{`$QUOTE == 'say "hi"'`, true},
	{`'it\'s' == "it's"`, true},
	{`$BS == "C:\\dir"`, true},
	{`$BS == 'C:\dir'`, true},
	{`"a\nb" == 'a\nb'`, true},

	// Whitespace anywhere between tokens.
	{"  $MAIN==\"main\"\n\t&&$T  ", true},
}

func TestEval(t *testing.T) {
	for _, tc := range evalCases {
		e, err := Parse(tc.src)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.src, err)
			continue
		}
		if got := e.Eval(lookupIn(testVars)); got != tc.want {
			t.Errorf("Eval(%q) = %v, want %v", tc.src, got, tc.want)
		}
		// The canonical form must evaluate the same and be a fixpoint.
		again, err := Parse(e.String())
		if err != nil {
			t.Errorf("Parse(String(%q) = %q): %v", tc.src, e.String(), err)
			continue
		}
		if again.String() != e.String() || again.Eval(lookupIn(testVars)) != tc.want {
			t.Errorf("round trip of %q via %q changed it", tc.src, e.String())
		}
	}
}

func TestEvalNilLookup(t *testing.T) {
	e, err := Parse(`$A == null && !$B`)
	if err != nil {
		t.Fatal(err)
	}
	if !e.Eval(nil) {
		t.Error("with a nil lookup every variable is undefined")
	}
}

func TestShortCircuit(t *testing.T) {
	for _, src := range []string{`$T || $X`, `$UNDEF && $X`, `($T || $X) && ($UNDEF && $X)`} {
		e, err := Parse(src)
		if err != nil {
			t.Fatal(err)
		}
		e.Eval(func(name string) (string, bool) {
			if name == "X" {
				t.Errorf("%s: $X was evaluated", src)
			}
			v, ok := testVars[name]
			return v, ok
		})
	}
}

func TestString(t *testing.T) {
	cases := []struct{ src, want string }{
		{`${A}=='x'`, `$A == "x"`},
		{`$A=="say \"hi\" \\o/"`, `$A == "say \"hi\" \\o/"`},
		{`'a\b'`, `"a\\b"`},
		{`$A =~ /a\/b\d/i`, `$A =~ /a\/b\d/i`},
		{`$A =~ /a\\\/b/`, `$A =~ /a\\\/b/`},
		{`( $A || !$B ) && $C =~ /x/m`, `($A || !$B) && $C =~ /x/m`},
		{`!( null != $X)`, `!(null != $X)`},
	}
	for _, tc := range cases {
		e, err := Parse(tc.src)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.src, err)
			continue
		}
		if got := e.String(); got != tc.want {
			t.Errorf("String(%q) = %q, want %q", tc.src, got, tc.want)
		}
	}
}

var errorCases = []struct{ src, msg string }{
	{``, `empty expression`},
	{"  \t", `empty expression`},
	{`$A &&`, `unexpected end of expression at offset 5`},
	{`$A ||`, `unexpected end of expression at offset 5`},
	{`&& $A`, `unexpected token "&&" at offset 0`},
	{`$A || || $B`, `unexpected token "||" at offset 6`},
	{`$A $B`, `unexpected token "$B" at offset 3`},
	{`$A "x"`, `unexpected token "\"x\"" at offset 3`},
	{`$A == "x" == "y"`, `unexpected token "==" at offset 10`},
	{`$A ==`, `unexpected end of expression at offset 5`},
	{`$A == && $B`, `unexpected token "&&" at offset 6`},
	{`== $A`, `unexpected token "==" at offset 0`},
	{`($A`, `missing ")" for "(" at offset 0`},
	{`(($A)`, `missing ")" for "(" at offset 0`},
	{`($A $B)`, `unexpected token "$B" at offset 4`},
	{`$A)`, `unexpected token ")" at offset 2`},
	{`()`, `unexpected token ")" at offset 1`},
	{`!`, `unexpected end of expression at offset 1`},
	{`$A !`, `unexpected token "!" at offset 3`},
	{`"abc`, `unterminated string at offset 0`},
	{`'abc`, `unterminated string at offset 0`},
	{`"a\"`, `unterminated string at offset 0`},
	{`$A =~ /abc`, `unterminated regex at offset 6`},
	{`$A =~ /abc\/`, `unterminated regex at offset 6`},
	{`$A =~ /a/x`, `invalid regex flag "x" at offset 9`},
	{`$A =~ /a/ig`, `invalid regex flag "g" at offset 10`},
	{`$A =~ /(/`, "invalid regex /(/ at offset 6: error parsing regexp: missing closing ): `(`"},
	{`$A =~ "a"`, `right side of "=~" at offset 6 must be a regex or a variable`},
	{`$A !~ null`, `right side of "!~" at offset 6 must be a regex or a variable`},
	{`$A == /a/`, `regex /a/ at offset 6 can only be the right side of =~ or !~`},
	{`/a/ =~ $A`, `regex /a/ at offset 0 can only be the right side of =~ or !~`},
	{`/a/`, `regex /a/ at offset 0 can only be the right side of =~ or !~`},
	{`$1A`, `invalid variable name at offset 0`},
	{`$`, `invalid variable name at offset 0`},
	{`$A == $`, `invalid variable name at offset 6`},
	{`${}`, `invalid variable name at offset 0`},
	{`${A`, `missing "}" in variable at offset 0`},
	{`${A-B}`, `missing "}" in variable at offset 0`},
	{`true`, `unexpected word "true" at offset 0`},
	{`$A == nil`, `unexpected word "nil" at offset 6`},
	{`$A = "x"`, `unexpected character "=" at offset 3`},
	{`$A & $B`, `unexpected character "&" at offset 3`},
	{`$A | $B`, `unexpected character "|" at offset 3`},
	{`# comment`, `unexpected character "#" at offset 0`},
	{`$A == "x" §`, `unexpected character "§" at offset 10`},
	{strings.Repeat("(", 65) + "$A" + strings.Repeat(")", 65), `expression nested deeper than 64 levels at offset 64`},
	{strings.Repeat("!", 65) + "$A", `expression nested deeper than 64 levels at offset 64`},
	{strings.Repeat("!(", 33) + "$A" + strings.Repeat(")", 33), `expression nested deeper than 64 levels at offset 64`},
	{`$A == "` + strings.Repeat("x", 8190) + `"`, `expression is 8198 bytes, longer than the 8192-byte limit`},
}

func TestParseErrors(t *testing.T) {
	for _, tc := range errorCases {
		_, err := Parse(tc.src)
		if err == nil {
			t.Errorf("Parse(%.40q) succeeded, want error %q", tc.src, tc.msg)
			continue
		}
		if err.Error() != tc.msg {
			t.Errorf("Parse(%.40q) error\n got: %s\nwant: %s", tc.src, err, tc.msg)
		}
	}
}

func TestLimitsAccepted(t *testing.T) {
	for _, src := range []string{
		strings.Repeat("(", 64) + "$A" + strings.Repeat(")", 64),
		strings.Repeat("!", 64) + "$A",
		`$A == "` + strings.Repeat("x", 8192-8) + `"`,
	} {
		if _, err := Parse(src); err != nil {
			t.Errorf("Parse(%.20q...): %v", src, err)
		}
	}
}

func TestExpand(t *testing.T) {
	vars := lookupIn(map[string]string{"A": "alpha", "B": "beta", "EMPTY": "", "D": "$A"})
	cases := []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"$A", "alpha"},
		{"${A}", "alpha"},
		{"x${A}y", "xalphay"},
		{"$A/$B", "alpha/beta"},
		{"$A_B", ""}, // the name is A_B, which is undefined
		{"${A}_B", "alpha_B"},
		{"$UNDEF-", "-"},
		{"[$EMPTY]", "[]"},
		{"$$A", "$A"},
		{"$$$A", "$alpha"},
		{"cost: 5$", "cost: 5$"},
		{"$1 $-x ${", "$1 $-x ${"},
		{"${A", "${A"},
		{"${}", "${}"},
		{"$D", "$A"}, // one level only: values are not re-expanded
	}
	for _, tc := range cases {
		if got := Expand(tc.in, vars); got != tc.want {
			t.Errorf("Expand(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := Expand("$A", nil); got != "" {
		t.Errorf("Expand with nil lookup = %q", got)
	}
}

func TestExpandLimit(t *testing.T) {
	vars := lookupIn(map[string]string{"A": strings.Repeat("x", 100)})
	if _, ok := ExpandLimit("$A$A", vars, 150); ok {
		t.Error("expansion over the limit succeeded")
	}
	if got, ok := ExpandLimit("$A$A", vars, 200); !ok || len(got) != 200 {
		t.Errorf("ExpandLimit at the limit = %d bytes, %v", len(got), ok)
	}
	if _, ok := ExpandLimit(strings.Repeat("y", 10), vars, 5); ok {
		t.Error("plain text over the limit succeeded")
	}
}
