package ci

import (
	"context"
	"errors"
	"strings"

	"github.com/ciwarden/ciwarden/internal/access"
	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/ci/expr"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/runnerproto"
)

// dependencyInput is what dependencies[] is computed from.
type dependencyInput struct {
	Project  *model.Project
	Pipeline *model.Pipeline
	Job      *model.Job
	User     *model.User
	Commit   *CommitInfo
	// Token is the running job's token: every dependency carries it, since
	// the runner downloads with it (runner-protocol.md §10.2).
	Token string
}

// dependencies is the payload's dependencies[] (runner-protocol.md §6.4):
// the jobs of earlier stages, or with needs: the needed jobs whose
// artifacts are wanted, narrowed by dependencies:; then needs:project
// entries. artifacts_file is set only for an unexpired archive.
func (s *Service) dependencies(ctx context.Context, in dependencyInput) ([]runnerproto.PayloadDependency, error) {
	spec := SpecOf(in.Job)
	var picked []*model.Job
	switch {
	case !s.mayHaveLocalDependencies(in.Job, spec):
	case spec.NeedsSet:
		jobs, err := s.Store.PipelineJobs(ctx, in.Pipeline.ID, false)
		if err != nil {
			return nil, err
		}
		byName := map[string]*model.Job{}
		for _, o := range jobs {
			byName[o.Name] = o
		}
		for _, n := range spec.Needs {
			if n.Project == "" && n.Pipeline == "" && n.Artifacts && byName[n.Job] != nil {
				picked = append(picked, byName[n.Job])
			}
		}
	default:
		// The jobs of earlier stages, read as such: every job a runner
		// takes comes here, and reading the whole pipeline for each made
		// a 1,000-job pipeline quadratic.
		var err error
		if picked, err = s.Store.JobsBeforeStage(ctx, in.Pipeline.ID, in.Job.StageIdx); err != nil {
			return nil, err
		}
	}
	if spec.DependenciesSet {
		allowed := map[string]bool{}
		for _, d := range spec.Dependencies {
			allowed[d] = true
		}
		kept := picked[:0]
		for _, o := range picked {
			if allowed[o.Name] {
				kept = append(kept, o)
			}
		}
		picked = kept
	}
	cross, err := s.crossProjectNeeds(ctx, in, spec)
	if err != nil {
		return nil, err
	}
	picked = append(picked, cross...)
	if picked, err = s.upstreamNeeds(ctx, in, spec, picked); err != nil {
		return nil, err
	}

	ids := make([]int64, len(picked))
	for i, o := range picked {
		ids[i] = o.ID
	}
	arts, err := s.Store.ArtifactsOfJobs(ctx, ids)
	if err != nil {
		return nil, err
	}
	now := s.Now()
	out := make([]runnerproto.PayloadDependency, 0, len(picked))
	for _, o := range picked {
		d := runnerproto.PayloadDependency{ID: o.ID, Name: o.Name, Token: in.Token}
		for _, a := range arts[o.ID] {
			if a.FileType == model.ArtifactArchive && !a.Expired(now) {
				d.ArtifactsFile = &runnerproto.DependencyArtifactsFile{Filename: a.Filename, Size: a.Size}
			}
		}
		out = append(out, d)
	}
	return out, nil
}

// mayHaveLocalDependencies spares a job of the first stage, or one whose
// needs want no artifacts, the read of its pipeline's jobs: the payload is
// on the path of every job a runner takes.
func (s *Service) mayHaveLocalDependencies(j *model.Job, spec Spec) bool {
	if spec.DependenciesSet && len(spec.Dependencies) == 0 {
		return false
	}
	if !spec.NeedsSet {
		return j.StageIdx > 0
	}
	for _, n := range spec.Needs {
		if n.Project == "" && n.Pipeline == "" && n.Artifacts {
			return true
		}
	}
	return false
}

// crossProjectNeeds resolves needs:project entries that want artifacts:
// the latest successful job of that name on that ref, in a project the
// pipeline's user may read artifacts of (the one authz decision). What
// cannot be found or read is left out, as GitLab does; the job then fails
// on its own when it misses the files.
func (s *Service) crossProjectNeeds(ctx context.Context, in dependencyInput, spec Spec) ([]*model.Job, error) {
	var out []*model.Job
	var lookup func(string) (string, bool)
	for _, n := range spec.Needs {
		if n.Project == "" || !n.Artifacts {
			continue
		}
		if lookup == nil {
			lookup = s.refVariables(in, spec).Lookup
		}
		path, _ := expr.ExpandLimit(n.Project, lookup, 1024)
		ref, _ := expr.ExpandLimit(n.Ref, lookup, 1024)
		path = strings.Trim(path, "/")
		if path == "" || ref == "" {
			continue
		}
		j, err := s.readableLatestJob(ctx, in, path, ref, n.Job)
		if errors.Is(err, model.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, nil
}

// readableLatestJob finds the job needs:project names, if the job's
// token may read its artifacts (the one decision, token access scope
// included); model.ErrNotFound otherwise.
func (s *Service) readableLatestJob(ctx context.Context, in dependencyInput, path, ref, name string) (*model.Job, error) {
	p, err := s.Store.ProjectByPath(ctx, path)
	if err != nil {
		return nil, err
	}
	if p.PendingDeletion() {
		return nil, model.ErrNotFound
	}
	who := auth.JobPrincipal(in.Job, in.Project, in.Pipeline, in.User)
	d, err := s.access().Project(ctx, who, p, authz.ReadJobArtifacts)
	if err != nil {
		return nil, err
	}
	if !d.Allowed {
		return nil, model.ErrNotFound
	}
	return s.Store.LatestSuccessfulJob(ctx, p.ID, ref, name)
}

// refVariables are what project and ref of needs:project may refer to:
// the predefined variables, the job's YAML variables, the pipeline's and
// the job's play's.
func (s *Service) refVariables(in dependencyInput, spec Spec) Vars {
	v := PipelineVariables(PipelineContext{ExternalURL: s.ExternalURL, RegistryURL: s.RegistryURL, Project: in.Project, Pipeline: in.Pipeline, User: in.User, Commit: in.Commit})
	v = append(v, JobVariables(s.ExternalURL, in.Project, in.Job)...)
	v = append(v, spec.Variables...)
	v = append(v, in.Pipeline.Variables...)
	return append(v, spec.PlayVariables...)
}

func (s *Service) access() *access.Authorizer {
	if s.Access != nil {
		return s.Access
	}
	return &access.Authorizer{Store: s.Store}
}
