package config

import (
	"strings"
	"testing"
	"time"
)

func TestMatch(t *testing.T) {
	cases := []struct {
		pattern, path string
		want          bool
	}{
		// Literal paths.
		{"Dockerfile", "Dockerfile", true},
		{"Dockerfile", "docker/Dockerfile", false},
		{"a/b.txt", "a/b.txt", true},
		{"a/b.txt", "a/b.txtx", false},

		// * stays within a segment and matches dotfiles.
		{"*.go", "main.go", true},
		{"*.go", "cmd/main.go", false},
		{"*", ".gitlab-ci.yml", true},
		{"*.yml", ".gitlab-ci.yml", true},
		{"src/*", "src/a.c", true},
		{"src/*", "src/sub/a.c", false},
		{"src/*/a.c", "src/sub/a.c", true},
		{"*a*b*c", "xaybzc", true},
		{"*a*b*c", "xaybzcd", false},
		{"a*", "a", true},
		{"*", "", true},

		// **/ crosses directories (zero or more), also dot directories.
		{"**/*.go", "main.go", true},
		{"**/*.go", "cmd/ci/main.go", true},
		{"**/*.go", ".hidden/x.go", true},
		{"src/**/*.go", "src/a.go", true},
		{"src/**/*.go", "src/a/b/c.go", true},
		{"src/**/*.go", "other/a.go", false},
		{"**/test/**/*.rb", "a/test/b/c.rb", true},
		{"**/test/**/*.rb", "test/c.rb", true},
		{"**/test/**/*.rb", "a/tests/c.rb", false},
		{"**/**/**/x", "x", true},
		{"docs/**/*", "docs/a/b.md", true},
		// Elsewhere ** is a plain *, as in Ruby.
		{"docs/**", "docs/a.md", true},
		{"docs/**", "docs/a/b.md", false},
		{"**.rb", "lib/a.rb", false},
		{"**.rb", "a.rb", true},

		// ? and classes.
		{"?.txt", "a.txt", true},
		{"?.txt", "ab.txt", false},
		{"?", "/", false},
		{"file[0-9].log", "file7.log", true},
		{"file[0-9].log", "filex.log", false},
		{"file[!0-9].log", "filex.log", true},
		{"file[^0-9].log", "file7.log", false},
		{"[]]", "]", true},
		{"[a-]", "-", true},
		{`[\]]`, "]", true},
		{"[abc", "[abc", true}, // unclosed: literal
		{"ü?", "üé", true},

		// Braces.
		{"{a,b}.txt", "a.txt", true},
		{"{a,b}.txt", "b.txt", true},
		{"{a,b}.txt", "c.txt", false},
		{"src/{lib,cmd}/**/*.{go,mod}", "src/cmd/x/y.mod", true},
		{"{a,{b,c}}", "c", true},
		{"{single}", "single", true},
		{"{a,}x", "x", true},
		{"{unclosed", "{unclosed", true},

		// Escapes.
		{`\*.txt`, "*.txt", true},
		{`\*.txt`, "a.txt", false},
		{`a\{b,c\}`, "a{b,c}", true},
	}
	for _, tc := range cases {
		if got := Match(tc.pattern, tc.path); got != tc.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tc.pattern, tc.path, got, tc.want)
		}
	}
}

func TestMatchBounded(t *testing.T) {
	// Many **/ against a deep path, and brace expansion that would produce
	// 2^40 alternatives, both finish.
	deep := strings.Repeat("d/", 200) + "x"
	if !Match(strings.Repeat("**/", 50)+"x", deep) {
		t.Error("deep ** did not match")
	}
	if Match(strings.Repeat("**/", 50)+"y", deep) {
		t.Error("deep ** matched")
	}
	if Match(strings.Repeat("{a,b}", 40), "c") {
		t.Error("brace bomb matched")
	}
	if !Match(strings.Repeat("*a", 30)+"b", strings.Repeat("a", 60)+"b") {
		t.Error("many stars did not match")
	}
}

func TestParseDuration(t *testing.T) {
	cases := []struct {
		in   string
		want time.Duration
	}{
		{"3600", time.Hour},
		{"90", 90 * time.Second},
		{"90 minutes", 90 * time.Minute},
		{"1h 30m", 90 * time.Minute},
		{"1h30m", 90 * time.Minute},
		{"1 hour 30 min", 90 * time.Minute},
		{"1 hour and 30 minutes", 90 * time.Minute},
		{"1 hr, 30 mins", 90 * time.Minute},
		{"1.5 hours", 90 * time.Minute},
		{"2 days", 48 * time.Hour},
		{"1 week", 7 * 24 * time.Hour},
		{"1 month", 30 * 24 * time.Hour},
		{"1 year", 365 * 24 * time.Hour},
		{"30s", 30 * time.Second},
		{"  5 Minutes ", 5 * time.Minute},
	}
	for _, tc := range cases {
		got, err := ParseDuration(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	bad := map[string]string{
		"":          `empty duration`,
		"soon":      `invalid duration "soon"`,
		"5 parsecs": `invalid duration "5 parsecs": unknown unit "parsecs"`,
		"1..2 h":    `invalid duration "1..2 h"`,
		"-5m":       `invalid duration "-5m"`,
		"999 years": `duration "999 years" is too long`,
	}
	for in, msg := range bad {
		if _, err := ParseDuration(in); err == nil || err.Error() != msg {
			t.Errorf("ParseDuration(%q) error = %v, want %q", in, err, msg)
		}
	}
}
