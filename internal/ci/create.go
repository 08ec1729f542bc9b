package ci

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ciwarden/ciwarden/internal/ci/config"
	"github.com/ciwarden/ciwarden/internal/git"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/store"
)

// ConfigFile is where a project's pipeline configuration lives.
const ConfigFile = ".gitlab-ci.yml"

// maxConfigBytes bounds .gitlab-ci.yml and each included file.
const maxConfigBytes = 1 << 20

// CreateInput is a request for a pipeline.
type CreateInput struct {
	Project *model.Project
	User    *model.User
	// Ref is a branch or tag name; Tag says which. For API pipelines Tag
	// is found out from the repository.
	Ref       string
	Tag       bool
	SHA       string // resolved from Ref when empty
	BeforeSHA string
	Source    string
	Variables []model.Variable
	// RefuseInvalid makes a configuration error refuse the request with
	// nothing saved (a *model.ValidationError on "base"), as GitLab's API
	// does (POST /projects/:id/pipeline runs CreatePipelineService with
	// save_on_errors: false). Otherwise, as for a push, the error is saved
	// as a failed pipeline whose yaml_errors says why.
	RefuseInvalid bool
	// SourceJob is the job upstream of the pipeline: the job whose token
	// called the trigger API, or a trigger: bridge (GitLab's source_job).
	SourceJob *model.Job
	// TriggerID is the trigger token that asked for the pipeline.
	TriggerID int64
	// ScheduleID is the pipeline schedule that runs it.
	ScheduleID int64
	// ConfigYAML, when set, is the configuration instead of the commit's
	// .gitlab-ci.yml (a child pipeline's trigger:include).
	ConfigYAML []byte
}

// RefusedError is a pipeline that was not created, with GitLab's reason.
type RefusedError struct{ Reason string }

func (e *RefusedError) Error() string { return e.Reason }

// GitLab's reasons for creating no pipeline.
const (
	ReasonMissingConfig = "Missing CI config file"
	ReasonNoRef         = "Reference not found"
	ReasonWorkflow      = "Pipeline filtered out by workflow rules."
	ReasonFiltered      = "Pipeline will not run for the selected trigger. The rules configuration prevented any jobs from being added to the pipeline."
)

// CreatePipeline reads .gitlab-ci.yml at the commit, evaluates it and
// stores the pipeline with its jobs, then processes it. A configuration
// that cannot be used still creates a pipeline, failed, whose yaml_errors
// says why and where (unless in.RefuseInvalid); rules that select nothing
// create none (*RefusedError).
func (s *Service) CreatePipeline(ctx context.Context, in CreateInput) (*model.Pipeline, error) {
	// A job past its downstream limit is refused before any git read;
	// the transaction counts again, exactly.
	if err := s.checkDownstream(ctx, &s.Store.Queries, in); err != nil {
		return nil, err
	}
	if err := s.resolveRef(ctx, &in); err != nil {
		return nil, err
	}
	pid := in.Project.ID
	protected, err := s.RefProtected(ctx, pid, in.Ref, in.Tag)
	if err != nil {
		return nil, err
	}
	// An annotated tag names a tag object; pipelines run commits.
	if c, err := s.Repos.Commit(ctx, pid, in.SHA); err == nil {
		in.SHA = c.SHA
	}
	data, err := s.Repos.ReadFile(ctx, pid, in.SHA, ConfigFile, maxConfigBytes)
	if in.ConfigYAML != nil {
		data, err = in.ConfigYAML, nil
	}
	var cfg *config.Config
	var yamlErr error
	var tooLarge *git.TooLargeError
	switch {
	case errors.Is(err, git.ErrNotFound):
		return nil, &RefusedError{Reason: ReasonMissingConfig}
	case errors.As(err, &tooLarge):
		yamlErr = err // refused unread: ".gitlab-ci.yml is N bytes, over the ...-byte limit"
	case err != nil:
		return nil, err
	default:
		cfg, yamlErr = config.Parse(data, config.Options{MaxBytes: maxConfigBytes, ReadFile: func(path string) ([]byte, error) {
			b, err := s.Repos.ReadFile(ctx, pid, in.SHA, strings.TrimPrefix(path, "/"), maxConfigBytes)
			if errors.Is(err, git.ErrNotFound) {
				return nil, fmt.Errorf("local file %s does not exist", path)
			}
			return b, err
		}})
	}
	if yamlErr != nil && in.RefuseInvalid {
		return nil, model.Invalid("base", yamlErr.Error())
	}
	var commit *CommitInfo
	if c, err := s.commit(ctx, pid, in.SHA); err == nil {
		commit = c
	}
	p := &model.Pipeline{ProjectID: pid, Ref: in.Ref, Tag: in.Tag, SHA: in.SHA, BeforeSHA: in.BeforeSHA, Source: in.Source,
		Status: model.StatusCreated, UserID: in.User.ID, Variables: in.Variables, Protected: protected, CreatedAt: s.Now(), TriggerID: in.TriggerID,
		ScheduleID: in.ScheduleID}
	if j := in.SourceJob; j != nil {
		p.SourceJobID, p.SourcePipelineID, p.SourceProjectID = j.ID, j.PipelineID, j.ProjectID
	}
	err = s.Store.Tx(ctx, func(q *store.Queries) error {
		if err := q.LockProject(ctx, pid); err != nil {
			return err
		}
		if err := s.checkDownstream(ctx, q, in); err != nil {
			return err
		}
		if err := q.CreatePipeline(ctx, p); err != nil {
			return err
		}
		if yamlErr != nil {
			return s.failPipeline(ctx, q, p, yamlErr)
		}
		vars := PipelineVariables(PipelineContext{ExternalURL: s.ExternalURL, RegistryURL: s.RegistryURL, Project: in.Project, Pipeline: p, User: in.User, Commit: commit})
		// Variables given for this run beat the YAML's, which are defaults.
		overrides := Vars(in.Variables)
		plan, err := cfg.Plan(config.Env{Vars: vars.Lookup, Overrides: overrides.Lookup,
			Changes: s.changes(ctx, in), Exists: s.exists(ctx, pid, in.SHA)})
		if err != nil {
			if in.RefuseInvalid { // the transaction rolls back: nothing saved
				return model.Invalid("base", err.Error())
			}
			return s.failPipeline(ctx, q, p, err)
		}
		if !plan.Created {
			if plan.Reason == config.ReasonWorkflow {
				return &RefusedError{Reason: ReasonWorkflow}
			}
			return &RefusedError{Reason: ReasonFiltered}
		}
		return s.createJobs(ctx, q, cfg, plan, p, in)
	})
	if err != nil {
		return nil, err
	}
	if err := s.Repos.UpdateRef(ctx, pid, PipelineRef(p.ID), p.SHA); err != nil {
		s.Log.Error("keep pipeline ref", "pipeline_id", p.ID, "err", err)
	}
	if err := s.Process(ctx, p.ID); err != nil {
		return nil, err
	}
	return s.Store.Pipeline(ctx, p.ID)
}

// failPipeline records why a configuration could not be used.
func (s *Service) failPipeline(ctx context.Context, q *store.Queries, p *model.Pipeline, why error) error {
	p.Status = model.StatusFailed
	p.YAMLErrors = why.Error()
	now := s.Now()
	p.FinishedAt = &now
	return q.UpdatePipelineStatus(ctx, p)
}

func (s *Service) createJobs(ctx context.Context, q *store.Queries, cfg *config.Config, plan *config.Plan, p *model.Pipeline, in CreateInput) error {
	stageIdx := map[string]int{}
	for i, st := range cfg.Stages {
		stageIdx[st] = i
	}
	for _, pj := range plan.Jobs {
		j := &model.Job{PipelineID: p.ID, ProjectID: p.ProjectID, Name: pj.Job.Name, Stage: pj.Job.Stage,
			StageIdx: stageIdx[pj.Job.Stage], Status: model.StatusCreated, When: pj.When, AllowFailure: pj.AllowFailure,
			UserID: in.User.ID, DAG: pj.NeedsSet, CreatedAt: p.CreatedAt, TimeoutSeconds: int(pj.Job.Timeout / time.Second),
			TokenRestricted: pj.Job.JobTokenSet, TokenPermissions: pj.Job.JobTokenPermissions}
		for _, n := range pj.Needs {
			if n.Project == "" && n.Pipeline == "" {
				j.Needs = append(j.Needs, n.Job)
			}
		}
		spec, err := specFromPlan(cfg, plan, pj)
		if err != nil {
			return err
		}
		j.Spec = spec
		j.Bridge = IsBridge(j)
		if err := q.CreateJob(ctx, j); err != nil {
			return err
		}
	}
	return nil
}

// resolveRef fills SHA (and Tag) from Ref when the caller gave only a
// name.
func (s *Service) resolveRef(ctx context.Context, in *CreateInput) error {
	if in.SHA != "" {
		return nil
	}
	full, sha, err := s.ResolveRef(ctx, in.Project.ID, in.Ref)
	if err != nil {
		return err
	}
	in.SHA, in.Tag = sha, strings.HasPrefix(full, "refs/tags/")
	return nil
}

// ResolveRef finds a branch, else a tag, named ref: its full name and
// what it points at; neither is a RefusedError (ReasonNoRef).
func (s *Service) ResolveRef(ctx context.Context, projectID int64, ref string) (full, sha string, err error) {
	refs, err := s.Repos.Refs(ctx, projectID, "refs/")
	if err != nil {
		return "", "", err
	}
	for _, prefix := range []string{"refs/heads/", "refs/tags/"} {
		for _, r := range refs {
			if r.Name == prefix+ref {
				return r.Name, r.SHA, nil
			}
		}
	}
	return "", "", &RefusedError{Reason: ReasonNoRef}
}

func (s *Service) commit(ctx context.Context, projectID int64, sha string) (*CommitInfo, error) {
	c, err := s.Repos.Commit(ctx, projectID, sha)
	if err != nil {
		return nil, err
	}
	_, desc, _ := strings.Cut(c.Message, "\n")
	return &CommitInfo{Message: c.Message, Title: c.Title, Description: strings.TrimLeft(desc, "\n"),
		Author: c.AuthorName + " <" + c.AuthorEmail + ">", Timestamp: c.AuthoredAt}, nil
}

// changes answers rules:changes. Only push pipelines have a diff; for the
// others every changes rule matches, as in GitLab.
func (s *Service) changes(ctx context.Context, in CreateInput) func([]string, string) bool {
	if in.Source != model.SourcePush {
		return nil
	}
	var files []string
	loaded := false
	return func(globs []string, compareTo string) bool {
		if !loaded {
			before := in.BeforeSHA
			if compareTo != "" {
				before = compareTo
			}
			files, _ = s.Repos.ChangedFiles(ctx, in.Project.ID, before, in.SHA)
			loaded = compareTo == ""
		}
		return anyMatch(globs, files)
	}
}

// exists answers rules:exists from the commit's tree, listed once.
func (s *Service) exists(ctx context.Context, projectID int64, sha string) func([]string) bool {
	var files []string
	loaded := false
	return func(globs []string) bool {
		if !loaded {
			files, _ = s.Repos.ListFiles(ctx, projectID, sha)
			loaded = true
		}
		return anyMatch(globs, files)
	}
}

func anyMatch(globs, files []string) bool {
	for _, g := range globs {
		for _, f := range files {
			if config.Match(g, f) {
				return true
			}
		}
	}
	return false
}
