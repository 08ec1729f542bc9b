package runner

import (
	"reflect"
	"testing"
)

func TestGlobMatch(t *testing.T) {
	cases := []struct {
		pattern, name string
		want          bool
	}{
		{"*.txt", "a.txt", true},
		{"*.txt", "dir/a.txt", false}, // * stays within a segment
		{"*.txt", ".hidden.txt", true},
		{"out/*", "out/a", true},
		{"out/*", "out/sub/a", false},
		{"**", "a/b/c", true},
		{"**/*.log", "x.log", true}, // ** matches no segment too
		{"**/*.log", "a/b/x.log", true},
		{"**/*.log", "a/b/x.txt", false},
		{"out/**", "out", true},
		{"out/**", "out/a/b", true},
		{"out/**", "outer/a", false},
		{"a/**/z", "a/z", true},
		{"a/**/z", "a/b/c/z", true},
		{"a/**/**/z", "a/b/z", true},
		{"a/**/z", "a/b/c/y", false},
		{"file?.bin", "file1.bin", true},
		{"file?.bin", "file10.bin", false},
		{"[ab].c", "b.c", true},
		{"[ab].c", "c.c", false},
		{"{bin,lib}/*.so", "lib/x.so", true},
		{"{bin,lib}/*.so", "etc/x.so", false},
		{"a/{b,c{d,e}}/f", "a/ce/f", true},
		{"a/{b,c{d,e}}/f", "a/c/f", false},
		{"out", "out", true},
		{"out", "out/a", false},
		{"a**b", "aXb", true}, // ** inside a segment is a plain *
		{"a**b", "a/b", false},
	}
	for _, c := range cases {
		if got := globMatch(c.pattern, c.name); got != c.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", c.pattern, c.name, got, c.want)
		}
	}
}

func TestExpandBraces(t *testing.T) {
	cases := map[string][]string{
		"plain":          {"plain"},
		"{a,b}":          {"a", "b"},
		"x/{a,b}/{c,d}":  {"x/a/c", "x/a/d", "x/b/c", "x/b/d"},
		"{a,b{c,d}}":     {"a", "bc", "bd"},
		"unbalanced{a,b": {"unbalanced{a,b"},
		`esc\{a,b}`:      {`esc\{a,b}`},
	}
	for in, want := range cases {
		if got := expandBraces(in); !reflect.DeepEqual(got, want) {
			t.Errorf("expandBraces(%q) = %q, want %q", in, got, want)
		}
	}
	// {a,b} twenty times would be a million patterns.
	p := ""
	for i := 0; i < 20; i++ {
		p += "{a,b}"
	}
	if n := len(expandBraces(p)); n > maxBraceExpansions {
		t.Fatalf("expansion not bounded: %d", n)
	}
}

func TestSplitGlob(t *testing.T) {
	cases := map[string]string{"out/sub/*.txt": "out/sub", "*.txt": ".", "out/": "out/", "a/**/b": "a", "out": "out"}
	for in, want := range cases {
		if base, _ := splitGlob(in); base != want {
			t.Errorf("splitGlob(%q) base = %q, want %q", in, base, want)
		}
	}
}
