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

var (
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
	var refusal *model.Refusal
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &e):
		return e
	case errors.As(err, &refusal) && refusal.Kind == model.ErrInvalid:
		return errBadRequest(refusal.Message)
	case errors.As(err, &refusal) && refusal.Kind == model.ErrNotFound:
		return errNotFound(refusal.Message)
	case errors.As(err, &refusal) && refusal.Kind == model.ErrForbidden:
		return errMessage(http.StatusForbidden, "403 Forbidden - "+refusal.Message)
	case errors.As(err, &fail):
		if fail.Reason != "" {
			return &Error{Status: http.StatusUnauthorized, Body: map[string]any{"error": fail.Reason, "error_description": fail.Description}}
		}
		return errUnauthorized
	case errors.Is(err, auth.ErrAmbiguous), errors.Is(err, auth.ErrJobTokenNotAccepted):
		return errUnauthorized
	case errors.As(err, &verr):
		return &Error{Status: http.StatusBadRequest, Body: map[string]any{"message": verr.Fields}}
	case errors.As(err, &tooLarge), errors.Is(err, model.ErrTooLarge):
		return errTooLarge
	case errors.Is(err, model.ErrRecordNotFound):
		// GitLab's rescue of RecordNotFound, lower-case "found".
		return errMessage(http.StatusNotFound, "404 Not found")
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

func writeError(w http.ResponseWriter, err error, log *slog.Logger) {
	e := httpError(err, log)
	switch e.Status {
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="ciwarden"`)
	case http.StatusRequestEntityTooLarge:
		// The rest of the upload is not read: close the connection rather
		// than drain what the client is still sending.
		w.Header().Set("Connection", "close")
	}
	writeJSON(w, e.Status, e.Body)
}
