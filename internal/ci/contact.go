package ci

import (
	"context"
	"time"

	"github.com/ciwarden/ciwarden/internal/model"
)

// FailureRunnerSystem is GitLab's failure reason for a job whose runner
// broke down.
const FailureRunnerSystem = "runner_system_failure"

// DefaultRunnerContactTimeout is how long a running job's runner may be
// silent before the job fails: ten times gitlab-runner's 30 s keep-alive,
// so that a runner that lost a few calls is not mistaken for a dead one.
const DefaultRunnerContactTimeout = 5 * time.Minute

// contactEvery is the most often a job's contact is written: a runner
// calls every few seconds, and only silence much longer than this
// matters.
func (s *Service) contactEvery() time.Duration {
	return min(time.Minute, s.contactTimeout()/5)
}

func (s *Service) contactTimeout() time.Duration {
	if s.RunnerContactTimeout > 0 {
		return s.RunnerContactTimeout
	}
	return DefaultRunnerContactTimeout
}

// Heard records that j's runner called about it (a keep-alive, a log
// chunk, an upload, a dependency download), at most once every
// contactEvery: j is the job as the request loaded it, whose last recorded
// contact says whether this one need be written.
func (s *Service) Heard(ctx context.Context, j *model.Job) error {
	if j.Status != model.StatusRunning && j.Status != model.StatusCanceling {
		return nil
	}
	now := s.Now()
	last := j.ContactedAt
	if last == nil {
		last = j.StartedAt
	}
	if last != nil && now.Sub(*last) < s.contactEvery() {
		return nil
	}
	return s.Store.TouchJob(ctx, j.ID, now)
}

// FailSilent fails the running jobs whose runner has not called about
// them for the contact timeout, as a runner_system_failure (a job being
// canceled ends canceled; retry: applies), so that their tokens die: the
// runner vanished (runner-protocol.md §11).
func (s *Service) FailSilent(ctx context.Context) error {
	jobs, err := s.Store.SilentJobs(ctx, s.Now().Add(-s.contactTimeout()), 100)
	if err != nil {
		return err
	}
	for _, j := range jobs {
		s.Log.Warn("the job's runner has not called for too long: failing the job", "job_id", j.ID,
			"runner_id", j.RunnerID, "silent_for", s.contactTimeout().String())
		if _, err := s.Finish(ctx, j.ID, StateFailed, FailureRunnerSystem, nil); err != nil {
			s.Log.Warn("fail a job whose runner is silent", "job_id", j.ID, "err", err)
		}
	}
	return nil
}
