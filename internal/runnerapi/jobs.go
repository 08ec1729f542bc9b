package runnerapi

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/ci"
	"github.com/ciwarden/ciwarden/internal/gate"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/runnerproto"
)

// requestJob is POST /jobs/request: hand the runner a job, or hold it
// while nothing changed since its last_update, then answer 204.
func (a *API) requestJob(c *gate.Ctx) error {
	r := c.Principal.Runner
	sys, _ := c.Params.String("system_id")
	if err := a.Runners.Contact(c.Context(), r, sys, false); err != nil {
		return err
	}
	last, _ := c.Params.String("last_update")
	if r.Paused {
		c.W.Header().Set("X-GitLab-Last-Update", a.Queue.Version())
		c.W.WriteHeader(http.StatusNoContent)
		return nil
	}
	assign := func() (*runnerproto.Payload, error) {
		if c.Context().Err() != nil { // a runner that hung up gets no job
			return nil, nil
		}
		payload, err := a.CI.Assign(c.Context(), r, auth.MaskPrefixes)
		if c.Context().Err() != nil {
			return nil, nil
		}
		return payload, err
	}
	version := a.Queue.Wait(c.Context(), last, a.LongPoll)
	payload, err := assign()
	if err != nil {
		return err
	}
	if payload == nil && a.Queue.Foreign(last) {
		// The runner last heard from another replica (or an earlier
		// process): it was looked for a job at once, and nothing is
		// pending for it, so it is held on the version taken before that
		// look, as a runner current here is. Behind a balancer that
		// spreads requests, answering it 204 at once had every idle
		// runner poll without pause (TestQueueHoldsForeignVersion).
		version = a.Queue.Wait(c.Context(), version, a.LongPoll)
		if payload, err = assign(); err != nil {
			return err
		}
	}
	if payload == nil {
		c.W.Header().Set("X-GitLab-Last-Update", version)
		c.W.WriteHeader(http.StatusNoContent)
		return nil
	}
	gate.WriteJSON(c.W, http.StatusCreated, payload)
	return nil
}

// updateJob is PUT /jobs/:id: a keep-alive while running, or the final
// state with the log's checksum (runner-protocol.md §7).
func (a *API) updateJob(c *gate.Ctx) error {
	p := c.Params
	state, _ := p.String("state")
	u := ci.FinalUpdate{State: state, Size: -1, Token: presentedJobToken(c)}
	u.Reason, _ = p.String("failure_reason")
	if v, ok := p.Int("exit_code"); ok {
		e := int(v)
		u.ExitCode = &e
	}
	u.Checksum, _ = p.String("checksum")
	if err := p.Err(); err != nil {
		return err
	}
	output, _ := p.Raw("output")
	if out, ok := output.(map[string]any); ok {
		if s, ok := out["checksum"].(string); ok && u.Checksum == "" {
			u.Checksum = s
		}
		if n, ok := out["bytesize"]; ok {
			fmt.Sscan(fmt.Sprint(n), &u.Size)
		}
	}
	u.CanResend = advertises(p, "trace_reset")
	switch state {
	case "", model.StatusRunning, model.StatusPending:
		c.W.WriteHeader(http.StatusOK)
		return nil
	case ci.StateSuccess, ci.StateFailed:
	default:
		return gate.ParamError("state does not have a valid value")
	}
	if !c.Principal.Live() {
		// A repeat of the final update, within the grace the decision
		// allowed: the runner retries until it sees 200.
		c.W.WriteHeader(http.StatusOK)
		return nil
	}
	done, err := a.CI.Complete(c.Context(), c.Job, u)
	if errors.Is(err, ci.ErrNotAllowed) {
		return errForbidden
	}
	var resend *ci.ResendLogError
	if errors.As(err, &resend) {
		// gitlab-runner's "trace validation failed": it resends its log
		// from offset 0, the 416 that answers says where the server's copy
		// ends, and it sends the rest and this update again.
		gate.SetJobStatus(c.W, resend.Status)
		c.W.WriteHeader(http.StatusPreconditionFailed)
		return nil
	}
	if err != nil {
		return err
	}
	gate.SetJobStatus(c.W, done.Status)
	c.W.WriteHeader(http.StatusOK)
	return nil
}

// advertises reports whether the request's runner info lists feature as
// supported (info.features, as gitlab-runner sends it with its job
// requests and updates).
func advertises(p *gate.Params, feature string) bool {
	info, _ := p.Raw("info")
	m, _ := info.(map[string]any)
	features, _ := m["features"].(map[string]any)
	on, _ := features[feature].(bool)
	return on
}

// maxTraceChunk bounds one PATCH: the runner's chunk size (1 MiB), with
// room. The whole log's bound is the service's (ci.MaxTraceSize).
const maxTraceChunk = 1<<20 + 64<<10

// parseContentRange reads "start-end" (GitLab's runner form, no unit).
func parseContentRange(h string) (start int64, ok bool) {
	h = strings.TrimPrefix(strings.TrimSpace(h), "bytes ")
	a, _, found := strings.Cut(h, "-")
	if !found {
		return 0, false
	}
	n, err := strconv.ParseInt(a, 10, 64)
	return n, err == nil && n >= 0
}

// patchTrace is PATCH /jobs/:id/trace: append the runner's bytes at their
// offset, masked (ci.Traces). Range and 416 speak of the bytes the runner
// sent, so the runner's view stays consistent while the stored log is
// masked.
func (a *API) patchTrace(c *gate.Ctx) error {
	start, ok := parseContentRange(c.R.Header.Get("Content-Range"))
	if !ok {
		return gate.BadRequest("Content-Range is missing or invalid")
	}
	var body io.Reader = http.MaxBytesReader(c.W, c.R.Body, maxTraceChunk)
	size, taken, err := a.Traces.Append(c.Context(), c.Job, presentedJobToken(c), start, body)
	var ended *ci.JobEndedError
	if errors.As(err, &ended) {
		// The token died while the chunk was on its way (the job ended,
		// its user was blocked): nothing was stored.
		gate.SetJobStatus(c.W, ended.Status)
		return errForbidden
	}
	if err != nil {
		return err
	}
	c.W.Header().Set("Range", "0-"+strconv.FormatInt(size, 10))
	if !taken {
		c.W.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
		return nil
	}
	c.W.WriteHeader(http.StatusAccepted)
	return nil
}
