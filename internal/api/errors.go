package api

import "github.com/ciwarden/ciwarden/internal/gate"

// Errors are the gate's: handlers return them and the gate writes them,
// in one place (gate.writeError).
type Error = gate.Error

var (
	errMessage    = gate.Message
	errParam      = gate.ParamError
	errBadRequest = gate.BadRequest
	errNotFound   = gate.NotFound
	writeJSON     = gate.WriteJSON

	errForbidden = gate.Forbidden
	errTooLarge  = gate.TooLarge
	errNoRoute   = gate.NoRoute
)
