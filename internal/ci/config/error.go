package config

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/ciwarden/ciwarden/internal/model"
)

// Error is the only error type Parse and Plan return. It locates the
// problem in the YAML so that a user can fix the file.
type Error struct {
	File   string // the included file the problem is in; "" for the main file
	Line   int    // 1-based; 0 when the problem concerns a whole file
	Column int    // 1-based; 0 when unknown
	Msg    string
}

// Error formats as "line N: msg", prefixed with the file for included files
// ("ci/build.yml: line N: msg"); whole-file problems carry no line.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(": ")
	}
	if e.Line > 0 {
		b.WriteString("line ")
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap lets callers map every configuration problem to a validation
// failure with errors.Is(err, model.ErrInvalid).
func (e *Error) Unwrap() error { return model.ErrInvalid }

// errAt returns an Error located at v.
func errAt(v *value, format string, args ...any) *Error {
	return &Error{File: v.file, Line: v.line, Column: v.col, Msg: fmt.Sprintf(format, args...)}
}

// errAtKey returns an Error located at a mapping key.
func errAtKey(e *entry, format string, args ...any) *Error {
	return &Error{File: e.file, Line: e.line, Column: e.col, Msg: fmt.Sprintf(format, args...)}
}
