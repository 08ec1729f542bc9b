package runner

import (
	"bytes"
	"context"
	"hash/crc32"
	"sync"
	"time"
)

// maxPatch is the most one trace PATCH carries, as gitlab-runner.
const maxPatch = 1 << 20

// DefaultKeepAlive is how long a job's runner stays silent at most: with
// no log to send for this long it sends a keep-alive PUT, as gitlab-runner
// does every 30 s, so that the server does not take the job for abandoned
// (runner-protocol.md §11) and the runner learns of a cancel.
const DefaultKeepAlive = 30 * time.Second

// tracer collects a job's (already masked) output and sends it to the
// server: periodically, and completely before the final update. It
// watches the Job-Status the server answers with, to learn of a cancel.
type tracer struct {
	client    *Client
	jobID     int64
	token     string
	keepAlive time.Duration

	mu       sync.Mutex
	buf      bytes.Buffer // everything written
	sent     int64        // bytes the server has
	crc      uint32       // CRC32 of everything written
	status   string       // last Job-Status
	interval time.Duration
	heard    time.Time // the server's last answer about the job
	onStatus func(string)
}

func (t *tracer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	t.crc = crc32.Update(t.crc, crc32.IEEETable, p)
	return len(p), nil
}

// send pushes what the server does not have yet, resuming where a 416
// says the server's copy ends.
func (t *tracer) send(ctx context.Context) error {
	for {
		t.mu.Lock()
		all := t.buf.Bytes()
		from := t.sent
		if from >= int64(len(all)) {
			t.mu.Unlock()
			return nil
		}
		chunk := append([]byte{}, all[from:min(int64(len(all)), from+maxPatch)]...)
		t.mu.Unlock()
		res, err := t.client.PatchTrace(ctx, t.jobID, t.token, from, chunk)
		if err != nil {
			return err
		}
		t.answered()
		t.observe(res)
		switch res.Status {
		case 202:
			t.mu.Lock()
			t.sent = from + int64(len(chunk))
			t.mu.Unlock()
		case 416:
			t.mu.Lock()
			t.sent = min(res.RangeStart, int64(t.buf.Len()))
			t.mu.Unlock()
		default: // 403, 404: the job is gone; nothing more to send
			return nil
		}
	}
}

func (t *tracer) observe(res UpdateResult) {
	t.mu.Lock()
	if res.Interval > 0 {
		t.interval = res.Interval
	}
	status := res.JobStatus
	if res.Status == 403 && status == "" {
		status = "canceled"
	}
	changed := status != "" && status != t.status
	if status != "" {
		t.status = status
	}
	cb := t.onStatus
	t.mu.Unlock()
	if changed && cb != nil {
		cb(status)
	}
}

// answered records that the server answered a call about the job.
func (t *tracer) answered() {
	t.mu.Lock()
	t.heard = time.Now()
	t.mu.Unlock()
}

// rewind makes the next send start from the log's beginning: the server
// asked for the log again (412), and the 416 of that send says where its
// copy ends.
func (t *tracer) rewind() {
	t.mu.Lock()
	t.sent = 0
	t.mu.Unlock()
}

// loop sends every interval until ctx ends (every keepAlive when that is
// shorter), and a keep-alive whenever nothing was sent for keepAlive.
func (t *tracer) loop(ctx context.Context) {
	for {
		t.mu.Lock()
		d := min(t.interval, t.keepAlive)
		t.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-time.After(d):
		}
		_ = t.send(ctx)
		t.touch(ctx)
	}
}

// touch sends a keep-alive PUT if the server has heard nothing about the
// job for keepAlive.
func (t *tracer) touch(ctx context.Context) {
	t.mu.Lock()
	quiet := time.Since(t.heard) >= t.keepAlive
	t.mu.Unlock()
	if !quiet {
		return
	}
	res, err := t.client.UpdateJob(ctx, t.jobID, t.token, map[string]any{"state": "running"})
	if err != nil {
		return
	}
	t.answered()
	t.observe(res)
}

func (t *tracer) summary() (size int64, crc uint32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return int64(t.buf.Len()), t.crc
}
