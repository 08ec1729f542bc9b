package ci

import (
	"context"
	"errors"
	"strings"

	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/ci/expr"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/runnerproto"
)

// candidatesPerPage bounds each scan of the pending jobs.
const candidatesPerPage = 100

// firstCandidates is the first scan's size. A runner almost always takes
// one of the oldest pending jobs (or loses it to another runner and takes
// the next), so reading a full page of rows with their specs for every
// assignment cost a tenth of the server's CPU per job (TestJobThroughput);
// the scan widens to candidatesPerPage only past them.
const firstCandidates = 8

// Assign hands the oldest pending job this runner may run to it: the job
// moves to running with a freshly minted job token, and the payload holds
// that token (the only place its clear value ever exists). nil means no job.
// Many runners may call it at once; the compare-and-set in the store lets
// exactly one of them have each job.
func (s *Service) Assign(ctx context.Context, r *model.Runner, maskPrefixes []string) (*runnerproto.Payload, error) {
	projects := map[int64]*model.Project{}
	var after int64
	for limit := firstCandidates; ; limit = candidatesPerPage {
		jobs, err := s.Store.PendingJobs(ctx, after, limit)
		if err != nil || len(jobs) == 0 {
			return nil, err
		}
		for _, j := range jobs {
			after = j.ID
			spec := SpecOf(j)
			if spec.Trigger != nil || !r.CanRun(spec.Tags) {
				continue
			}
			p, ok := projects[j.ProjectID]
			if !ok {
				if p, err = s.Store.Project(ctx, j.ProjectID); err != nil {
					if errors.Is(err, model.ErrNotFound) {
						continue
					}
					return nil, err
				}
				projects[j.ProjectID] = p
			}
			if p.PendingDeletion() || !serves(r, p) {
				continue
			}
			token := auth.NewSecret(auth.JobTokenPrefix)
			now := s.Now()
			won, err := s.Store.AssignJob(ctx, j.ID, r.ID, auth.Digest(token), now)
			if err != nil {
				return nil, err
			}
			if !won {
				continue // another runner took it first
			}
			j.Status, j.RunnerID, j.StartedAt = model.StatusRunning, r.ID, &now
			if err := s.Process(ctx, j.PipelineID); err != nil {
				s.Log.Error("process after assignment", "job_id", j.ID, "err", err)
			}
			return s.payload(ctx, p, j, r, token, maskPrefixes)
		}
	}
}

// serves reports whether a runner may take jobs of project p: instance
// runners serve every project, group runners the projects beneath their
// group, project runners the projects they were created for.
func serves(r *model.Runner, p *model.Project) bool {
	switch r.Type {
	case model.InstanceRunner:
		return true
	case model.GroupRunner:
		for _, id := range p.Namespace.Traversal {
			if r.GroupID != nil && *r.GroupID == id {
				return true
			}
		}
	case model.ProjectRunner:
		for _, id := range r.ProjectIDs {
			if id == p.ID {
				return true
			}
		}
	}
	return false
}

func (s *Service) payload(ctx context.Context, p *model.Project, j *model.Job, r *model.Runner, token string, prefixes []string) (*runnerproto.Payload, error) {
	pl, err := s.Store.Pipeline(ctx, j.PipelineID)
	if err != nil {
		return nil, err
	}
	u, err := s.Store.User(ctx, j.UserID)
	if err != nil {
		return nil, err
	}
	commit := s.commitCached(ctx, p.ID, pl.SHA)
	in := dependencyInput{Project: p, Pipeline: pl, Job: j, User: u, Commit: commit, Token: token}
	deps, err := s.dependencies(ctx, in)
	if err != nil {
		return nil, err
	}
	env := environmentName(SpecOf(j).Environment, func() Vars { return s.refVariables(in, SpecOf(j)) })
	var vars []model.Variable
	if s.Variables != nil {
		// Protected variables reach only pipelines whose ref a protected
		// branch or tag rule covered when they were created (issue 16.5).
		if vars, err = s.Variables.ForJob(ctx, p, env, pl.Protected); err != nil {
			return nil, err
		}
	}
	return BuildPayload(PayloadInput{ExternalURL: s.ExternalURL, RegistryURL: s.RegistryURL, Token: token, MaskPrefixes: prefixes, Project: p,
		Pipeline: pl, Job: j, Runner: r, User: u, Commit: commit, Now: s.Now(), Dependencies: deps, CIVariables: vars,
		Environment: env}), nil
}

// commitCached is commit metadata for payloads: every job of a pipeline
// shares its commit, so one git process serves them all.
func (s *Service) commitCached(ctx context.Context, projectID int64, sha string) *CommitInfo {
	key := itoa(projectID) + ":" + sha
	s.commitsMu.Lock()
	c, ok := s.commits[key]
	s.commitsMu.Unlock()
	if ok {
		return c
	}
	c, err := s.commit(ctx, projectID, sha)
	if err != nil {
		return nil
	}
	s.commitsMu.Lock()
	if s.commits == nil || len(s.commits) >= 1024 {
		s.commits = map[string]*CommitInfo{} // start over rather than track age
	}
	s.commits[key] = c
	s.commitsMu.Unlock()
	return c
}

// maxEnvironmentName is GitLab's limit on an environment's name.
const maxEnvironmentName = 255

// environmentName is a job's `environment:` name with its variables
// expanded (`review/$CI_COMMIT_REF_SLUG`), as GitLab expands it before it
// matches the CI/CD variables' environment_scope (GitLab's environments
// docs: the name may use predefined, YAML and pipeline variables; those
// of the CI/CD variables cannot choose the environment that chooses
// them). vars is called only when the name has a '$'. A name that would
// grow past GitLab's 255 characters stays as written, matching no
// scope but `*`.
func environmentName(name string, vars func() Vars) string {
	if !strings.Contains(name, "$") {
		return name
	}
	if out, ok := expr.ExpandLimit(name, vars().Lookup, maxEnvironmentName); ok {
		return out
	}
	return name
}
