package expr

import "testing"

// FuzzParseEval checks that no input makes Parse or Eval panic, and that the
// canonical String form of anything Parse accepts parses back to itself and
// evaluates the same.
func FuzzParseEval(f *testing.F) {
	for _, tc := range evalCases {
		f.Add(tc.src)
	}
	for _, tc := range errorCases {
		if len(tc.src) < 200 {
			f.Add(tc.src)
		}
	}
	lookup := lookupIn(testVars)
	f.Fuzz(func(t *testing.T, src string) {
		e, err := Parse(src)
		if err != nil {
			if e != nil {
				t.Fatalf("Parse(%q) returned both an expression and %v", src, err)
			}
			return
		}
		got := e.Eval(lookup)
		s := e.String()
		again, err := Parse(s)
		if err != nil {
			t.Fatalf("Parse(%q) ok, but its String %q fails: %v", src, s, err)
		}
		if again.String() != s {
			t.Fatalf("String not a fixpoint: %q -> %q -> %q", src, s, again.String())
		}
		if again.Eval(lookup) != got {
			t.Fatalf("%q and its String %q evaluate differently", src, s)
		}
		Expand(src, lookup)
	})
}
