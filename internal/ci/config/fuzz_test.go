package config

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// testYAMLs returns every raw string literal in this package's tests that
// looks like YAML, so that the fuzzer starts from all the shapes the tests
// exercise.
func testYAMLs(f *testing.F) []string {
	names, err := filepath.Glob("*_test.go")
	if err != nil {
		f.Fatal(err)
	}
	var out []string
	fset := token.NewFileSet()
	for _, name := range names {
		file, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			f.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err == nil && strings.Contains(s, ":") && strings.Contains(s, "\n") {
				out = append(out, strings.TrimPrefix(s, "\n"))
			}
			return true
		})
	}
	return out
}

// FuzzParse checks that no input makes Parse or Plan panic and that every
// error they return is a *Error. Includes read the input itself, so nested
// and cyclic includes are exercised too.
func FuzzParse(f *testing.F) {
	for _, s := range testYAMLs(f) {
		f.Add(s)
	}
	for _, tc := range errorCases {
		f.Add(tc.src)
	}
	f.Fuzz(func(t *testing.T, src string) {
		data := []byte(src)
		opts := Options{ReadFile: func(string) ([]byte, error) { return data, nil }, MaxBytes: 64 << 10}
		cfg, err := Parse(data, opts)
		if err != nil {
			checkError(t, err)
			return
		}
		for _, env := range []Env{
			{},
			{Vars: func(string) (string, bool) { return "main", true }, Exists: func([]string) bool { return true }},
		} {
			if _, err := cfg.Plan(env); err != nil {
				checkError(t, err)
			}
		}
	})
}

func checkError(t *testing.T, err error) {
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is a %T, not a *config.Error", err, err)
	}
	if e.Line < 0 || e.Msg == "" {
		t.Fatalf("malformed error %#v", e)
	}
}
