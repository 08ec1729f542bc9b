package store

import (
	"context"
	"time"

	"github.com/ciwarden/ciwarden/internal/model"
)

// TouchJob records that a running (or canceling) job's runner called
// about it at at. The caller throttles: this is a write.
func (q *Queries) TouchJob(ctx context.Context, jobID int64, at time.Time) error {
	// The job row changed: a cached copy (the job-token cache) is dropped,
	// so the next request sees this contact and need not write again.
	defer q.changed(jobChange, jobID)
	_, err := q.exec(ctx, "UPDATE jobs SET contacted_at = ? WHERE id = ? AND status IN (?, ?)",
		micros(at), jobID, model.StatusRunning, model.StatusCanceling)
	return err
}

// SilentJobs lists up to limit running (or canceling) jobs whose runner
// has not called about them since before: its last contact, or the job's
// start when it never called.
func (q *Queries) SilentJobs(ctx context.Context, before time.Time, limit int) ([]*model.Job, error) {
	rows, err := q.query(ctx, "SELECT "+jobCols+" FROM jobs WHERE status IN (?, ?) AND COALESCE(contacted_at, started_at) < ? ORDER BY id LIMIT ?",
		model.StatusRunning, model.StatusCanceling, micros(before), limit)
	if err != nil {
		return nil, err
	}
	return collect(rows, q.scanJob)
}

// AskTraceResend counts one more request to the job's runner to resend
// its log, unless max were made already or the job no longer runs; it
// reports whether it counted (a compare-and-set, so concurrent final
// updates share the bound).
func (q *Queries) AskTraceResend(ctx context.Context, jobID int64, max int) (bool, error) {
	res, err := q.exec(ctx, "UPDATE jobs SET trace_resends = trace_resends + 1 WHERE id = ? AND trace_resends < ? AND status IN (?, ?)",
		jobID, max, model.StatusRunning, model.StatusCanceling)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// AppendLogNote adds the server's own text (not the runner's bytes: the
// log's size and checksum in runner bytes stay as they are) at the end of
// a job's stored log.
func (q *Queries) AppendLogNote(ctx context.Context, jobID int64, text []byte) error {
	defer q.changed(jobChange, jobID)
	return q.appendChunk(ctx, jobID, text)
}
