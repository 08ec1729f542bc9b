// Package model holds ciwarden's domain types and the sentinel errors that
// every layer wraps. It imports nothing of ours, knows no SQL and no HTTP.
//
// It has no tests of its own: its name rules (names.go) are tested through
// the API in internal/api (TestNamesAndPaths, TestCreateUserValidation),
// and the errors by the status each one becomes there (TestUnknownIDs,
// TestConcurrentDuplicates, TestMalformedBodies).
package model

import (
	"errors"
	"fmt"
)

// Sentinel errors. Stores and services wrap them with context; only the HTTP
// layer turns them into status codes (internal/api/errors.go).
var (
	ErrNotFound     = errors.New("not found")
	ErrConflict     = errors.New("already exists")
	ErrInvalid      = errors.New("invalid")
	ErrForbidden    = errors.New("forbidden")
	ErrUnauthorized = errors.New("unauthorized")
	// ErrUnprocessable is a well-formed request the service cannot carry
	// out as asked (GitLab's 422: a release of a missing tag without ref).
	ErrUnprocessable = errors.New("unprocessable")
	// ErrTooLarge is an upload over its size limit.
	ErrTooLarge = errors.New("too large")
	// ErrTooManyRequests is a caller over a rate limit (sign-in
	// throttling: 429).
	ErrTooManyRequests = errors.New("too many requests")
	// ErrRecordNotFound is a record looked up by its ID that does not
	// exist, where GitLab's API answers with its finder's RecordNotFound
	// rather than naming the resource (the packages API).
	ErrRecordNotFound = fmt.Errorf("record %w", ErrNotFound)
)

// Refusal is a refusal in GitLab's own words, for answers whose text
// clients and GitLab's docs rely on. Kind is the sentinel it is
// (ErrInvalid, ErrNotFound or ErrForbidden, which decides the status);
// Message is GitLab's text without the prefix its API helpers add
// (bad_request!, not_found!, forbidden!): for ErrNotFound, the name of
// what is missing. ErrConflict and ErrUnprocessable refusals are GitLab's
// service errors, answered with the message alone (409, 422).
type Refusal struct {
	Kind    error
	Message string
}

func (e *Refusal) Error() string { return e.Message }

func (e *Refusal) Unwrap() error { return e.Kind }

// Refuse returns a Refusal of kind with GitLab's message.
func Refuse(kind error, message string) error {
	return &Refusal{Kind: kind, Message: message}
}

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
