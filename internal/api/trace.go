package api

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/ciwarden/ciwarden/internal/ci"
	"github.com/ciwarden/ciwarden/internal/gate"
)

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
func (a *API) patchTrace(c *Ctx) error {
	j := c.Job
	start, ok := parseContentRange(c.R.Header.Get("Content-Range"))
	if !ok {
		return errBadRequest("Content-Range is missing or invalid")
	}
	body := http.MaxBytesReader(c.W, c.R.Body, maxTraceChunk)
	size, taken, err := a.Traces.Append(c.Context(), j, c.presentedJobToken(), start, body)
	var ended *ci.JobEndedError
	if errors.As(err, &ended) {
		// The token died while the chunk was on its way (the job ended,
		// its user was blocked): nothing was stored.
		gate.SetJobStatus(c.W, ended.Status)
		return errRunnerForbidden
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
