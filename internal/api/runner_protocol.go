package api

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/ci"
	"github.com/ciwarden/ciwarden/internal/model"
)

// The runner protocol (runner-protocol.md): registration, job requests
// with long polling, job updates and traces.

// finalCallGrace is how long after a job ended its own runner may still
// repeat its final update (the runner retries it); never for the API.
const finalCallGrace = 5 * time.Minute

// traceUpdateInterval is what the runner is told to wait between trace
// PATCHes (seconds).
const traceUpdateInterval = "3"

// MaskPrefixes are the token prefixes runners must mask in job logs.
var MaskPrefixes = []string{auth.JobTokenPrefix, auth.PATPrefix, auth.RunnerTokenPrefix}

var errRunnerForbidden = errMessage(http.StatusForbidden, "403 Forbidden")

// runnerToken is the token in the body or the RUNNER-TOKEN header.
func (c *Ctx) runnerToken() string {
	if t, _ := c.Params.String("token"); t != "" {
		return t
	}
	return c.R.Header.Get("Runner-Token")
}

func (c *Ctx) authenticateRunner() error {
	tok := c.runnerToken()
	if tok == "" {
		return errRunnerForbidden
	}
	r, err := c.API.Store.RunnerByDigest(c.Context(), auth.Digest(tok))
	if errors.Is(err, model.ErrNotFound) {
		return errRunnerForbidden
	}
	c.Runner = r
	return err
}

// authenticateRunnerJob checks that the job token belongs to {job_id}.
// GitLab answers a mismatch 403; so do we, whatever the cause.
func (c *Ctx) authenticateRunnerJob() error {
	id, err := c.pathInt("job_id")
	if err != nil {
		return err
	}
	tok := c.runnerJobToken("token")
	if tok == "" {
		return errRunnerForbidden
	}
	j, err := c.API.Store.JobByTokenDigest(c.Context(), auth.Digest(tok))
	if errors.Is(err, model.ErrNotFound) || (err == nil && j.ID != id) {
		return errRunnerForbidden
	}
	if err != nil {
		return err
	}
	// A project being deleted takes its jobs' tokens with it, for the
	// runner's own calls too.
	if _, err := c.API.findProject(c.Context(), itoa(j.ProjectID)); errors.Is(err, model.ErrNotFound) {
		c.jobStatusHeaders(j.Status)
		return errMessage(http.StatusForbidden, "403 Forbidden - Project has been deleted!")
	} else if err != nil {
		return err
	}
	c.RunnerJob = j
	return nil
}

// runnerJobToken is the job token a runner's call carries: the JOB-TOKEN
// header, else the first of the named parameters that is set.
func (c *Ctx) runnerJobToken(params ...string) string {
	tok := c.R.Header.Get("Job-Token")
	for _, name := range params {
		if tok != "" {
			break
		}
		tok, _ = c.Params.String(name)
	}
	return tok
}

// registerRunner is legacy POST /runners with a registration token.
func (a *API) registerRunner(c *Ctx) error {
	tok, _ := c.Params.String("token")
	if a.RunnerRegistrationToken == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(a.RunnerRegistrationToken)) != 1 {
		return errMessage(http.StatusForbidden, "403 Forbidden")
	}
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
	writeJSON(c.W, http.StatusOK, map[string]any{"id": c.Runner.ID, "token": c.runnerToken(), "token_expires_at": nil})
	return nil
}

func (a *API) touchRunner(c *Ctx) error {
	sys, _ := c.Params.String("system_id")
	if len(sys) > 64 {
		sys = sys[:64]
	}
	now := c.now()
	if c.Runner.ContactedAt != nil && now.Sub(*c.Runner.ContactedAt) < time.Minute && c.R.URL.Path != Prefix+"/runners/verify" {
		return nil // throttled: a poll need not write
	}
	return a.Store.TouchRunner(c.Context(), c.Runner.ID, sys, now)
}

// unregisterRunner is DELETE /runners (legacy).
func (a *API) unregisterRunner(c *Ctx) error {
	if err := a.Store.DeleteRunner(c.Context(), c.Runner.ID); err != nil {
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
	if err := a.Store.DeleteRunnerManager(c.Context(), c.Runner.ID, sys); errors.Is(err, model.ErrNotFound) {
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
	if c.Runner.Paused {
		c.W.Header().Set("X-GitLab-Last-Update", a.Queue.Version())
		c.W.WriteHeader(http.StatusNoContent)
		return nil
	}
	version := a.Queue.Wait(c.Context(), last, a.LongPoll)
	var payload *ci.Payload
	if c.Context().Err() == nil { // a runner that hung up gets no job
		var err error
		if payload, err = a.CI.Assign(c.Context(), c.Runner, MaskPrefixes); err != nil && c.Context().Err() == nil {
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

// jobStatusHeaders are on every answer about a job.
func (c *Ctx) jobStatusHeaders(status string) {
	c.W.Header().Set("Job-Status", status)
	c.W.Header().Set("X-GitLab-Trace-Update-Interval", traceUpdateInterval)
}

// updateJob is PUT /jobs/:id: a keep-alive while running, or the final
// state with the trace's checksum.
func (a *API) updateJob(c *Ctx) error {
	j := c.RunnerJob
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
	c.jobStatusHeaders(j.Status)
	switch state {
	case "", model.StatusRunning, model.StatusPending:
		if !auth.JobAlive(j) {
			return errRunnerForbidden
		}
		c.W.WriteHeader(http.StatusOK)
		return nil
	case ci.StateSuccess, ci.StateFailed:
	default:
		return errParam("state does not have a valid value")
	}
	if !auth.JobAlive(j) {
		// The runner repeats its final update until it sees 200.
		if j.FinishedAt != nil && c.now().Sub(*j.FinishedAt) < finalCallGrace {
			c.W.WriteHeader(http.StatusOK)
			return nil
		}
		return errRunnerForbidden
	}
	if err := a.Traces.Flush(c.Context(), j, c.runnerJobToken("token")); err != nil {
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
	a.Traces.Scan(c.Context(), j, c.runnerJobToken("token"))
	c.jobStatusHeaders(done.Status)
	c.W.WriteHeader(http.StatusOK)
	return nil
}

// checkTraceChecksum compares the runner's size and CRC32 of what it sent
// with what arrived. GitLab only logs a mismatch; so do we.
func (a *API) checkTraceChecksum(c *Ctx, j *model.Job) {
	sum, _ := c.Params.String("checksum")
	var size int64 = -1
	if out, ok := c.Params.json["output"].(map[string]any); ok {
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
