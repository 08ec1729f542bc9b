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
	// Token is the job's token, masked in the log whatever the runner did.
	Token string
}

// Complete applies a runner's final update: what the log's masker still
// holds is stored, the runner's size and checksum of the log are compared
// with what arrived (a mismatch is logged, as GitLab does), the job
// finishes (a repeat changes nothing) and the stored log is scanned for
// the job's raw secrets.
func (s *Service) Complete(ctx context.Context, j *model.Job, u FinalUpdate) (*model.Job, error) {
	if err := s.Traces.Flush(ctx, j, u.Token); err != nil {
		return nil, err
	}
	s.checkLog(ctx, j.ID, u)
	done, err := s.Finish(ctx, j.ID, u.State, u.Reason, u.ExitCode)
	if err != nil {
		return nil, err
	}
	s.Traces.Scan(ctx, j, u.Token)
	return done, nil
}

// checkLog compares the runner's size and CRC32 of the log it sent with
// what arrived, and logs a mismatch.
func (s *Service) checkLog(ctx context.Context, jobID int64, u FinalUpdate) {
	cur, err := s.Store.Job(ctx, jobID)
	if err != nil {
		return
	}
	want := fmt.Sprintf("crc32:%08x", cur.TraceCRC)
	if (u.Checksum != "" && !strings.EqualFold(u.Checksum, want)) || (u.Size >= 0 && u.Size != cur.TraceSize) {
		s.Log.Warn("job trace checksum mismatch", "job_id", jobID, "runner_size", u.Size, "stored_size", cur.TraceSize)
	}
}

// Finish applies a runner's final update; on a job that has already ended
// it changes nothing and returns the job. A job being canceled ends
// canceled whatever the runner reports; a failure whose exit code is
// listed in allow_failure:exit_codes may fail; a failure that retry:
// covers queues a new attempt. From here on the job's token is dead: it is
// valid only while the job is running or canceling.
func (s *Service) Finish(ctx context.Context, jobID int64, state, reason string, exitCode *int) (*model.Job, error) {
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
