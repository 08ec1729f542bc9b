// Package runnerproto holds the runner protocol's wire types: the job
// payload a runner receives from POST /api/v4/jobs/request, in the shape
// gitlab-runner decodes (docs/runner-protocol.md). The server builds it
// (internal/ci) and the built-in runner reads it (internal/runner); both
// import this package and nothing of each other. Fields the runner would
// choke on (`run`, empty times) are never sent.
package runnerproto

// Payload is a job as a runner receives it.
type Payload struct {
	ID            int64               `json:"id"`
	Token         string              `json:"token"`
	AllowGitFetch bool                `json:"allow_git_fetch"`
	JobInfo       JobInfo             `json:"job_info"`
	GitInfo       GitInfo             `json:"git_info"`
	RunnerInfo    RunnerInfo          `json:"runner_info"`
	Variables     []PayloadVar        `json:"variables"`
	Steps         []Step              `json:"steps"`
	Image         map[string]any      `json:"image"`
	Artifacts     []PayloadArtifact   `json:"artifacts"`
	Cache         []PayloadCache      `json:"cache"`
	Dependencies  []PayloadDependency `json:"dependencies"`
	Features      Features            `json:"features"`
}

// PayloadArtifact is one artifacts[] entry: something the runner uploads
// after the script (runner-protocol.md §6 and §10.1).
type PayloadArtifact struct {
	Name      string   `json:"name"`
	Untracked bool     `json:"untracked"`
	Paths     []string `json:"paths"`
	Exclude   []string `json:"exclude"`
	// When: on_success, on_failure or always.
	When     string `json:"when"`
	Type     string `json:"artifact_type"`   // archive, junit, dotenv, ...
	Format   string `json:"artifact_format"` // zip, gzip, raw
	ExpireIn string `json:"expire_in"`
}

// PayloadDependency is one dependencies[] entry: a job whose artifacts the
// runner downloads before the script (runner-protocol.md §10.2).
type PayloadDependency struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	// Token is the running job's own token, not the dependency's.
	Token string `json:"token"`
	// ArtifactsFile is present only when the dependency has unexpired
	// artifacts.
	ArtifactsFile *DependencyArtifactsFile `json:"artifacts_file,omitempty"`
}

// DependencyArtifactsFile describes a dependency's archive.
type DependencyArtifactsFile struct {
	Filename string `json:"filename"`
	Size     int64  `json:"size"`
}

type JobInfo struct {
	Name               string `json:"name"`
	Stage              string `json:"stage"`
	PipelineID         int64  `json:"pipeline_id"`
	ProjectID          int64  `json:"project_id"`
	ProjectName        string `json:"project_name"`
	ProjectFullPath    string `json:"project_full_path"`
	NamespaceID        int64  `json:"namespace_id"`
	RootNamespaceID    int64  `json:"root_namespace_id"`
	UserID             int64  `json:"user_id"`
	TimeInQueueSeconds int64  `json:"time_in_queue_seconds"`
	ProjectJobsRunning string `json:"project_jobs_running_on_instance_runners_count"`
	QueueSize          int64  `json:"queue_size"`
	QueueDepth         int64  `json:"queue_depth"`
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
}

type RunnerInfo struct {
	Timeout int `json:"timeout"`
}

type PayloadVar struct {
	Key    string `json:"key"`
	Value  string `json:"value"`
	Public bool   `json:"public"`
	Masked bool   `json:"masked"`
	Raw    bool   `json:"raw,omitempty"`
	// File: the runner writes Value to a temporary file and sets the
	// variable to its path (gitlab-runner's JobVariable.File).
	File bool `json:"file,omitempty"`
}

// StepRelease names the release step (gitlab-runner's StepNameRelease):
// a job's `release:` as a release-cli command, run after its script.
const StepRelease = "release"

type Step struct {
	Name         string   `json:"name"`
	Script       []string `json:"script"`
	Timeout      int      `json:"timeout"`
	When         string   `json:"when"`
	AllowFailure bool     `json:"allow_failure"`
}

type PayloadCache struct {
	Key          string   `json:"key"`
	Untracked    bool     `json:"untracked"`
	Policy       string   `json:"policy"`
	Paths        []string `json:"paths"`
	When         string   `json:"when"`
	FallbackKeys []string `json:"fallback_keys"`
}

type Features struct {
	TraceSections     bool     `json:"trace_sections"`
	TokenMaskPrefixes []string `json:"token_mask_prefixes"`
	FailureReasons    []string `json:"failure_reasons"`
}

// FailureReasons are the reasons a runner may report.
var FailureReasons = []string{"unknown_failure", "script_failure", "api_failure", "stuck_or_timeout_failure",
	"runner_system_failure", "job_execution_timeout", "archived_failure", "unmet_prerequisites", "data_integrity_failure"}
