// Package runnerapi serves the runner protocol (docs/runner-protocol.md)
// and the REST endpoints that manage runners. Its endpoints are rows of
// the one route table (routes.go), decided by the gate like every other
// before a handler here runs: a runner's own calls by its token (check
// "runner"), calls about a job by that job's token (checks "own_job" and
// "liveness"), the dependency download by the downloading job's token as
// its user. Every refusal on the runner protocol is a 403, with the job's
// status in Job-Status.
package runnerapi

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/ciwarden/ciwarden/internal/artifacts"
	"github.com/ciwarden/ciwarden/internal/ci"
	"github.com/ciwarden/ciwarden/internal/gate"
	"github.com/ciwarden/ciwarden/internal/runners"
)

// API holds what the handlers need.
type API struct {
	Runners   *runners.Service
	CI        *ci.Service
	Queue     *ci.Queue
	Traces    *ci.Traces
	Artifacts *artifacts.Service
	// LongPoll is how long POST /jobs/request holds a runner that has
	// seen the current queue.
	LongPoll time.Duration
	Now      func() time.Time
	Log      *slog.Logger
}

// errForbidden is the runner protocol's refusal.
var errForbidden = gate.Message(http.StatusForbidden, "403 Forbidden")

// presentedRunnerToken is the runner token the request carried (the gate
// authenticated it), which POST /runners/verify echoes.
func presentedRunnerToken(c *gate.Ctx) string {
	if t, _ := c.Params.String("token"); t != "" {
		return t
	}
	return c.R.Header.Get("Runner-Token")
}

// presentedJobToken is the job token a runner's call carried (the gate
// authenticated it): the server masks it in the job's log, with its
// encodings, even where the runner did not.
func presentedJobToken(c *gate.Ctx) string {
	if t := c.R.Header.Get("Job-Token"); t != "" {
		return t
	}
	t, _ := c.Params.String("token")
	return t
}

// heard wraps the handler of a call made with a live job's token: the call
// is word from that job's runner (ci.Service.Heard), which keeps the job
// from being failed as abandoned (runner-protocol.md §11). Recording it
// is not worth failing the call for.
func (a *API) heard(h func(*gate.Ctx) error) func(*gate.Ctx) error {
	return func(c *gate.Ctx) error {
		if j := c.Principal.Job; j != nil && c.Principal.Live() {
			if err := a.CI.Heard(c.Context(), j); err != nil && c.Context().Err() == nil {
				a.Log.Warn("recording a runner's contact failed", "job_id", j.ID, "err", err)
			}
		}
		return h(c)
	}
}
