package ci

import (
	"context"
	"encoding/json"
	"time"

	"github.com/ciwarden/ciwarden/internal/ci/config"
	"github.com/ciwarden/ciwarden/internal/git"
	"github.com/ciwarden/ciwarden/internal/model"
)

// Repos is what pipelines read from repositories.
type Repos interface {
	ReadFile(ctx context.Context, projectID int64, rev, path string, max int64) ([]byte, error)
	ChangedFiles(ctx context.Context, projectID int64, before, after string) ([]string, error)
	ListFiles(ctx context.Context, projectID int64, rev string) ([]string, error)
	Refs(ctx context.Context, projectID int64, prefix string) ([]git.Ref, error)
	Commit(ctx context.Context, projectID int64, rev string) (*git.Commit, error)
	UpdateRef(ctx context.Context, projectID int64, ref, sha string) error
}

// Spec is a job's resolved configuration, stored with the job (as JSON)
// when the pipeline is created, so a later change of .gitlab-ci.yml never
// changes a job that exists. The runner payload is built from it.
type Spec struct {
	Script       []string         `json:"script,omitempty"`
	BeforeScript []string         `json:"before_script,omitempty"`
	AfterScript  []string         `json:"after_script,omitempty"`
	Variables    []model.Variable `json:"variables,omitempty"`
	// PlayVariables are given when a manual job is played
	// (job_variables_attributes): the run's own, as pipeline variables.
	PlayVariables []model.Variable `json:"play_variables,omitempty"`
	// StartIn delays a `when: delayed` job.
	StartIn               Duration      `json:"start_in,omitempty"`
	AllowFailureExitCodes []int         `json:"allow_failure_exit_codes,omitempty"`
	Timeout               Duration      `json:"timeout,omitempty"`
	Tags                  []string      `json:"tags,omitempty"`
	Interruptible         bool          `json:"interruptible,omitempty"`
	Retry                 RetrySpec     `json:"retry,omitempty"`
	Needs                 []NeedSpec    `json:"needs,omitempty"`
	NeedsSet              bool          `json:"needs_set,omitempty"`
	Dependencies          []string      `json:"dependencies,omitempty"`
	DependenciesSet       bool          `json:"dependencies_set,omitempty"`
	Artifacts             *ArtifactSpec `json:"artifacts,omitempty"`
	Cache                 []CacheSpec   `json:"cache,omitempty"`
	Trigger               *TriggerSpec  `json:"trigger,omitempty"`
	IDTokens              []IDTokenSpec `json:"id_tokens,omitempty"`
	Image                 string        `json:"image,omitempty"`
	Services              []string      `json:"services,omitempty"`
	Environment           string        `json:"environment,omitempty"`
	ResourceGroup         string        `json:"resource_group,omitempty"`
	// Release is `release:`, which the payload turns into a release
	// step (payload.go).
	Release *config.Release `json:"release,omitempty"`
}

// Duration is a time.Duration stored as whole seconds.
type Duration int64

// D is the duration.
func (d Duration) D() time.Duration { return time.Duration(d) * time.Second }

// RetrySpec is `retry:`.
type RetrySpec struct {
	Max       int      `json:"max,omitempty"`
	When      []string `json:"when,omitempty"`
	ExitCodes []int    `json:"exit_codes,omitempty"`
}

// NeedSpec is one `needs:` entry.
type NeedSpec struct {
	Job       string `json:"job"`
	Artifacts bool   `json:"artifacts"`
	Optional  bool   `json:"optional,omitempty"`
	Project   string `json:"project,omitempty"`
	Ref       string `json:"ref,omitempty"`
	Pipeline  string `json:"pipeline,omitempty"`
}

// ArtifactSpec is `artifacts:`.
type ArtifactSpec struct {
	Name      string              `json:"name,omitempty"`
	Paths     []string            `json:"paths,omitempty"`
	Exclude   []string            `json:"exclude,omitempty"`
	ExpireIn  string              `json:"expire_in,omitempty"`
	When      string              `json:"when,omitempty"`
	Untracked bool                `json:"untracked,omitempty"`
	Reports   map[string][]string `json:"reports,omitempty"`
}

// CacheSpec is one `cache:` entry.
type CacheSpec struct {
	Key          string   `json:"key,omitempty"`
	KeyFiles     []string `json:"key_files,omitempty"`
	KeyPrefix    string   `json:"key_prefix,omitempty"`
	Paths        []string `json:"paths,omitempty"`
	Policy       string   `json:"policy,omitempty"`
	When         string   `json:"when,omitempty"`
	Untracked    bool     `json:"untracked,omitempty"`
	FallbackKeys []string `json:"fallback_keys,omitempty"`
}

// TriggerSpec is `trigger:` (a bridge to a downstream pipeline).
type TriggerSpec struct {
	Project                  string   `json:"project,omitempty"`
	Branch                   string   `json:"branch,omitempty"`
	Strategy                 string   `json:"strategy,omitempty"`
	Include                  []string `json:"include,omitempty"`
	Artifact                 string   `json:"artifact,omitempty"`
	ArtifactJob              string   `json:"artifact_job,omitempty"`
	ForwardYAMLVariables     bool     `json:"forward_yaml_variables,omitempty"`
	ForwardPipelineVariables bool     `json:"forward_pipeline_variables,omitempty"`
}

// IDTokenSpec is one `id_tokens:` entry.
type IDTokenSpec struct {
	Name string   `json:"name"`
	Aud  []string `json:"aud"`
}

// SpecOf decodes a job's spec; a job stored without one has a zero Spec.
func SpecOf(j *model.Job) Spec {
	var s Spec
	if len(j.Spec) > 0 {
		_ = json.Unmarshal(j.Spec, &s)
	}
	return s
}

func startIn(j *model.Job) time.Duration { return SpecOf(j).StartIn.D() }

// specFromPlan freezes a planned job's configuration into its stored spec.
func specFromPlan(cfg *config.Config, plan *config.Plan, pj *config.PlannedJob) ([]byte, error) {
	j := pj.Job
	s := Spec{
		Script: j.Script, BeforeScript: j.BeforeScript, AfterScript: j.AfterScript,
		AllowFailureExitCodes: j.AllowFailureExitCodes, Timeout: Duration(j.Timeout / time.Second),
		Tags: j.Tags, Interruptible: j.Interruptible,
		Retry:        RetrySpec{Max: j.Retry.Max, When: j.Retry.When, ExitCodes: j.Retry.ExitCodes},
		NeedsSet:     pj.NeedsSet,
		Dependencies: j.Dependencies, DependenciesSet: j.DependenciesSet,
		Image: j.Image, Services: j.Services, Environment: j.Environment, ResourceGroup: j.ResourceGroup,
		Release: j.Release,
	}
	if pj.StartIn != "" {
		d, err := config.ParseDuration(pj.StartIn)
		if err != nil {
			return nil, &config.Error{Line: j.Line, Msg: "job " + j.Name + ": start_in: " + err.Error()}
		}
		s.StartIn = Duration(d / time.Second)
	}
	for _, v := range plan.JobVariables(cfg, pj) {
		s.Variables = append(s.Variables, model.Variable{Key: v.Key, Value: v.Value, Raw: v.Raw, Masked: v.Masked})
	}
	for _, n := range pj.Needs {
		s.Needs = append(s.Needs, NeedSpec{Job: n.Job, Artifacts: n.Artifacts, Optional: n.Optional, Project: n.Project, Ref: n.Ref, Pipeline: n.Pipeline})
	}
	if a := j.Artifacts; a != nil {
		s.Artifacts = &ArtifactSpec{Name: a.Name, Paths: a.Paths, Exclude: a.Exclude, ExpireIn: a.ExpireIn, When: a.When,
			Untracked: a.Untracked, Reports: a.Reports}
	}
	for _, c := range j.Cache {
		s.Cache = append(s.Cache, CacheSpec{Key: c.Key, KeyFiles: c.KeyFiles, KeyPrefix: c.KeyPrefix, Paths: c.Paths,
			Policy: c.Policy, When: c.When, Untracked: c.Untracked, FallbackKeys: c.FallbackKeys})
	}
	if t := j.Trigger; t != nil {
		s.Trigger = &TriggerSpec{Project: t.Project, Branch: t.Branch, Strategy: t.Strategy, Include: t.Include,
			Artifact: t.Artifact, ArtifactJob: t.ArtifactJob, ForwardYAMLVariables: t.ForwardYAMLVariables, ForwardPipelineVariables: t.ForwardPipelineVariables}
	}
	for _, t := range j.IDTokens {
		s.IDTokens = append(s.IDTokens, IDTokenSpec{Name: t.Name, Aud: t.Aud})
	}
	return json.Marshal(s)
}
