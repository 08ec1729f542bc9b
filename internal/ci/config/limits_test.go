package config

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// allocated returns the bytes f allocates, to show that hostile input is
// refused with bounded memory.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestLimitFileSize(t *testing.T) {
	e := parseError(t, "j:\n  script: x\n", Options{MaxBytes: 10})
	if e.Line != 0 || e.Error() != "file is 15 bytes, over the 10-byte limit" {
		t.Errorf("got %q (line %d)", e.Error(), e.Line)
	}
	big := "j:\n  script: x\n#" + strings.Repeat("x", DefaultMaxBytes) + "\n"
	_, err := Parse([]byte(big), Options{})
	if err == nil || err.Error() != fmt.Sprintf("file is %d bytes, over the %d-byte limit", len(big), DefaultMaxBytes) {
		t.Errorf("default limit: %v", err)
	}
}

// nested returns a job whose variables mapping is nested so that its
// innermost scalar sits at the given YAML depth (the document's mapping is
// depth 1), one level per line.
func nested(depth int) string {
	var b strings.Builder
	b.WriteString("j:\n  script: x\n  variables:\n")
	// j's mapping is depth 2, variables' value depth 3.
	for d := 3; d < depth; d++ {
		b.WriteString(strings.Repeat("  ", d-1) + "k:\n")
	}
	b.WriteString(strings.Repeat("  ", depth-1) + "leaf\n")
	return b.String()
}

func TestLimitDepth(t *testing.T) {
	// At 64 levels the YAML is accepted and the error is about variables.
	e := parseError(t, nested(64))
	if e.Msg != `variable "k" must be a string or a mapping with value, not a mapping` && !strings.HasPrefix(e.Msg, "unknown variable keyword") {
		t.Errorf("at depth 64: %v", e)
	}
	e = parseError(t, nested(65))
	if e.Msg != "YAML is nested deeper than 64 levels" || e.Line != 66 {
		t.Errorf("at depth 65: line %d: %s", e.Line, e.Msg)
	}
	flow := "j: " + strings.Repeat("[", 64) + strings.Repeat("]", 64) + "\n"
	if e := parseError(t, flow); e.Msg != "YAML is nested deeper than 64 levels" || e.Line != 1 {
		t.Errorf("flow: %v", e)
	}
	// An alias cannot smuggle depth in: 40 levels aliased at depth 40.
	deep := ".a: &deep " + strings.Repeat("[", 40) + strings.Repeat("]", 40) + "\n.b: " + strings.Repeat("[", 40) + "*deep" + strings.Repeat("]", 40) + "\n"
	if e := parseError(t, deep); e.Msg != "YAML is nested deeper than 64 levels through alias *deep" || e.Line != 2 {
		t.Errorf("through alias: %v", e)
	}
	// A million levels of flow nesting is refused by the parser itself,
	// quickly.
	huge := "j: " + strings.Repeat("[", 200_000) + "\n"
	if e := parseError(t, huge); !strings.Contains(e.Msg, "invalid YAML") && !strings.Contains(e.Msg, "nested deeper") {
		t.Errorf("huge nesting: %v", e)
	}
}

func TestLimitAliasBomb(t *testing.T) {
	bomb := `
a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
`
	var e *Error
	n := allocated(func() { e = parseError(t, bomb) })
	if e.Line != 6 || e.Msg != "YAML expands to more than 500000 nodes through anchors and aliases" {
		t.Errorf("got line %d: %s", e.Line, e.Msg)
	}
	if n > 4<<20 {
		t.Errorf("refusing the bomb allocated %d bytes", n)
	}

	// The same through mappings and merge keys.
	var b strings.Builder
	b.WriteString(".l0: &l0 {")
	for i := 0; i < 10; i++ {
		fmt.Fprintf(&b, "k%d: v, ", i)
	}
	b.WriteString("}\n")
	for l := 1; l <= 8; l++ {
		fmt.Fprintf(&b, ".l%d: &l%d {", l, l)
		for i := 0; i < 10; i++ {
			fmt.Fprintf(&b, "k%d: *l%d, ", i, l-1)
		}
		b.WriteString("}\n")
	}
	b.WriteString("j:\n  <<: *l8\n  script: x\n")
	n = allocated(func() { e = parseError(t, b.String()) })
	if e.Line != 6 || !strings.HasPrefix(e.Msg, "YAML expands to more than 500000 nodes") {
		t.Errorf("mapping bomb: line %d: %s", e.Line, e.Msg)
	}
	if n > 4<<20 {
		t.Errorf("refusing the mapping bomb allocated %d bytes", n)
	}
}

func TestLimitJobs(t *testing.T) {
	var b strings.Builder
	for i := 1; i <= MaxJobs; i++ {
		fmt.Fprintf(&b, "j%d: {script: x}\n", i)
	}
	cfg := mustParse(t, b.String())
	if len(cfg.Jobs) != MaxJobs {
		t.Fatalf("jobs = %d", len(cfg.Jobs))
	}
	b.WriteString("one-more: {script: x}\n")
	e := parseError(t, b.String())
	if e.Line != MaxJobs+1 || e.Msg != "more than 1000 jobs" {
		t.Errorf("got line %d: %s", e.Line, e.Msg)
	}
}

func TestLimitScriptLines(t *testing.T) {
	src := "j:\n  script:\n" + strings.Repeat("    - x\n", MaxScriptLines+1)
	e := parseError(t, src)
	if e.Line != 3 || e.Msg != "script has 10001 lines, more than 10000" {
		t.Errorf("got line %d: %s", e.Line, e.Msg)
	}
}

func TestLimitExtendsDepth(t *testing.T) {
	src := ".t0:\n  script: deep\n"
	for i := 1; i <= 11; i++ {
		src += fmt.Sprintf(".t%d:\n  extends: .t%d\n", i, i-1)
	}
	src += "job:\n  extends: .t11\n"
	e := parseError(t, src)
	if e.Line != 26 || e.Msg != "extends is nested deeper than 11 levels" {
		t.Errorf("got line %d: %s", e.Line, e.Msg)
	}
}

// Extends and !reference copy subtrees the way aliases do; the work budget
// keeps a small file from decoding into gigabytes.
func TestLimitAmplification(t *testing.T) {
	viaExtends := ".t:\n  script:\n" + strings.Repeat("    - make\n", 3000)
	for i := 0; i < MaxJobs; i++ {
		viaExtends += fmt.Sprintf("j%d: {extends: .t}\n", i)
	}
	var b strings.Builder
	b.WriteString(".l0: {s: [a, a, a, a, a, a, a, a, a, a]}\n")
	for l := 1; l <= 7; l++ {
		fmt.Fprintf(&b, ".l%d: {s: [%s]}\n", l, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("!reference [.l%d, s], ", l-1), 10), ", "))
	}
	b.WriteString("j:\n  script: !reference [.l7, s]\n")
	for name, src := range map[string]string{"extends": viaExtends, "reference": b.String()} {
		var err error
		start := time.Now()
		n := allocated(func() { _, err = Parse([]byte(src), Options{}) })
		var e *Error
		if !errors.As(err, &e) || !strings.Contains(e.Msg, "(more than 2000000 nodes)") {
			t.Errorf("%s: %v", name, err)
		}
		if n > 256<<20 {
			t.Errorf("%s: refusing allocated %d MB", name, n>>20)
		}
		t.Logf("%s: refused after %v, %d MB allocated", name, time.Since(start), n>>20)
	}
}

func TestNeverPanics(t *testing.T) {
	inputs := []string{
		"\xff\xfe\x00", "[", "{", "*", "&a", "!!binary aGVsbG8=", "? ? ? ?", "- - - -", ":", "---\n...\n",
		"a: !!set {x, y}", "a: !!omap [x: 1]", "<<: *x", "<<: 5", "j: {script: !!binary aGk=}",
		"j:\n  script: x\n  needs: [{job: ~}]\n", "j:\n  script: x\n  rules: [~]\n", "j:\n  script: x\n  variables: ~\n",
		"j:\n  script: x\n  cache: [[[]]]\n", "j:\n  script: x\n  extends: []\n", "0: {script: x}\n",
		"'': {script: x}\n", "j:\n  script: x\n  timeout: 1e400\n", "j:\n  script: x\n  timeout: 99999999999999999999 years\n",
		"j:\n  script: x\n  retry: 99999999999999999999\n",
	}
	for _, in := range inputs {
		_, err := Parse([]byte(in), Options{ReadFile: func(string) ([]byte, error) { return []byte(in), nil }})
		if err == nil {
			continue
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("%q: error %v is a %T", in, err, err)
		}
	}
}
