package ci

import (
	"context"
	"errors"
	"time"
)

// EnqueueDue starts delayed jobs whose start_in has passed. Another
// replica may start the same job first; the compare-and-set in UpdateJob
// makes that a no-op here.
func (s *Service) EnqueueDue(ctx context.Context) error {
	jobs, err := s.Store.DueScheduledJobs(ctx, s.Now(), 100)
	if err != nil {
		return err
	}
	for _, j := range jobs {
		if _, err := s.UpdateJob(ctx, j.ID, EvEnqueue, nil); err != nil && !errors.Is(err, ErrNotAllowed) {
			return err
		}
	}
	return nil
}

// RunScheduler starts due delayed jobs and fails overdue ones every
// interval until ctx ends.
func (s *Service) RunScheduler(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.EnqueueDue(ctx); err != nil && ctx.Err() == nil {
				s.Log.Error("scheduler", "err", err)
			}
			if err := s.FailOverdue(ctx); err != nil && ctx.Err() == nil {
				s.Log.Error("timeouts", "err", err)
			}
		}
	}
}
