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

// Sweeper is more periodic work the scheduler's sweep runs, each with the
// sweep's clock (the container registry's cleanup policies): one clock
// loop for the server's due work, not one per feature.
type Sweeper struct {
	Name string
	Run  func(ctx context.Context, now time.Time) error
}

// RunScheduler runs Sweep every interval until ctx ends.
func (s *Service) RunScheduler(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	listening := s.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.Sweep(ctx, listening)
		}
	}
}

// Sweep starts due delayed jobs, fires due pipeline schedules, runs the
// Sweepers, and fails overdue jobs, and those whose
// runner went silent (FailSilent). Runners cannot reach a server that is
// down: silence counts only once this process, listening since
// listening, has done so for as long as a runner may be silent, so that a
// restart does not fail every running job (a runner retries its calls
// until the server is back).
func (s *Service) Sweep(ctx context.Context, listening time.Time) {
	if err := s.EnqueueDue(ctx); err != nil && ctx.Err() == nil {
		s.Log.Error("scheduler", "err", err)
	}
	if err := s.RunDueSchedules(ctx, s.Now()); err != nil && ctx.Err() == nil {
		s.Log.Error("pipeline schedules", "err", err)
	}
	for _, w := range s.Sweepers {
		if err := w.Run(ctx, s.Now()); err != nil && ctx.Err() == nil {
			s.Log.Error(w.Name, "err", err)
		}
	}
	if err := s.FailOverdue(ctx); err != nil && ctx.Err() == nil {
		s.Log.Error("timeouts", "err", err)
	}
	if s.Now().Sub(listening) < s.contactTimeout() {
		return
	}
	if err := s.FailSilent(ctx); err != nil && ctx.Err() == nil {
		s.Log.Error("silent runners", "err", err)
	}
}
