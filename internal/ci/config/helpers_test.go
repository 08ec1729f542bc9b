package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ciwarden/ciwarden/internal/ci/expr"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// yamlText drops the newline after the opening backquote so that line 1 of
// a test's YAML is the first line written in the literal.
func yamlText(s string) []byte { return []byte(strings.TrimPrefix(s, "\n")) }

func mustParse(t *testing.T, src string, opts ...Options) *Config {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	cfg, err := Parse(yamlText(src), o)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return cfg
}

// parseError parses src and returns its *Error, failing the test if there is
// none or it has another type.
func parseError(t *testing.T, src string, opts ...Options) *Error {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	_, err := Parse(yamlText(src), o)
	if err == nil {
		t.Fatalf("Parse succeeded, want an error")
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *config.Error", err, err)
	}
	if !errors.Is(err, model.ErrInvalid) {
		t.Errorf("error %v does not wrap model.ErrInvalid", err)
	}
	return e
}

func jobNamed(t *testing.T, cfg *Config, name string) *Job {
	t.Helper()
	j := cfg.Job(name)
	if j == nil {
		t.Fatalf("no job %q", name)
	}
	return j
}

// cmpOpts compares expressions by their canonical text.
var cmpOpts = []cmp.Option{
	cmp.Comparer(func(a, b *expr.Expr) bool {
		if a == nil || b == nil {
			return a == b
		}
		return a.String() == b.String()
	}),
	cmpopts.EquateEmpty(),
}

func diff(t *testing.T, what string, got, want any) {
	t.Helper()
	if d := cmp.Diff(want, got, cmpOpts...); d != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", what, d)
	}
}

func mustExpr(s string) *expr.Expr {
	e, err := expr.Parse(s)
	if err != nil {
		panic(fmt.Sprintf("expr %q: %v", s, err))
	}
	return e
}

func boolPtr(b bool) *bool { return &b }

// files is a fake repository for include:local.
type files map[string]string

func (f files) read(path string) ([]byte, error) {
	s, ok := f[path]
	if !ok {
		return nil, fmt.Errorf("no such file")
	}
	return yamlText(s), nil
}

func vars(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}
