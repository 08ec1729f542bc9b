package api

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/model"
)

// Error is an answer other than success, with GitLab's body. Handlers
// return errors; writeError is the one place that turns them into HTTP.
type Error struct {
	Status int
	Body   map[string]any
}

func (e *Error) Error() string { return http.StatusText(e.Status) }

// errMessage is GitLab's usual {"message": "..."} error.
func errMessage(status int, msg string) *Error {
	return &Error{Status: status, Body: map[string]any{"message": msg}}
}

// errParam is the answer to a parameter that is missing or of the wrong
// type, in the shape GitLab's parameter validation uses.
func errParam(msg string) *Error {
	return &Error{Status: http.StatusBadRequest, Body: map[string]any{"error": msg}}
}

// errBadRequest is GitLab's bad_request! answer.
func errBadRequest(msg string) *Error {
	return errMessage(http.StatusBadRequest, "400 Bad request - "+msg)
}

// errNotFound is GitLab's "404 <Thing> Not Found".
func errNotFound(thing string) *Error {
	if thing == "" {
		return errMessage(http.StatusNotFound, "404 Not Found")
	}
	return errMessage(http.StatusNotFound, "404 "+thing+" Not Found")
}

// StatusClientClosed is nginx's 499, which GitLab logs too: the client
// went away before the answer. It is nobody's error, and no 5xx.
const StatusClientClosed = 499

var (
	errClientClosed = errMessage(StatusClientClosed, "499 Client Closed Request")
	errUnauthorized = errMessage(http.StatusUnauthorized, authz.MsgUnauthorized)
	errForbidden    = errMessage(http.StatusForbidden, authz.MsgForbidden)
	errTooLarge     = errMessage(http.StatusRequestEntityTooLarge, "413 Request Entity Too Large")
)

// denial renders a refused authz.Decision.
func denial(d authz.Decision) *Error {
	if d.Check == authz.CheckTokenScope {
		return &Error{Status: http.StatusForbidden, Body: map[string]any{
			"error":             "insufficient_scope",
			"error_description": "The request requires higher privileges than provided by the access token.",
			"scope":             model.ScopeAPI,
		}}
	}
	return errMessage(d.Status, d.Message)
}

// httpError maps any error to the status and body we answer with. Unknown
// errors are 500s whose detail goes to the log, never to the client.
func httpError(err error, log *slog.Logger) *Error {
	var e *Error
	var fail *auth.Failure
	var verr *model.ValidationError
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &e):
		return e
	case errors.As(err, &fail):
		if fail.Reason != "" {
			return &Error{Status: http.StatusUnauthorized, Body: map[string]any{"error": fail.Reason, "error_description": fail.Description}}
		}
		return errUnauthorized
	case errors.Is(err, auth.ErrAmbiguous), errors.Is(err, auth.ErrJobTokenNotAccepted):
		return errUnauthorized
	case errors.As(err, &verr):
		return &Error{Status: http.StatusBadRequest, Body: map[string]any{"message": verr.Fields}}
	case errors.As(err, &tooLarge):
		return errTooLarge
	case errors.Is(err, model.ErrNotFound):
		return errNotFound("")
	case errors.Is(err, model.ErrConflict):
		return errMessage(http.StatusConflict, "409 Conflict")
	case errors.Is(err, model.ErrForbidden):
		return errForbidden
	case errors.Is(err, model.ErrUnauthorized):
		return errUnauthorized
	case errors.Is(err, model.ErrInvalid):
		return errBadRequest(err.Error())
	}
	log.Error("request failed", "err", err)
	return errMessage(http.StatusInternalServerError, "500 Internal Server Error")
}

func writeError(w http.ResponseWriter, r *http.Request, err error, log *slog.Logger) {
	if r.Context().Err() != nil {
		// The client hung up: whatever failed (a canceled query, a body
		// cut short) failed because of that. No one reads this answer.
		err = errClientClosed
	}
	e := httpError(err, log)
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="ciwarden"`)
	}
	writeJSON(w, e.Status, e.Body)
}
