package ci

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/ciwarden/ciwarden/internal/model"
)

// Version is what CI_SERVER_VERSION reports.
const Version = "18.0.0-ciwarden"

// Vars is an ordered list of variables where a later key overrides an
// earlier one, as the runner reads them.
type Vars []model.Variable

func (v *Vars) add(key, value string) { *v = append(*v, model.Variable{Key: key, Value: value}) }

// Lookup finds the last value of key.
func (v Vars) Lookup(key string) (string, bool) {
	for i := len(v) - 1; i >= 0; i-- {
		if v[i].Key == key {
			return v[i].Value, true
		}
	}
	return "", false
}

// Slug is GitLab's CI_COMMIT_REF_SLUG: lower case, every character other
// than a-z and 0-9 replaced by '-', at most 63 characters, no leading or
// trailing '-'.
func Slug(s string) string {
	b := []byte(strings.ToLower(s))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			b[i] = '-'
		}
	}
	if len(b) > 63 {
		b = b[:63]
	}
	return strings.Trim(string(b), "-")
}

// PipelineContext is what the pipeline-level predefined variables are
// computed from.
type PipelineContext struct {
	ExternalURL string
	// RegistryURL is where the container registry is reached when not at
	// ExternalURL (--registry-url); "" means ExternalURL.
	RegistryURL string
	Project     *model.Project
	Pipeline    *model.Pipeline
	User        *model.User
	Commit      *CommitInfo
}

// CommitInfo is the pushed commit, for the CI_COMMIT_* message variables.
type CommitInfo struct {
	Message     string
	Title       string
	Author      string // "Name <email>"
	Timestamp   string // RFC 3339
	Description string
}

// PipelineVariables are the predefined variables every job of a pipeline
// sees, and that rules:if is evaluated against.
func PipelineVariables(c PipelineContext) Vars {
	var v Vars
	base := strings.TrimSuffix(c.ExternalURL, "/")
	u, _ := url.Parse(base)
	v.add("CI", "true")
	v.add("GITLAB_CI", "true")
	v.add("CI_SERVER", "yes")
	v.add("CI_SERVER_URL", base)
	if u != nil {
		port := u.Port()
		if port == "" {
			port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
		}
		v.add("CI_SERVER_HOST", u.Hostname())
		v.add("CI_SERVER_PORT", port)
		v.add("CI_SERVER_PROTOCOL", u.Scheme)
		v.add("CI_SERVER_FQDN", u.Host)
	}
	v.add("CI_SERVER_NAME", "GitLab")
	v.add("CI_SERVER_VERSION", Version)
	v.add("CI_API_V4_URL", base+"/api/v4")

	p := c.Project
	full := p.FullPath()
	// The container registry: its host:port, and the project's image
	// there, lower case as image paths are (GitLab's CI_REGISTRY,
	// CI_REGISTRY_IMAGE).
	registry := base
	if c.RegistryURL != "" {
		registry = c.RegistryURL
	}
	if r, err := url.Parse(registry); err == nil && r.Host != "" {
		v.add("CI_REGISTRY", r.Host)
		v.add("CI_REGISTRY_IMAGE", r.Host+"/"+strings.ToLower(full))
	}
	v.add("CI_PROJECT_ID", itoa(p.ID))
	v.add("CI_PROJECT_NAME", p.Path)
	v.add("CI_PROJECT_TITLE", p.Name)
	v.add("CI_PROJECT_PATH", full)
	v.add("CI_PROJECT_PATH_SLUG", Slug(full))
	v.add("CI_PROJECT_NAMESPACE", p.Namespace.FullPath)
	v.add("CI_PROJECT_NAMESPACE_ID", itoa(p.NamespaceID))
	root, _, _ := strings.Cut(p.Namespace.FullPath, "/")
	v.add("CI_PROJECT_ROOT_NAMESPACE", root)
	v.add("CI_PROJECT_URL", base+"/"+full)
	v.add("CI_PROJECT_VISIBILITY", string(p.Visibility))
	v.add("CI_DEFAULT_BRANCH", p.DefaultBranch)

	pl := c.Pipeline
	v.add("CI_PIPELINE_ID", itoa(pl.ID))
	v.add("CI_PIPELINE_IID", itoa(pl.IID))
	v.add("CI_PIPELINE_SOURCE", pl.Source)
	if pl.Source == model.SourceTrigger {
		v.add("CI_PIPELINE_TRIGGERED", "true")
	}
	if pl.SourcePipelineID != 0 {
		// A downstream pipeline, multi-project or child, through a bridge
		// or a job token's trigger call: where it came from (GitLab 18.9's
		// pre-pipeline variables).
		v.add("CI_UPSTREAM_PIPELINE_ID", itoa(pl.SourcePipelineID))
		v.add("CI_UPSTREAM_PROJECT_ID", itoa(pl.SourceProjectID))
		v.add("CI_UPSTREAM_JOB_ID", itoa(pl.SourceJobID))
	}
	v.add("CI_PIPELINE_URL", base+"/"+full+"/-/pipelines/"+itoa(pl.ID))
	v.add("CI_PIPELINE_CREATED_AT", pl.CreatedAt.UTC().Format("2006-01-02T15:04:05Z"))
	v.add("CI_COMMIT_SHA", pl.SHA)
	short := pl.SHA
	if len(short) > 8 {
		short = short[:8]
	}
	v.add("CI_COMMIT_SHORT_SHA", short)
	before := pl.BeforeSHA
	if before == "" {
		before = "0000000000000000000000000000000000000000"
	}
	v.add("CI_COMMIT_BEFORE_SHA", before)
	v.add("CI_COMMIT_REF_NAME", pl.Ref)
	v.add("CI_COMMIT_REF_SLUG", Slug(pl.Ref))
	v.add("CI_COMMIT_REF_PROTECTED", strconv.FormatBool(pl.Protected))
	if pl.Tag {
		v.add("CI_COMMIT_TAG", pl.Ref)
	} else {
		v.add("CI_COMMIT_BRANCH", pl.Ref)
	}
	if c.Commit != nil {
		v.add("CI_COMMIT_MESSAGE", c.Commit.Message)
		v.add("CI_COMMIT_TITLE", c.Commit.Title)
		v.add("CI_COMMIT_DESCRIPTION", c.Commit.Description)
		v.add("CI_COMMIT_AUTHOR", c.Commit.Author)
		v.add("CI_COMMIT_TIMESTAMP", c.Commit.Timestamp)
	}
	if c.User != nil {
		v.add("GITLAB_USER_ID", itoa(c.User.ID))
		v.add("GITLAB_USER_LOGIN", c.User.Username)
		v.add("GITLAB_USER_EMAIL", c.User.Email)
		v.add("GITLAB_USER_NAME", c.User.Name)
	}
	return v
}

// JobVariables are the predefined variables of one job, to follow the
// pipeline's.
func JobVariables(externalURL string, p *model.Project, j *model.Job) Vars {
	var v Vars
	base := strings.TrimSuffix(externalURL, "/")
	v.add("CI_JOB_ID", itoa(j.ID))
	v.add("CI_JOB_NAME", j.Name)
	v.add("CI_JOB_NAME_SLUG", Slug(j.Name))
	v.add("CI_JOB_STAGE", j.Stage)
	v.add("CI_JOB_URL", base+"/"+p.FullPath()+"/-/jobs/"+itoa(j.ID))
	if j.StartedAt != nil {
		v.add("CI_JOB_STARTED_AT", j.StartedAt.UTC().Format("2006-01-02T15:04:05Z"))
	}
	if j.When == "manual" {
		v.add("CI_JOB_MANUAL", "true")
	}
	v.add("CI_NODE_TOTAL", "1")
	return v
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
