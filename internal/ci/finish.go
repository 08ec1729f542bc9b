package ci

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/store"
)

// Runner-reported final states.
const (
	StateSuccess = "success"
	StateFailed  = "failed"
)

// FinalUpdate is a runner's final PUT /jobs/:id (runner-protocol.md §7).
type FinalUpdate struct {
	State    string // StateSuccess or StateFailed
	Reason   string
	ExitCode *int
	// Checksum ("crc32:%08x") and Size (-1 when not sent) are the runner's
	// account of the log it sent.
	Checksum string
	Size     int64
	// CanResend: the runner advertised trace_reset, gitlab-runner's
	// promise to resend its log when the final update is answered 412.
	CanResend bool
	// Token is the job's token, masked in the log whatever the runner did.
	Token string
}

// MaxTraceResends bounds how many times one job's runner is asked to
// resend its log (runner-protocol.md §7): a runner that resends needs one
// round, one that cannot must still end its job.
const MaxTraceResends = 3

// ResendLogError answers a final update whose log the server holds only a
// part of: the job keeps running and the runner is asked (412) to resend
// what is missing, from where the server's copy ends (the 416 of its next
// PATCH says where), then to repeat its final update.
type ResendLogError struct {
	Status string // the job's status, for Job-Status
	Have   int64  // bytes of the runner's log the server holds
}

func (e *ResendLogError) Error() string {
	return fmt.Sprintf("the job log is incomplete (%d bytes stored): resend it", e.Have)
}
func (e *ResendLogError) Unwrap() error { return model.ErrConflict }

// Complete applies a runner's final update. The runner's size and CRC32 of
// the log it sent are compared with what arrived: when the server holds
// only a part of that log and the runner can resend, the job keeps running
// and a *ResendLogError asks for the rest (at most MaxTraceResends times).
// Otherwise what the log's masker still holds is stored, a log that still
// does not match gets a last line saying it is incomplete (GitLab only
// logs the mismatch; a job's reader is told here), the job finishes (a
// repeat changes nothing) and the stored log is scanned for the job's raw
// secrets.
func (s *Service) Complete(ctx context.Context, j *model.Job, u FinalUpdate) (*model.Job, error) {
	cur, err := s.Store.Job(ctx, j.ID)
	if err != nil {
		return nil, err
	}
	var note []byte
	if logMismatch(cur, u) {
		// Bytes can only be added at the end of the stored log: a resend
		// can mend a log that is short of the runner's, nothing else.
		if u.CanResend && (u.Size < 0 || cur.TraceSize < u.Size) {
			asked, err := s.Store.AskTraceResend(ctx, j.ID, MaxTraceResends)
			if err != nil {
				return nil, err
			}
			if asked {
				s.Log.Info("job log incomplete at the final update: asking the runner to resend", "job_id", j.ID,
					"runner_size", u.Size, "stored_size", cur.TraceSize)
				return nil, &ResendLogError{Status: cur.Status, Have: cur.TraceSize}
			}
		}
		s.Log.Warn("job log does not match the runner's checksum: stored as incomplete", "job_id", j.ID,
			"runner_size", u.Size, "stored_size", cur.TraceSize)
		note = incompleteNote(cur, u)
	}
	if err := s.Traces.Flush(ctx, j, u.Token); err != nil {
		return nil, err
	}
	done, err := s.finish(ctx, j.ID, u.State, u.Reason, u.ExitCode, note)
	if err != nil {
		return nil, err
	}
	s.Traces.Scan(ctx, j, u.Token)
	return done, nil
}

// logMismatch: the runner's checksum or size of the log it sent differs
// from those of the bytes that arrived.
func logMismatch(j *model.Job, u FinalUpdate) bool {
	return (u.Checksum != "" && !strings.EqualFold(u.Checksum, crcOf(j.TraceCRC))) || (u.Size >= 0 && u.Size != j.TraceSize)
}

func crcOf(sum uint32) string { return fmt.Sprintf("crc32:%08x", sum) }

// incompleteNote is the last line of a log that does not match the
// runner's account of it, so that whoever reads it knows.
func incompleteNote(j *model.Job, u FinalUpdate) []byte {
	runner := u.Checksum
	if u.Size >= 0 {
		runner = fmt.Sprintf("%d bytes (%s)", u.Size, u.Checksum)
	}
	return fmt.Appendf(nil, "\nWARNING: this job log is incomplete: the runner sent %s, the server received %d bytes (%s)\n",
		runner, j.TraceSize, crcOf(j.TraceCRC))
}

// Finish applies a runner's final update; on a job that has already ended
// it changes nothing and returns the job. A job being canceled ends
// canceled whatever the runner reports; a failure whose exit code is
// listed in allow_failure:exit_codes may fail; a failure that retry:
// covers queues a new attempt. From here on the job's token is dead: it is
// valid only while the job is running or canceling.
func (s *Service) Finish(ctx context.Context, jobID int64, state, reason string, exitCode *int) (*model.Job, error) {
	return s.finish(ctx, jobID, state, reason, exitCode, nil)
}

// finish is Finish that also appends note to the job's log when, and
// only when, this call ends the job.
func (s *Service) finish(ctx context.Context, jobID int64, state, reason string, exitCode *int, note []byte) (*model.Job, error) {
	var out *model.Job
	repeat := false
	err := s.Store.Tx(ctx, func(q *store.Queries) error {
		j, err := lockedJob(ctx, q, jobID)
		if err != nil {
			return err
		}
		if model.Complete(j.Status) {
			// The runner repeats its final update until it sees 200, and
			// may send it twice at once: the job has ended, the answer is
			// the same, nothing changes (issue 13 item 8).
			out, repeat = j, true
			return nil
		}
		spec := SpecOf(j)
		ev := EvSucceed
		switch {
		case j.Status == model.StatusCanceling:
			ev = EvCancel
		case state != StateSuccess:
			ev = EvDrop
		}
		now := s.Now()
		next := *j
		if ev == EvDrop {
			if reason == "" {
				reason = "script_failure"
			}
			next.FailureReason, next.ExitCode = reason, exitCode
			if exitCode != nil && slices.Contains(spec.AllowFailureExitCodes, *exitCode) {
				next.AllowFailure = true
			}
		}
		if _, err := s.apply(ctx, q, &next, ev, now); err != nil {
			return ErrNotAllowed
		}
		if note != nil {
			if err := q.AppendLogNote(ctx, jobID, note); err != nil {
				return err
			}
		}
		out = &next
		if ev == EvDrop && s.shouldRetry(ctx, q, &next, spec) {
			_, err := s.retry(ctx, q, &next, next.UserID)
			return err
		}
		return nil
	})
	if err != nil || repeat {
		return out, err
	}
	return s.processed(ctx, out)
}

// shouldRetry applies retry: max and when (default: any failure).
func (s *Service) shouldRetry(ctx context.Context, q *store.Queries, j *model.Job, spec Spec) bool {
	if spec.Retry.Max <= 0 || j.AllowFailure {
		return false
	}
	if len(spec.Retry.When) > 0 && !slices.Contains(spec.Retry.When, "always") && !slices.Contains(spec.Retry.When, j.FailureReason) {
		return false
	}
	if len(spec.Retry.ExitCodes) > 0 && (j.ExitCode == nil || !slices.Contains(spec.Retry.ExitCodes, *j.ExitCode)) {
		return false
	}
	all, err := q.PipelineJobs(ctx, j.PipelineID, true)
	if err != nil {
		return false
	}
	attempts := 0
	for _, o := range all {
		if o.Name == j.Name {
			attempts++
		}
	}
	return attempts <= spec.Retry.Max
}

// FailureUserBlocked is GitLab's failure reason for the jobs of a user who
// was blocked.
const FailureUserBlocked = "user_blocked"

// DropJobsOfUser ends the unfinished work of a user who was blocked, as
// GitLab drops a blocked user's pipelines: every job of theirs that has
// not finished fails with user_blocked, so its token is dead and its
// runner learns it at its next call (Job-Status: failed, 403).
func (s *Service) DropJobsOfUser(ctx context.Context, userID int64) error {
	// A job that finishes meanwhile leaves the list; the bound only guards
	// against a store that keeps answering the same rows.
	for range 1000 {
		jobs, err := s.Store.ActiveJobsOfUser(ctx, userID, 100)
		if err != nil || len(jobs) == 0 {
			return err
		}
		for _, j := range jobs {
			_, err := s.UpdateJob(ctx, j.ID, EvDrop, func(j *model.Job) { j.FailureReason = FailureUserBlocked })
			if err != nil && !errors.Is(err, ErrNotAllowed) {
				return err
			}
		}
	}
	return fmt.Errorf("ci: jobs of user %d keep appearing while they are dropped", userID)
}

// FailOverdue fails running jobs whose timeout has passed: a runner that
// vanished leaves a failed job and, with it, a dead token.
func (s *Service) FailOverdue(ctx context.Context) error {
	jobs, err := s.Store.OverdueJobs(ctx, s.Now(), 100)
	if err != nil {
		return err
	}
	for _, j := range jobs {
		if _, err := s.UpdateJob(ctx, j.ID, EvDrop, func(j *model.Job) { j.FailureReason = "job_execution_timeout" }); err != nil {
			s.Log.Warn("fail overdue job", "job_id", j.ID, "err", err)
		}
	}
	return nil
}

// FailRunnerJobs ends every job a runner holds as GitLab ends a job whose
// runner broke: failed with runner_system_failure (a job being canceled
// ends canceled, and retry: applies, as for the runner's own final
// update), so that their tokens die at once. It is for a runner known to
// be dead: the server's own built-in runner after the server died.
func (s *Service) FailRunnerJobs(ctx context.Context, runnerID int64) (int, error) {
	// A runner holds at most its concurrency; far fewer than this.
	jobs, err := s.Store.RunnerJobs(ctx, runnerID, 1000)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, j := range jobs {
		if _, err := s.Finish(ctx, j.ID, StateFailed, FailureRunnerSystem, nil); err != nil {
			s.Log.Warn("fail a job of a dead runner", "job_id", j.ID, "err", err)
			continue
		}
		n++
	}
	return n, nil
}
