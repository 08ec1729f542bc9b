package gate

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/model"
)

// Error is an answer other than success, with GitLab's body. Handlers and
// the gate return errors; writeError is the one place that turns them into
// HTTP, per surface (render.go).
type Error struct {
	Status int
	Body   any
}

func (e *Error) Error() string { return http.StatusText(e.Status) }

// Message is GitLab's usual {"message": "..."} error.
func Message(status int, msg string) *Error {
	return &Error{Status: status, Body: map[string]any{"message": msg}}
}

// ParamError is the answer to a parameter that is missing or of the wrong
// type, in the shape GitLab's parameter validation uses.
func ParamError(msg string) *Error {
	return &Error{Status: http.StatusBadRequest, Body: map[string]any{"error": msg}}
}

// BadRequest is GitLab's bad_request! answer.
func BadRequest(msg string) *Error {
	return Message(http.StatusBadRequest, "400 Bad request - "+msg)
}

// NotFound is GitLab's "404 <Thing> Not Found".
func NotFound(thing string) *Error {
	if thing == "" {
		return Message(http.StatusNotFound, "404 Not Found")
	}
	return Message(http.StatusNotFound, "404 "+thing+" Not Found")
}

// StatusClientClosed is nginx's 499, which GitLab logs too: the client
// went away before the answer. It is nobody's error, and no 5xx.
const StatusClientClosed = 499

// Common answers.
var (
	ClientClosed = Message(StatusClientClosed, "499 Client Closed Request")
	Unauthorized = Message(http.StatusUnauthorized, authz.MsgUnauthorized)
	Forbidden    = Message(http.StatusForbidden, authz.MsgForbidden)
	TooLarge     = Message(http.StatusRequestEntityTooLarge, "413 Request Entity Too Large")
	// NoRoute is the answer for a path no route names (GitLab's
	// {"error": "404 Not Found"}).
	NoRoute = &Error{Status: http.StatusNotFound, Body: map[string]any{"error": "404 Not Found"}}
)

// Denied is a refusal by authz.Decide, rendered by each surface in its own
// words (render.go).
type Denied struct {
	Decision authz.Decision
}

func (d *Denied) Error() string { return "denied by " + d.Decision.Check + ": " + d.Decision.Message }

// restError maps any error to the REST answer. Unknown errors are 500s
// whose detail goes to the log, never to the client.
func restError(err error, log *slog.Logger) *Error {
	var e *Error
	var denied *Denied
	var fail *auth.Failure
	var verr *model.ValidationError
	var refusal *model.Refusal
	var tooLarge *http.MaxBytesError
	var locked *model.StateLockedError
	switch {
	case errors.As(err, &e):
		return e
	case errors.As(err, &locked) && locked.Lock != nil:
		// The holder's lock information as its client sent it (JSON,
		// checked when taken): OpenTofu shows who holds the lock.
		return &Error{Status: http.StatusConflict, Body: json.RawMessage(locked.Lock.Info)}
	case errors.As(err, &denied):
		return denial(denied.Decision)
	case errors.As(err, &refusal) && refusal.Kind == model.ErrInvalid:
		return BadRequest(refusal.Message)
	case errors.As(err, &refusal) && refusal.Kind == model.ErrNotFound:
		return NotFound(refusal.Message)
	case errors.As(err, &refusal) && refusal.Kind == model.ErrForbidden:
		return Message(http.StatusForbidden, "403 Forbidden - "+refusal.Message)
	case errors.As(err, &refusal) && refusal.Kind == model.ErrConflict:
		return Message(http.StatusConflict, refusal.Message)
	case errors.As(err, &refusal) && refusal.Kind == model.ErrUnprocessable:
		return Message(http.StatusUnprocessableEntity, refusal.Message)
	case errors.As(err, &refusal) && refusal.Kind == model.ErrUnauthorized:
		return Message(http.StatusUnauthorized, refusal.Message)
	case errors.As(err, &refusal) && refusal.Kind == model.ErrTooManyRequests:
		return Message(http.StatusTooManyRequests, refusal.Message)
	case errors.As(err, &fail):
		if fail.Reason != "" {
			return &Error{Status: http.StatusUnauthorized, Body: map[string]any{"error": fail.Reason, "error_description": fail.Description}}
		}
		return Unauthorized
	case errors.Is(err, auth.ErrAmbiguous), errors.Is(err, auth.ErrJobTokenNotAccepted):
		return Unauthorized
	case errors.Is(err, auth.ErrUnknownTrigger):
		return NotFound("")
	case errors.As(err, &verr):
		return &Error{Status: http.StatusBadRequest, Body: map[string]any{"message": verr.Fields}}
	case errors.As(err, &tooLarge), errors.Is(err, model.ErrTooLarge):
		return TooLarge
	case errors.Is(err, model.ErrRecordNotFound):
		// GitLab's rescue of RecordNotFound, lower-case "found".
		return Message(http.StatusNotFound, "404 Not found")
	case errors.Is(err, model.ErrNotFound):
		return NotFound("")
	case errors.Is(err, model.ErrConflict):
		return Message(http.StatusConflict, "409 Conflict")
	case errors.Is(err, model.ErrForbidden):
		return Forbidden
	case errors.Is(err, model.ErrUnauthorized):
		return Unauthorized
	case errors.Is(err, model.ErrInvalid):
		return BadRequest(err.Error())
	}
	log.Error("request failed", "err", err)
	return Message(http.StatusInternalServerError, "500 Internal Server Error")
}

// denial is a refused decision on the REST API: GitLab's message, or for
// a credential without the api scope, its OAuth-style body.
func denial(d authz.Decision) *Error {
	if d.Check == authz.CheckTokenScope {
		return &Error{Status: http.StatusForbidden, Body: map[string]any{
			"error":             "insufficient_scope",
			"error_description": "The request requires higher privileges than provided by the access token.",
			"scope":             model.ScopeAPI,
		}}
	}
	if d.Status == http.StatusBadRequest {
		// A refusal in GitLab's words of a validation error of base
		// (authz.Action.RoleInvalid).
		return &Error{Status: d.Status, Body: map[string]any{"message": map[string][]string{"base": {d.Message}}}}
	}
	return Message(d.Status, d.Message)
}

// WriteJSON is the one JSON writer.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if v == nil {
		return
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
