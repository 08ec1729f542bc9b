// Package runner is ciwarden's built-in runner: a client of the runner
// protocol (runner-protocol.md) with a shell executor. It runs in its own
// process (`ciwarden runner`) or inside the server (`serve --runners N`).
package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ciwarden/ciwarden/internal/runnerproto"
)

// Version is what the runner reports about itself.
const Version = "ciwarden-runner 1.0"

// Client speaks the runner protocol to one server.
type Client struct {
	BaseURL  string // the server's URL, without /api/v4
	Token    string // the runner's glrt- token
	SystemID string
	HTTP     *http.Client
}

// statusError is an answer that is not what the call expected.
type statusError struct {
	Status int
	Body   string
}

func (e *statusError) Error() string { return fmt.Sprintf("server answered %d: %s", e.Status, e.Body) }

// retryable: GitLab's runner retries these codes and network errors.
func retryable(err error) bool {
	var se *statusError
	if errors.As(err, &se) {
		switch se.Status {
		case 408, 429, 500, 502, 503, 504:
			return true
		}
		return false
	}
	return err != nil && !errors.Is(err, context.Canceled)
}

// do sends one request, retried with exponential backoff and jitter on
// network errors and 5xx, up to 5 attempts.
func (c *Client) do(ctx context.Context, method, path string, header http.Header, body []byte, want ...int) (*http.Response, []byte, error) {
	var lastErr error
	backoff := 100 * time.Millisecond
	for attempt := 0; attempt < 5; attempt++ {
		if attempt > 0 {
			d := backoff + time.Duration(rand.Int64N(int64(backoff)))
			select {
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			case <-time.After(d):
			}
			backoff = min(backoff*2, 60*time.Second)
		}
		req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.BaseURL, "/")+"/api/v4"+path, bytes.NewReader(body))
		if err != nil {
			return nil, nil, err
		}
		for k, v := range header {
			req.Header[k] = v
		}
		req.Header.Set("User-Agent", Version)
		resp, err := c.HTTP.Do(req)
		if err != nil {
			lastErr = err
			if ctx.Err() != nil {
				return nil, nil, ctx.Err()
			}
			continue
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		resp.Body.Close()
		if err != nil {
			lastErr = err
			continue
		}
		for _, w := range want {
			if resp.StatusCode == w {
				return resp, data, nil
			}
		}
		lastErr = &statusError{Status: resp.StatusCode, Body: strings.TrimSpace(string(data))}
		if !retryable(lastErr) {
			return resp, data, lastErr
		}
	}
	return nil, nil, lastErr
}

func jsonHeader() http.Header {
	return http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json"}}
}

// Verify checks the runner's token (POST /runners/verify).
func (c *Client) Verify(ctx context.Context) error {
	body, _ := json.Marshal(map[string]string{"token": c.Token, "system_id": c.SystemID})
	_, _, err := c.do(ctx, http.MethodPost, "/runners/verify", jsonHeader(), body, http.StatusOK)
	return err
}

// info is what the runner says about itself in its job requests and job
// updates, as gitlab-runner does: trace_reset promises to resend the log
// when the final update is answered 412.
func info() map[string]any {
	return map[string]any{"name": "ciwarden-runner", "version": Version, "executor": "shell", "shell": "bash",
		"features": map[string]bool{"masking": true, "trace_checksum": true, "trace_size": true, "trace_reset": true,
			"cancelable": true, "cancel_gracefully": true, "return_exit_code": true, "raw_variables": true, "multi_build_steps": true}}
}

// RequestJob asks for a job; nil means none (204), with the queue version
// to send next time.
func (c *Client) RequestJob(ctx context.Context, lastUpdate string) (*runnerproto.Payload, string, error) {
	body, _ := json.Marshal(map[string]any{"token": c.Token, "system_id": c.SystemID, "last_update": lastUpdate, "info": info()})
	h := jsonHeader()
	h.Set("Runner-Token", c.Token)
	resp, data, err := c.do(ctx, http.MethodPost, "/jobs/request", h, body, http.StatusCreated, http.StatusNoContent)
	if err != nil {
		return nil, lastUpdate, err
	}
	if v := resp.Header.Get("X-GitLab-Last-Update"); v != "" {
		lastUpdate = v
	}
	if resp.StatusCode == http.StatusNoContent {
		return nil, lastUpdate, nil
	}
	var p runnerproto.Payload
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, lastUpdate, fmt.Errorf("decode job: %w", err)
	}
	return &p, lastUpdate, nil
}

// UpdateResult is the server's answer about a job.
type UpdateResult struct {
	Status     int
	JobStatus  string // Job-Status: running, canceling, canceled, ...
	Interval   time.Duration
	RangeStart int64 // for 416: where the server's copy ends
}

func (c *Client) result(resp *http.Response) UpdateResult {
	r := UpdateResult{Status: resp.StatusCode, JobStatus: resp.Header.Get("Job-Status"), Interval: 3 * time.Second}
	if s, err := strconv.Atoi(resp.Header.Get("X-GitLab-Trace-Update-Interval")); err == nil && s > 0 {
		r.Interval = min(time.Duration(s)*time.Second, 15*time.Minute)
	}
	if rg := resp.Header.Get("Range"); rg != "" {
		if _, end, ok := strings.Cut(rg, "-"); ok {
			r.RangeStart, _ = strconv.ParseInt(end, 10, 64)
		}
	}
	return r
}

// UpdateJob sends PUT /jobs/:id.
func (c *Client) UpdateJob(ctx context.Context, jobID int64, token string, fields map[string]any) (UpdateResult, error) {
	fields["token"] = token
	fields["info"] = info()
	body, _ := json.Marshal(fields)
	h := jsonHeader()
	h.Set("Job-Token", token)
	resp, _, err := c.do(ctx, http.MethodPut, "/jobs/"+strconv.FormatInt(jobID, 10), h, body,
		http.StatusOK, http.StatusAccepted, http.StatusPreconditionFailed, http.StatusForbidden, http.StatusNotFound)
	if err != nil {
		return UpdateResult{}, err
	}
	return c.result(resp), nil
}

// PatchTrace sends bytes of the log starting at offset.
func (c *Client) PatchTrace(ctx context.Context, jobID int64, token string, offset int64, data []byte) (UpdateResult, error) {
	h := http.Header{"Content-Type": {"text/plain"}, "Job-Token": {token},
		"Content-Range": {fmt.Sprintf("%d-%d", offset, offset+int64(len(data))-1)}}
	resp, _, err := c.do(ctx, http.MethodPatch, "/jobs/"+strconv.FormatInt(jobID, 10)+"/trace?debug_trace=false", h, data,
		http.StatusAccepted, http.StatusRequestedRangeNotSatisfiable, http.StatusForbidden, http.StatusNotFound)
	if err != nil {
		return UpdateResult{}, err
	}
	return c.result(resp), nil
}
