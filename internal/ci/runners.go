package ci

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/ciwarden/ciwarden/internal/model"
)

// runnerTTL is how long JobRunner answers from memory. The runner is on
// every job response, GET /job (on every job's hot path) included, and
// what it shows changes rarely: its contact time is written at most once
// a minute, and online means "seen in the last two hours".
const runnerTTL = 5 * time.Second

type cachedRunner struct {
	r  *model.Runner // nil: deleted
	at time.Time
}

// JobRunner is the runner a job ran on, as job responses show it (GitLab's
// Job entity exposes its runner): nil when no runner took the job or the
// runner was deleted since. It may be up to runnerTTL old.
func (s *Service) JobRunner(ctx context.Context, runnerID int64) (*model.Runner, error) {
	if runnerID == 0 {
		return nil, nil
	}
	now := time.Now()
	s.runnersMu.Lock()
	c, ok := s.runners[runnerID]
	s.runnersMu.Unlock()
	if ok && now.Sub(c.at) < runnerTTL {
		return c.r, nil
	}
	r, err := s.Store.Runner(ctx, runnerID)
	if errors.Is(err, model.ErrNotFound) {
		r, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	s.runnersMu.Lock()
	if s.runners == nil || len(s.runners) >= 1024 {
		s.runners = map[int64]cachedRunner{} // start over rather than track age
	}
	s.runners[runnerID] = cachedRunner{r: r, at: now}
	s.runnersMu.Unlock()
	return r, nil
}

// RunnerVariables are the predefined variables of the runner that took a
// job (GitLab's Ci::Runner#predefined_variables): its ID, description and
// tags, the tags written as GitLab writes them, ["docker", "linux"].
func RunnerVariables(r *model.Runner) Vars {
	if r == nil {
		return nil
	}
	tags := make([]string, len(r.Tags))
	for i, t := range r.Tags {
		tags[i] = strconv.Quote(t)
	}
	var v Vars
	v.add("CI_RUNNER_ID", itoa(r.ID))
	v.add("CI_RUNNER_DESCRIPTION", r.Description)
	v.add("CI_RUNNER_TAGS", "["+strings.Join(tags, ", ")+"]")
	return v
}
