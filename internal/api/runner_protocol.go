package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/ci"
	"github.com/ciwarden/ciwarden/internal/gate"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/runnerproto"
)

// The runner protocol (runner-protocol.md): registration, job requests
// with long polling, job updates and traces.

var errRunnerForbidden = errMessage(http.StatusForbidden, "403 Forbidden")

// presentedRunnerToken is the runner token the request carried (the gate
// authenticated it), which POST /runners/verify echoes.
func (c *Ctx) presentedRunnerToken() string {
	if t, _ := c.Params.String("token"); t != "" {
		return t
	}
	return c.R.Header.Get("Runner-Token")
}

// presentedJobToken is the job token a runner's call carried (the gate
// authenticated it): the server masks it in the job's log, with its
// encodings, even where the runner did not.
func (c *Ctx) presentedJobToken() string {
	if t := c.R.Header.Get("Job-Token"); t != "" {
		return t
	}
	t, _ := c.Params.String("token")
	return t
}

// registerRunner is legacy POST /runners with a registration token.
func (a *API) registerRunner(c *Ctx) error {
	r := &model.Runner{Type: model.InstanceRunner}
	c.runnerSettings(r)
	if err := c.Params.Err(); err != nil {
		return err
	}
	return a.createRunner(c, r)
}

// verifyRunner is POST /runners/verify: the glrt- flow's first call.
func (a *API) verifyRunner(c *Ctx) error {
	if err := a.touchRunner(c); err != nil {
		return err
	}
	writeJSON(c.W, http.StatusOK, map[string]any{"id": c.Principal.Runner.ID, "token": c.presentedRunnerToken(), "token_expires_at": nil})
	return nil
}

func (a *API) touchRunner(c *Ctx) error {
	sys, _ := c.Params.String("system_id")
	if len(sys) > 64 {
		sys = sys[:64]
	}
	now := c.now()
	if c.Principal.Runner.ContactedAt != nil && now.Sub(*c.Principal.Runner.ContactedAt) < time.Minute && c.R.URL.Path != Prefix+"/runners/verify" {
		return nil // throttled: a poll need not write
	}
	return a.Store.TouchRunner(c.Context(), c.Principal.Runner.ID, sys, now)
}

// unregisterRunner is DELETE /runners (legacy).
func (a *API) unregisterRunner(c *Ctx) error {
	if err := a.Store.DeleteRunner(c.Context(), c.Principal.Runner.ID); err != nil {
		return err
	}
	c.W.WriteHeader(http.StatusNoContent)
	return nil
}

// unregisterManager is DELETE /runners/managers: one installation leaves.
func (a *API) unregisterManager(c *Ctx) error {
	c.Params.Require("system_id")
	sys, _ := c.Params.String("system_id")
	if err := c.Params.Err(); err != nil {
		return err
	}
	if err := a.Store.DeleteRunnerManager(c.Context(), c.Principal.Runner.ID, sys); errors.Is(err, model.ErrNotFound) {
		return errNotFound("")
	} else if err != nil {
		return err
	}
	c.W.WriteHeader(http.StatusNoContent)
	return nil
}

// requestJob is POST /jobs/request: hand the runner a job, or hold it
// while nothing changed since its last_update, then answer 204.
func (a *API) requestJob(c *Ctx) error {
	if err := a.touchRunner(c); err != nil {
		return err
	}
	last, _ := c.Params.String("last_update")
	if c.Principal.Runner.Paused {
		c.W.Header().Set("X-GitLab-Last-Update", a.Queue.Version())
		c.W.WriteHeader(http.StatusNoContent)
		return nil
	}
	version := a.Queue.Wait(c.Context(), last, a.LongPoll)
	var payload *runnerproto.Payload
	if c.Context().Err() == nil { // a runner that hung up gets no job
		var err error
		if payload, err = a.CI.Assign(c.Context(), c.Principal.Runner, auth.MaskPrefixes); err != nil && c.Context().Err() == nil {
			return err
		}
	}
	if payload == nil {
		c.W.Header().Set("X-GitLab-Last-Update", version)
		c.W.WriteHeader(http.StatusNoContent)
		return nil
	}
	writeJSON(c.W, http.StatusCreated, payload)
	return nil
}

// updateJob is PUT /jobs/:id: a keep-alive while running, or the final
// state with the trace's checksum.
func (a *API) updateJob(c *Ctx) error {
	j := c.Job
	p := c.Params
	state, _ := p.String("state")
	reason, _ := p.String("failure_reason")
	var exit *int
	if v, ok := p.Int("exit_code"); ok {
		e := int(v)
		exit = &e
	}
	if err := p.Err(); err != nil {
		return err
	}
	switch state {
	case "", model.StatusRunning, model.StatusPending:
		c.W.WriteHeader(http.StatusOK)
		return nil
	case ci.StateSuccess, ci.StateFailed:
	default:
		return errParam("state does not have a valid value")
	}
	if !c.Principal.Live() {
		// A repeat of the final update, within the grace the decision
		// allowed: the runner retries until it sees 200.
		c.W.WriteHeader(http.StatusOK)
		return nil
	}
	if err := a.Traces.Flush(c.Context(), j, c.presentedJobToken()); err != nil {
		return err
	}
	a.checkTraceChecksum(c, j)
	done, err := a.CI.Finish(c.Context(), j.ID, state, reason, exit)
	if errors.Is(err, ci.ErrNotAllowed) {
		return errRunnerForbidden
	}
	if err != nil {
		return err
	}
	a.Traces.Scan(c.Context(), j, c.presentedJobToken())
	gate.SetJobStatus(c.W, done.Status)
	c.W.WriteHeader(http.StatusOK)
	return nil
}

// checkTraceChecksum compares the runner's size and CRC32 of what it sent
// with what arrived. GitLab only logs a mismatch; so do we.
func (a *API) checkTraceChecksum(c *Ctx, j *model.Job) {
	sum, _ := c.Params.String("checksum")
	var size int64 = -1
	output, _ := c.Params.Raw("output")
	if out, ok := output.(map[string]any); ok {
		if s, ok := out["checksum"].(string); ok && sum == "" {
			sum = s
		}
		if n, ok := out["bytesize"]; ok {
			fmt.Sscan(fmt.Sprint(n), &size)
		}
	}
	cur, err := a.Store.Job(c.Context(), j.ID)
	if err != nil {
		return
	}
	want := fmt.Sprintf("crc32:%08x", cur.TraceCRC)
	if (sum != "" && !strings.EqualFold(sum, want)) || (size >= 0 && size != cur.TraceSize) {
		a.Log.Warn("job trace checksum mismatch", "job_id", j.ID, "runner_size", size, "stored_size", cur.TraceSize)
	}
}

// currentJob is GET /job: the job token's own job. A personal access
// token has no job: 404.
func (a *API) currentJob(c *Ctx) error {
	j := c.Principal.Job
	if j == nil {
		return errNotFound("")
	}
	// Authentication read the job's project and pipeline (or the token
	// cache holds them): no further reads on this hot path.
	c.Project = c.Principal.Project
	writeJSON(c.W, http.StatusOK, a.jobJSON(c, j, c.Principal.Pipeline))
	return nil
}

// jobTrace is GET /projects/:id/jobs/:job_id/trace: the stored, masked log.
func (a *API) jobTrace(c *Ctx) error {
	j, err := c.pathJob()
	if err != nil {
		return err
	}
	data, err := a.Store.Trace(c.Context(), j.ID)
	if err != nil {
		return err
	}
	c.W.Header().Set("Content-Type", "text/plain; charset=utf-8")
	c.W.WriteHeader(http.StatusOK)
	c.W.Write(data)
	return nil
}
