package ci

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/runnerproto"
)

// The job payload, in the shape gitlab-runner decodes (runner-protocol.md
// §6). Fields the runner would choke on (`run`, empty times) are never
// sent.

// PayloadInput is what a payload is built from.
type PayloadInput struct {
	ExternalURL  string
	RegistryURL  string
	Token        string
	MaskPrefixes []string
	Project      *model.Project
	Pipeline     *model.Pipeline
	Job          *model.Job
	Runner       *model.Runner // the job's: CI_RUNNER_ID, _DESCRIPTION, _TAGS
	User         *model.User
	Commit       *CommitInfo
	Now          time.Time
	// Dependencies are the jobs whose artifacts the runner downloads
	// first (dependencies.go); they need the database, BuildPayload not.
	Dependencies []runnerproto.PayloadDependency
	// CIVariables are the CI/CD variables of the instance, the project's
	// groups and the project that reach this job, lowest precedence first
	// (variables.Service.ForJob).
	CIVariables []model.Variable
	// Environment is the job's environment name, expanded
	// (environmentName): CI_ENVIRONMENT_NAME.
	Environment string
}

// VariableSource gives a job its CI/CD variables, lowest precedence
// first (variables.Service).
type VariableSource interface {
	ForJob(ctx context.Context, p *model.Project, environment string, protectedRef bool) ([]model.Variable, error)
}

// defaultGitDepth is GitLab's default shallow clone depth for new projects.
const defaultGitDepth = 20

// BuildPayload renders the job for a runner.
func BuildPayload(in PayloadInput) *runnerproto.Payload {
	spec := SpecOf(in.Job)
	p, pl, j := in.Project, in.Pipeline, in.Job
	base := strings.TrimSuffix(in.ExternalURL, "/")
	repoURL := repoURLWithToken(base, p.FullPath(), in.Token)

	vars := jobVariables(in, spec, repoURL)
	depth := defaultGitDepth
	if v, ok := vars.Lookup("GIT_DEPTH"); ok {
		if d, err := strconv.Atoi(v); err == nil && d >= 0 {
			depth = d
		}
	}
	refType, refspec := "branch", "+refs/heads/"+pl.Ref+":refs/remotes/origin/"+pl.Ref
	if pl.Tag {
		refType, refspec = "tag", "+refs/tags/"+pl.Ref+":refs/tags/"+pl.Ref
	}
	before := pl.BeforeSHA
	if before == "" {
		before = "0000000000000000000000000000000000000000"
	}
	timeout := j.TimeoutSeconds
	if timeout <= 0 {
		timeout = 3600
	}
	root := p.NamespaceID
	if len(p.Namespace.Traversal) > 0 {
		root = p.Namespace.Traversal[0]
	}
	var queued int64
	if j.QueuedAt != nil {
		queued = int64(in.Now.Sub(*j.QueuedAt).Seconds())
	}
	out := &runnerproto.Payload{
		ID: j.ID, Token: in.Token, AllowGitFetch: true,
		JobInfo: runnerproto.JobInfo{Name: j.Name, Stage: j.Stage, PipelineID: pl.ID, ProjectID: p.ID, ProjectName: p.Name,
			ProjectFullPath: p.FullPath(), NamespaceID: p.NamespaceID, RootNamespaceID: root, UserID: j.UserID,
			TimeInQueueSeconds: queued, ProjectJobsRunning: "0"},
		GitInfo: runnerproto.GitInfo{RepoURL: repoURL, RepoObjectFormat: "sha1", Ref: pl.Ref, Sha: pl.SHA, BeforeSha: before, RefType: refType,
			Refspecs: []string{"+" + PipelineRef(pl.ID) + ":" + PipelineRef(pl.ID), refspec}, Depth: depth},
		RunnerInfo:   runnerproto.RunnerInfo{Timeout: timeout},
		Image:        map[string]any{},
		Artifacts:    payloadArtifacts(spec.Artifacts),
		Cache:        []runnerproto.PayloadCache{},
		Dependencies: in.Dependencies,
		Features:     runnerproto.Features{TraceSections: true, TokenMaskPrefixes: in.MaskPrefixes, FailureReasons: runnerproto.FailureReasons},
	}
	if out.Dependencies == nil {
		out.Dependencies = []runnerproto.PayloadDependency{}
	}
	for _, v := range vars {
		out.Variables = append(out.Variables, runnerproto.PayloadVar{Key: v.Key, Value: v.Value, Raw: v.Raw, Masked: v.Masked, File: v.File,
			Public: !v.Masked && !v.Private && !secretVar[v.Key]})
	}
	script := append(append([]string{}, spec.BeforeScript...), spec.Script...)
	out.Steps = []runnerproto.Step{{Name: "script", Script: script, Timeout: timeout, When: "on_success"}}
	if spec.Release != nil {
		// After the script, before after_script, as gitlab-runner orders
		// its release stage.
		out.Steps = append(out.Steps, runnerproto.Step{Name: runnerproto.StepRelease, Script: ReleaseScript(spec.Release),
			Timeout: timeout, When: "on_success"})
	}
	if len(spec.AfterScript) > 0 {
		out.Steps = append(out.Steps, runnerproto.Step{Name: "after_script", Script: spec.AfterScript, Timeout: timeout, When: "always", AllowFailure: true})
	}
	for _, c := range spec.Cache {
		policy := c.Policy
		if policy == "" {
			policy = "pull-push"
		}
		when := c.When
		if when == "" {
			when = "on_success"
		}
		out.Cache = append(out.Cache, runnerproto.PayloadCache{Key: c.Key, Untracked: c.Untracked, Policy: policy, Paths: nonNilStrings(c.Paths),
			When: when, FallbackKeys: nonNilStrings(c.FallbackKeys)})
	}
	return out
}

// secretVar are the variables that are not public even when not masked.
var secretVar = map[string]bool{"CI_REPOSITORY_URL": true}

// PipelineRef keeps a pipeline's commit reachable for its jobs even after
// the branch moves on, as GitLab's refs/pipelines/<id>.
func PipelineRef(pipelineID int64) string { return "refs/pipelines/" + itoa(pipelineID) }

func repoURLWithToken(base, fullPath, token string) string {
	u, err := url.Parse(base + "/" + fullPath + ".git")
	if err != nil {
		return base + "/" + fullPath + ".git"
	}
	u.User = url.UserPassword("gitlab-ci-token", token)
	return u.String()
}

// jobVariables is the job's variable list in the runner's order: later
// entries win. Predefined and token variables first, then the YAML's, then
// the variables given for this pipeline run, and for this job's play.
func jobVariables(in PayloadInput, spec Spec, repoURL string) Vars {
	v := PipelineVariables(PipelineContext{ExternalURL: in.ExternalURL, RegistryURL: in.RegistryURL, Project: in.Project, Pipeline: in.Pipeline, User: in.User, Commit: in.Commit})
	v = append(v, JobVariables(in.ExternalURL, in.Project, in.Job)...)
	v = append(v, RunnerVariables(in.Runner)...)
	secret := func(key string) { v = append(v, model.Variable{Key: key, Value: in.Token, Masked: true}) }
	secret("CI_JOB_TOKEN")
	v.add("CI_REGISTRY_USER", "gitlab-ci-token")
	secret("CI_REGISTRY_PASSWORD")
	v.add("CI_DEPENDENCY_PROXY_USER", "gitlab-ci-token")
	secret("CI_DEPENDENCY_PROXY_PASSWORD")
	v.add("CI_REPOSITORY_URL", repoURL)
	if in.Environment != "" {
		v.add("CI_ENVIRONMENT_NAME", in.Environment)
	}
	v = append(v, spec.Variables...)
	// The project's, groups' and instance's CI/CD variables outrank the
	// YAML's; the pipeline's own (API, trigger, schedule, play) outrank
	// them (GitLab's precedence, issue 16).
	v = append(v, in.CIVariables...)
	v = append(v, in.Pipeline.Variables...)
	return append(v, spec.PlayVariables...)
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
