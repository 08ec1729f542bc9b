package ci

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/ciwarden/ciwarden/internal/access"
	"github.com/ciwarden/ciwarden/internal/blob"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/store"
)

// Service creates and drives pipelines.
type Service struct {
	Store       *store.Store
	Repos       Repos
	Now         func() time.Time
	Log         *slog.Logger
	ExternalURL string
	// RegistryURL: the container registry's URL when not ExternalURL
	// (CI_REGISTRY).
	RegistryURL string
	// Blobs holds job artifacts, deleted with their job (Erase); nil in
	// tests that store none.
	Blobs blob.Store
	// Access decides needs:project's cross-project reads as the job
	// token's; nil decides them without an authentication log.
	Access *access.Authorizer
	// OnPending is told when jobs became pending, after the transaction
	// that queued them committed (the runner queue listens).
	OnPending func(projectID int64)
	// Sweepers are run by every scheduler sweep (Sweep).
	Sweepers []Sweeper
	// Traces keeps the jobs' logs (Complete flushes and scans them).
	Traces *Traces
	// ArtifactFile opens file name of job j's artifacts archive
	// (model.ErrNotFound when there is none), for dynamic child
	// pipelines; nil refuses them.
	ArtifactFile func(ctx context.Context, j *model.Job, name string) (io.ReadCloser, error)
	// RunnerContactTimeout is how long a running job's runner may go
	// without calling about it before the job fails (FailSilent); 0 means
	// DefaultRunnerContactTimeout.
	RunnerContactTimeout time.Duration
	// Variables are the CI/CD variables of projects, groups and the
	// instance (internal/variables); nil gives jobs none.
	Variables VariableSource

	commitsMu sync.Mutex
	commits   map[string]*CommitInfo // project:sha -> commit metadata

	runnersMu sync.Mutex
	runners   map[int64]cachedRunner // JobRunner's
}

// ready reports whether a status of a job's predecessors is final, so that
// the job can be decided.
func ready(composite string) bool {
	switch composite {
	case model.StatusSuccess, model.StatusFailed, model.StatusCanceled, model.StatusSkipped:
		return true
	}
	return false
}

// predecessors are what a job waits for: its needs (DAG), or every job of
// an earlier stage.
func predecessors(j *model.Job, jobs []*model.Job) []*model.Job {
	var out []*model.Job
	if j.DAG {
		want := map[string]bool{}
		for _, n := range j.Needs {
			want[n] = true
		}
		for _, o := range jobs {
			if want[o.Name] {
				out = append(out, o)
			}
		}
		return out
	}
	for _, o := range jobs {
		if o.StageIdx < j.StageIdx {
			out = append(out, o)
		}
	}
	return out
}

// decide is the event for a created job once its predecessors settled on
// status prev, after GitLab's process-build rules.
func decide(j *model.Job, prev string) Event {
	run := false
	switch j.When {
	case "on_failure":
		run = prev == model.StatusFailed
	case "always":
		run = prev == model.StatusSuccess || prev == model.StatusFailed || prev == model.StatusSkipped
	default: // on_success, manual, delayed
		// A DAG job runs only after its needs succeeded: a need that never
		// ran (skipped) skips it, whereas a skipped earlier stage does not.
		run = prev == model.StatusSuccess || (prev == model.StatusSkipped && !j.DAG)
	}
	switch {
	case !run:
		return EvSkip
	case j.When == "manual":
		return EvActionize
	case j.When == "delayed":
		return EvSchedule
	}
	return EvEnqueue
}

// Process brings a pipeline up to date: every created job whose
// predecessors have settled is queued, made manual, scheduled or skipped,
// and the pipeline's status is derived from its jobs. It runs after every
// job status change, under a lock on the pipeline, so concurrent updates
// are applied one after another.
func (s *Service) Process(ctx context.Context, pipelineID int64) error {
	queued := false
	var projectID int64
	// bridges are trigger: jobs that became pending here; ended is this
	// pipeline when this call ended it and a job upstream may mirror it.
	var bridges []int64
	var ended *model.Pipeline
	err := s.Store.Tx(ctx, func(q *store.Queries) error {
		bridges, ended = bridges[:0], nil
		if err := q.LockPipeline(ctx, pipelineID); err != nil {
			return err
		}
		p, err := q.Pipeline(ctx, pipelineID)
		if err != nil {
			return err
		}
		projectID = p.ProjectID
		before := p.Status
		defer func() {
			if p.SourceJobID != 0 && p.Status != before && model.Complete(p.Status) {
				ended = p
			}
		}()
		now := s.Now()
		states, err := q.PipelineJobStates(ctx, pipelineID)
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(states, func(j *model.Job) bool { return j.Status == model.StatusCreated }) {
			// Nothing is left to decide: the status follows from the
			// distinct states, without reading every job of the pipeline
			// after every change (which made large pipelines quadratic).
			return s.updatePipelineStatus(ctx, q, p, states, now)
		}
		jobs, err := q.PipelineJobs(ctx, pipelineID, false)
		if err != nil {
			return err
		}
		for changed := true; changed; {
			changed = false
			for _, j := range jobs {
				if j.Status != model.StatusCreated {
					continue
				}
				prev := model.StatusSuccess // nothing to wait for
				if preds := predecessors(j, jobs); len(preds) > 0 {
					prev = Composite(preds)
				}
				if !ready(prev) {
					continue
				}
				ev := decide(j, prev)
				ok, err := s.apply(ctx, q, j, ev, now)
				if err != nil {
					return err
				}
				if ok {
					changed = true
					queued = queued || j.Status == model.StatusPending
					if j.Status == model.StatusPending && IsBridge(j) {
						bridges = append(bridges, j.ID)
					}
				}
			}
		}
		return s.updatePipelineStatus(ctx, q, p, jobs, now)
	})
	if err != nil {
		return err
	}
	if queued && s.OnPending != nil {
		s.OnPending(projectID)
	}
	for _, id := range bridges {
		if err := s.runBridge(ctx, id); err != nil {
			return err
		}
	}
	if ended != nil {
		return s.mirrorDownstream(ctx, ended)
	}
	return nil
}

// apply moves j by ev, compare-and-set against its current status.
func (s *Service) apply(ctx context.Context, q *store.Queries, j *model.Job, ev Event, now time.Time) (bool, error) {
	to, err := Transition(j.Status, ev)
	if err != nil {
		return false, err
	}
	from := j.Status
	next := *j
	next.Status = to
	switch to {
	case model.StatusPending:
		next.QueuedAt = &now
	case model.StatusScheduled:
		at := now.Add(startIn(j))
		next.ScheduledAt = &at
	case model.StatusSkipped, model.StatusCanceled, model.StatusFailed, model.StatusSuccess:
		if next.FinishedAt == nil {
			next.FinishedAt = &now
		}
	}
	ok, err := q.SetJobStatus(ctx, &next, from)
	if err != nil || !ok {
		return false, err
	}
	*j = next
	return true, nil
}

func (s *Service) updatePipelineStatus(ctx context.Context, q *store.Queries, p *model.Pipeline, jobs []*model.Job, now time.Time) error {
	if p.YAMLErrors != "" {
		return nil // failed at creation, with no jobs to change that
	}
	status := Composite(jobs)
	started := status != model.StatusCreated && status != model.StatusPending && status != model.StatusSkipped
	if status == p.Status && (p.StartedAt != nil || !started) {
		return nil
	}
	p.Status = status
	if p.StartedAt == nil && started {
		p.StartedAt = &now
	}
	p.FinishedAt = nil
	if model.Complete(status) {
		p.FinishedAt = &now
	}
	return q.UpdatePipelineStatus(ctx, p)
}

// ErrNotAllowed is an action a job or pipeline in its status does not
// allow (GitLab answers 400 or 403).
var ErrNotAllowed = errors.New("not allowed in this status")

// UpdateJob applies ev to one job and re-processes its pipeline. A job it
// makes pending (a manual job played, a delayed job come due) is announced
// as Process announces the jobs it queues, so that runners held in a long
// poll get it at once; a bridge made pending starts its downstream, as
// Process starts those it queues.
func (s *Service) UpdateJob(ctx context.Context, jobID int64, ev Event, mutate func(*model.Job)) (*model.Job, error) {
	return s.updateJob(ctx, jobID, ev, func(_ *store.Queries, j *model.Job) error {
		if mutate != nil {
			mutate(j)
		}
		return nil
	})
}

// updateJob is UpdateJob whose mutate may write in the transaction.
func (s *Service) updateJob(ctx context.Context, jobID int64, ev Event, mutate func(*store.Queries, *model.Job) error) (*model.Job, error) {
	var out *model.Job
	err := s.Store.Tx(ctx, func(q *store.Queries) error {
		j, err := lockedJob(ctx, q, jobID)
		if err != nil {
			return err
		}
		if _, err := Transition(j.Status, ev); err != nil {
			return fmt.Errorf("%w: %v", ErrNotAllowed, err)
		}
		if err := mutate(q, j); err != nil {
			return err
		}
		if _, err := s.apply(ctx, q, j, ev, s.Now()); err != nil {
			return err
		}
		out = j
		return nil
	})
	if err != nil {
		return nil, err
	}
	if out.Status == model.StatusPending {
		if IsBridge(out) {
			if err := s.runBridge(ctx, out.ID); err != nil {
				return nil, err
			}
		} else if s.OnPending != nil {
			s.OnPending(out.ProjectID)
		}
	}
	return s.processed(ctx, out)
}

// Play starts a manual job for userID, who becomes its user: the job's
// token then carries the player's permissions, not the pusher's (the
// seed's "a user can cause a job to run by ... triggering a manual job";
// GitLab's play does the same). Whether userID may play it is the
// route's decision (authz.UpdatePipeline). vars, when given, are the
// job's for this run (GitLab's job_variables_attributes), kept in its
// spec (sealed with it) and ranked with the pipeline's own variables.
func (s *Service) Play(ctx context.Context, jobID, userID int64, vars []model.Variable) (*model.Job, error) {
	return s.updateJob(ctx, jobID, EvPlay, func(q *store.Queries, j *model.Job) error {
		j.UserID = userID
		if len(vars) == 0 {
			return nil
		}
		spec := SpecOf(j)
		spec.PlayVariables = vars
		b, err := json.Marshal(spec)
		if err != nil {
			return err
		}
		j.Spec = b
		return q.SetJobSpec(ctx, j)
	})
}

// Cancel cancels every job of a pipeline that has not finished. A running
// job goes to canceling, so its runner can stop it and run after_script.
func (s *Service) Cancel(ctx context.Context, pipelineID int64) error {
	err := s.Store.Tx(ctx, func(q *store.Queries) error {
		if err := q.LockPipeline(ctx, pipelineID); err != nil {
			return err
		}
		jobs, err := q.PipelineJobs(ctx, pipelineID, false)
		if err != nil {
			return err
		}
		now := s.Now()
		for _, j := range jobs {
			// As GitLab: a manual job waits for a person, not for the
			// pipeline, and is not canceled with it.
			if j.Status == model.StatusManual {
				continue
			}
			if _, err := s.cancelJob(ctx, q, j, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.Process(ctx, pipelineID)
}

// cancelJob cancels one job; it reports false for a job already finished.
func (s *Service) cancelJob(ctx context.Context, q *store.Queries, j *model.Job, now time.Time) (bool, error) {
	switch {
	case model.Complete(j.Status) || j.Status == model.StatusCanceling && j.RunnerID == 0:
		return false, nil
	case j.Status == model.StatusRunning && j.RunnerID != 0:
		return s.apply(ctx, q, j, EvCancelGracefully, now)
	case j.Status == model.StatusCanceling:
		return false, nil
	}
	return s.apply(ctx, q, j, EvCancel, now)
}

// CancelJob cancels one job.
func (s *Service) CancelJob(ctx context.Context, jobID int64) (*model.Job, error) {
	var out *model.Job
	err := s.Store.Tx(ctx, func(q *store.Queries) error {
		j, err := lockedJob(ctx, q, jobID)
		if err != nil {
			return err
		}
		ok, err := s.cancelJob(ctx, q, j, s.Now())
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotAllowed
		}
		out = j
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.processed(ctx, out)
}

// retryable statuses: a job that ended may run again.
func retryable(status string) bool {
	return status == model.StatusFailed || status == model.StatusCanceled || status == model.StatusSuccess
}

// RetryJob creates a new job from a finished one (new ID, status created;
// the old one is kept, marked retried) and re-opens the jobs it had
// skipped.
func (s *Service) RetryJob(ctx context.Context, jobID int64, userID int64) (*model.Job, error) {
	var out *model.Job
	err := s.Store.Tx(ctx, func(q *store.Queries) error {
		j, err := lockedJob(ctx, q, jobID)
		if err != nil {
			return err
		}
		if j.Retried || !retryable(j.Status) {
			return ErrNotAllowed
		}
		out, err = s.retry(ctx, q, j, userID)
		if err != nil {
			return err
		}
		return s.reopenSkipped(ctx, q, j.PipelineID)
	})
	if err != nil {
		return nil, err
	}
	return s.processed(ctx, out)
}

func (s *Service) retry(ctx context.Context, q *store.Queries, j *model.Job, userID int64) (*model.Job, error) {
	old := *j
	old.Retried = true
	if ok, err := q.SetJobStatus(ctx, &old, j.Status); err != nil || !ok {
		if err == nil {
			err = ErrNotAllowed
		}
		return nil, err
	}
	n := &model.Job{PipelineID: j.PipelineID, ProjectID: j.ProjectID, Name: j.Name, Stage: j.Stage, StageIdx: j.StageIdx,
		Status: model.StatusCreated, When: j.When, AllowFailure: j.AllowFailure, UserID: userID, DAG: j.DAG,
		Needs: j.Needs, Spec: j.Spec, CreatedAt: s.Now(), TimeoutSeconds: j.TimeoutSeconds,
		TokenRestricted: j.TokenRestricted, TokenPermissions: j.TokenPermissions, Bridge: IsBridge(j)}
	if n.When == "manual" {
		// A retried manual job runs: the person asked for it.
		n.When = "on_success"
	}
	return n, q.CreateJob(ctx, n)
}

// reopenSkipped puts skipped jobs back to created so that processing
// decides them again after a retry.
func (s *Service) reopenSkipped(ctx context.Context, q *store.Queries, pipelineID int64) error {
	jobs, err := q.PipelineJobs(ctx, pipelineID, false)
	if err != nil {
		return err
	}
	for _, j := range jobs {
		if j.Status != model.StatusSkipped {
			continue
		}
		next := *j
		next.Status, next.FinishedAt = model.StatusCreated, nil
		if _, err := q.SetJobStatus(ctx, &next, model.StatusSkipped); err != nil {
			return err
		}
	}
	return nil
}

// RetryPipeline retries every failed or canceled job of a pipeline.
func (s *Service) RetryPipeline(ctx context.Context, pipelineID, userID int64) error {
	err := s.Store.Tx(ctx, func(q *store.Queries) error {
		if err := q.LockPipeline(ctx, pipelineID); err != nil {
			return err
		}
		jobs, err := q.PipelineJobs(ctx, pipelineID, false)
		if err != nil {
			return err
		}
		n := 0
		for _, j := range jobs {
			if j.Status == model.StatusFailed || j.Status == model.StatusCanceled {
				if _, err := s.retry(ctx, q, j, userID); err != nil {
					return err
				}
				n++
			}
		}
		if n == 0 {
			return ErrNotAllowed
		}
		return s.reopenSkipped(ctx, q, pipelineID)
	})
	if err != nil {
		return err
	}
	return s.Process(ctx, pipelineID)
}

// Erase removes a finished job's log and artifacts and marks it erased.
// The artifact rows go in the transaction, their blobs after it.
func (s *Service) Erase(ctx context.Context, jobID int64) (*model.Job, error) {
	var out *model.Job
	var blobKeys []string
	err := s.Store.Tx(ctx, func(q *store.Queries) error {
		j, err := lockedJob(ctx, q, jobID)
		if err != nil {
			return err
		}
		if !model.Complete(j.Status) || j.ErasedAt != nil {
			return ErrNotAllowed
		}
		now := s.Now()
		next := *j
		next.ErasedAt = &now
		if ok, err := q.SetJobStatus(ctx, &next, j.Status); err != nil || !ok {
			if err == nil {
				err = ErrNotAllowed
			}
			return err
		}
		out = &next
		if blobKeys, err = q.DeleteJobArtifacts(ctx, jobID); err != nil {
			return err
		}
		return q.DeleteTrace(ctx, jobID)
	})
	if err == nil {
		deleteBlobs(ctx, s.Blobs, s.Log, blobKeys)
	}
	return out, err
}

// processed re-processes a job's pipeline and returns the job as stored
// afterwards, so a caller answers with its status after processing (a
// retried job is pending, not created).
func (s *Service) processed(ctx context.Context, j *model.Job) (*model.Job, error) {
	if err := s.Process(ctx, j.PipelineID); err != nil {
		return nil, err
	}
	return s.Store.Job(ctx, j.ID)
}

// lockedJob takes the lock on a job's pipeline and reads the job afresh
// under it. Every change of a job row goes through here, so that no
// update is made from a stale read and none overwrites another.
func lockedJob(ctx context.Context, q *store.Queries, jobID int64) (*model.Job, error) {
	j, err := q.Job(ctx, jobID)
	if err != nil {
		return nil, err
	}
	if err := q.LockPipeline(ctx, j.PipelineID); err != nil {
		return nil, err
	}
	return q.Job(ctx, jobID)
}
