package model

import "time"

// Job and pipeline statuses, GitLab's names.
const (
	StatusCreated   = "created"
	StatusPending   = "pending"
	StatusRunning   = "running"
	StatusSuccess   = "success"
	StatusFailed    = "failed"
	StatusCanceled  = "canceled"
	StatusCanceling = "canceling"
	StatusSkipped   = "skipped"
	StatusManual    = "manual"
	StatusScheduled = "scheduled"
)

// Pipeline sources, GitLab's names (CI_PIPELINE_SOURCE).
const (
	SourcePush     = "push"
	SourceWeb      = "web"
	SourceAPI      = "api"
	SourceTrigger  = "trigger"
	SourcePipeline = "pipeline"
	SourceSchedule = "schedule"
	// SourceParentPipeline is a child pipeline of trigger:include.
	SourceParentPipeline = "parent_pipeline"
)

// Variable is a CI/CD variable as a pipeline or job carries it.
type Variable struct {
	Key    string `json:"key"`
	Value  string `json:"value"`
	Raw    bool   `json:"raw,omitempty"`
	Masked bool   `json:"masked,omitempty"`
	// File: the runner writes the value to a file and the variable holds
	// its path (a CI/CD variable of type file).
	File bool `json:"file,omitempty"`
	// Private: not public even when not masked (a CI/CD variable kept in
	// settings, not in the repository).
	Private bool `json:"private,omitempty"`
}

// Pipeline is one run of a project's .gitlab-ci.yml at one commit.
type Pipeline struct {
	ID        int64
	IID       int64 // per project
	ProjectID int64
	Ref       string
	Tag       bool
	SHA       string
	BeforeSHA string
	Source    string
	Status    string
	UserID    int64
	// YAMLErrors holds why the configuration was refused; the pipeline is
	// then failed with no jobs.
	YAMLErrors string
	Variables  []Variable // given when the pipeline was created (API, trigger)
	// Upstream: the job that triggered this pipeline (a job token's
	// trigger call, or a trigger: bridge), its pipeline and project; 0 for
	// a pipeline nothing upstream made (GitLab's source_job and
	// source_pipeline).
	SourceJobID      int64
	SourcePipelineID int64
	SourceProjectID  int64
	// TriggerID is the trigger token that created the pipeline (source
	// trigger), 0 otherwise.
	TriggerID int64
	// Protected: a protected branch or tag rule covered Ref when the
	// pipeline was created (CI_COMMIT_REF_PROTECTED).
	Protected  bool
	CreatedAt  time.Time
	UpdatedAt  time.Time
	StartedAt  *time.Time
	FinishedAt *time.Time
	// ScheduleID is the pipeline schedule that created the pipeline
	// (source schedule), 0 otherwise. Written when the pipeline is
	// created; listings filter on it (store.PipelineFilter).
	ScheduleID int64
}

// FullRef is the full name of the pipeline's ref (refs/heads/... or
// refs/tags/...), what protected refs are matched against.
func (p *Pipeline) FullRef() string {
	if p.Tag {
		return "refs/tags/" + p.Ref
	}
	return "refs/heads/" + p.Ref
}

// Job is one job of a pipeline. A retry creates a new Job and marks the
// old one Retried; only the latest of a name counts for the pipeline.
type Job struct {
	ID           int64
	PipelineID   int64
	ProjectID    int64
	Name         string
	Stage        string
	StageIdx     int
	Status       string
	When         string
	AllowFailure bool
	UserID       int64
	// DAG jobs (with needs:) wait for their needs rather than earlier
	// stages.
	DAG   bool
	Needs []string // names of jobs this one waits for (DAG)
	// Spec is the job's resolved configuration (script, variables,
	// artifacts, ...) as the ci package encodes it.
	Spec          []byte
	Retried       bool
	ScheduledAt   *time.Time
	CreatedAt     time.Time
	QueuedAt      *time.Time
	StartedAt     *time.Time
	FinishedAt    *time.Time
	ErasedAt      *time.Time
	FailureReason string
	ExitCode      *int
	RunnerID      int64
	// TimeoutSeconds is the job's timeout, enforced by the server as well
	// as by the runner.
	TimeoutSeconds int
	// ContactedAt is when the job's runner last called about it, recorded
	// at most every few seconds; nil before its first call.
	ContactedAt *time.Time
	// The trace as the runner sent it: its size (the offsets the runner
	// uses) and CRC32, and the masker's state between requests. The stored
	// log is the masked text, whose size may differ.
	TraceSize  int64
	TraceCRC   uint32
	TraceState []byte
	// TokenRestricted: the job declared `job_token: permissions:`, and its
	// token may do only what TokenPermissions lists.
	TokenRestricted  bool
	TokenPermissions []string
	// Bridge: a trigger: job, which never goes to a runner and which job
	// listings leave out (GitLab lists bridges apart). Written when the
	// job is created; loaded jobs tell by their spec (ci.IsBridge).
	Bridge bool
}

// Complete reports whether status is final.
func Complete(status string) bool {
	switch status {
	case StatusSuccess, StatusFailed, StatusCanceled, StatusSkipped:
		return true
	}
	return false
}

// Active reports whether a job in status is executing or queued.
func Active(status string) bool {
	switch status {
	case StatusPending, StatusRunning, StatusCanceling:
		return true
	}
	return false
}
