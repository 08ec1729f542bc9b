// Package model holds ciwarden's domain types and the sentinel errors that
// every layer wraps. It imports nothing of ours, knows no SQL and no HTTP.
//
// It has no tests of its own: its name rules (names.go) are tested through
// the API in internal/api (TestNamesAndPaths, TestCreateUserValidation),
// and the errors by the status each one becomes there (TestUnknownIDs,
// TestConcurrentDuplicates, TestMalformedBodies).
package model

import "errors"

// Sentinel errors. Stores and services wrap them with context; only the HTTP
// layer turns them into status codes (internal/api/errors.go).
var (
	ErrNotFound     = errors.New("not found")
	ErrConflict     = errors.New("already exists")
	ErrInvalid      = errors.New("invalid")
	ErrForbidden    = errors.New("forbidden")
	ErrUnauthorized = errors.New("unauthorized")
)

// ValidationError reports which fields of an input were rejected and why, in
// the shape GitLab uses for model validation failures:
// {"message": {"path": ["has already been taken"]}}.
type ValidationError struct {
	Fields map[string][]string
}

func (e *ValidationError) Error() string {
	s := "validation failed:"
	for k, v := range e.Fields {
		for _, m := range v {
			s += " " + k + " " + m + ";"
		}
	}
	return s
}

func (e *ValidationError) Unwrap() error { return ErrInvalid }

// Invalid returns a ValidationError for one field.
func Invalid(field, msg string) error {
	return &ValidationError{Fields: map[string][]string{field: {msg}}}
}
