package testserver

// The job payload as gitlab-runner decodes it: Go types that mirror
// gitlab-runner's own (common/network.go, common/spec/spec.go), written
// from runner-protocol.md and not from ciwarden's code, so that a payload
// the real runner would refuse fails to decode here too.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ---- gitlab-runner's types (the fields the contract names) ----

// JobResponse mirrors spec.Job / common.JobResponse.
type JobResponse struct {
	ID            int64          `json:"id"`
	Token         string         `json:"token"`
	AllowGitFetch bool           `json:"allow_git_fetch"`
	JobInfo       JobInfo        `json:"job_info"`
	GitInfo       GitInfo        `json:"git_info"`
	RunnerInfo    RunnerInfo     `json:"runner_info"`
	Variables     []JobVariable  `json:"variables"`
	Steps         []Step         `json:"steps"`
	Image         Image          `json:"image"`
	Services      []Image        `json:"services"`
	Artifacts     []Artifact     `json:"artifacts"`
	Cache         []Cache        `json:"cache"`
	Credentials   []Credentials  `json:"credentials"`
	Dependencies  []Dependency   `json:"dependencies"`
	Features      GitlabFeatures `json:"features"`
	Hooks         []Hook         `json:"hooks"`
	// Run is the quirky field of §6.2: absent or a JSON string holding a
	// steps array; null, "" and [] make the runner lose the job.
	Run RunField `json:"run"`
}

type JobInfo struct {
	Name                                     string  `json:"name"`
	Stage                                    string  `json:"stage"`
	ProjectID                                int64   `json:"project_id"`
	ProjectName                              string  `json:"project_name"`
	ProjectFullPath                          string  `json:"project_full_path"`
	PipelineID                               int64   `json:"pipeline_id"`
	NamespaceID                              int64   `json:"namespace_id"`
	RootNamespaceID                          int64   `json:"root_namespace_id"`
	UserID                                   int64   `json:"user_id"`
	TimeInQueueSeconds                       float64 `json:"time_in_queue_seconds"`
	ProjectJobsRunningOnInstanceRunnersCount string  `json:"project_jobs_running_on_instance_runners_count"`
	QueueSize                                int64   `json:"queue_size"`
	QueueDepth                               int64   `json:"queue_depth"`
}

type GitInfo struct {
	RepoURL          string   `json:"repo_url"`
	RepoObjectFormat string   `json:"repo_object_format"`
	Ref              string   `json:"ref"`
	Sha              string   `json:"sha"`
	BeforeSha        string   `json:"before_sha"`
	RefType          string   `json:"ref_type"`
	Refspecs         []string `json:"refspecs"`
	Depth            int      `json:"depth"`
	Protected        *bool    `json:"protected"`
}

type RunnerInfo struct {
	Timeout int    `json:"timeout"`
	UUID    string `json:"uuid"`
}

type JobVariable struct {
	Key    string `json:"key"`
	Value  string `json:"value"`
	Public bool   `json:"public"`
	File   bool   `json:"file"`
	Masked bool   `json:"masked"`
	Raw    bool   `json:"raw"`
}

type Step struct {
	Name         string   `json:"name"`
	Script       []string `json:"script"`
	Timeout      int      `json:"timeout"`
	When         string   `json:"when"`
	AllowFailure bool     `json:"allow_failure"`
}

type Image struct {
	Name            string           `json:"name"`
	Alias           string           `json:"alias"`
	Command         []string         `json:"command"`
	Entrypoint      []string         `json:"entrypoint"`
	Ports           []map[string]any `json:"ports"`
	Variables       []JobVariable    `json:"variables"`
	PullPolicies    []string         `json:"pull_policy"`
	ExecutorOptions ExecutorOptions  `json:"executor_opts"`
}

// ExecutorOptions refuses unknown keys, as the runner does (§6.2).
type ExecutorOptions struct {
	Docker     map[string]any `json:"docker"`
	Kubernetes map[string]any `json:"kubernetes"`
}

func (e *ExecutorOptions) UnmarshalJSON(b []byte) error {
	type plain ExecutorOptions
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	var p plain
	if err := d.Decode(&p); err != nil {
		return fmt.Errorf("executor_opts: %w", err)
	}
	*e = ExecutorOptions(p)
	return nil
}

type Artifact struct {
	Name      string   `json:"name"`
	Untracked bool     `json:"untracked"`
	Paths     []string `json:"paths"`
	Exclude   []string `json:"exclude"`
	When      string   `json:"when"`
	Type      string   `json:"artifact_type"`
	Format    string   `json:"artifact_format"`
	ExpireIn  string   `json:"expire_in"`
}

type Cache struct {
	Key          string   `json:"key"`
	Untracked    bool     `json:"untracked"`
	Policy       string   `json:"policy"`
	Paths        []string `json:"paths"`
	When         string   `json:"when"`
	FallbackKeys []string `json:"fallback_keys"`
}

type Credentials struct {
	Type     string `json:"type"`
	URL      string `json:"url"`
	Username string `json:"username"`
	Password string `json:"password"`
}

type Dependency struct {
	ID            int64  `json:"id"`
	Token         string `json:"token"`
	Name          string `json:"name"`
	ArtifactsFile struct {
		Filename string `json:"filename"`
		Size     int64  `json:"size"`
	} `json:"artifacts_file"`
}

type GitlabFeatures struct {
	TraceSections     bool     `json:"trace_sections"`
	TokenMaskPrefixes []string `json:"token_mask_prefixes"`
	FailureReasons    []string `json:"failure_reasons"`
}

type Hook struct {
	Name   string   `json:"name"`
	Script []string `json:"script"`
}

// RunField decodes "run" as the runner does: a JSON string, parsed again
// as a steps array.
type RunField struct {
	Steps []map[string]any
	Set   bool
}

func (r *RunField) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("run: %w", err)
	}
	if err := json.Unmarshal([]byte(s), &r.Steps); err != nil {
		return fmt.Errorf("run: %w", err)
	}
	r.Set = true
	return nil
}

// CheckRawPayload walks the raw job JSON: no "run" key (at any depth),
// and every *_at value null or RFC 3339 (never "").
func CheckRawPayload(t testing.TB, raw []byte) {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("payload is not JSON: %v", err)
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				p := path + "." + k
				if k == "run" {
					t.Errorf("payload has a %q key (%v): gitlab-runner loses the job unless it is absent or a JSON string holding a steps array", p, e)
				}
				if strings.HasSuffix(k, "_at") || k == "expires_at" {
					switch tv := e.(type) {
					case nil:
					case string:
						if _, err := time.Parse(time.RFC3339, tv); err != nil {
							t.Errorf("payload %s = %q: time values must be null or RFC 3339", p, tv)
						}
					default:
						t.Errorf("payload %s = %v (%T): time values must be null or RFC 3339", p, tv, tv)
					}
				}
				walk(p, e)
			}
		case []any:
			for i, e := range x {
				walk(path+"["+strconv.Itoa(i)+"]", e)
			}
		}
	}
	walk("", v)
}
