package api

import (
	"encoding/json"
	"errors"
	"hash/maphash"
	"net/http"
	"sync"
	"time"

	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/ci"
	"github.com/ciwarden/ciwarden/internal/gate"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/runnerapi"
	"github.com/ciwarden/ciwarden/internal/store"
)

// jobEntity is GitLab's Job entity. A struct, not a map: GET /job is on
// every job's hot path, and encoding a map sorts its keys each time.
type jobEntity struct {
	ID           int64  `json:"id"`
	Status       string `json:"status"`
	Stage        string `json:"stage"`
	Name         string `json:"name"`
	Ref          string `json:"ref,omitempty"`
	Tag          bool   `json:"tag"`
	AllowFailure bool   `json:"allow_failure"`
	CreatedAt    string `json:"created_at"`
	runTimes
	ErasedAt          *string           `json:"erased_at"`
	Coverage          *float64          `json:"coverage"`
	ArtifactsFile     *artifactFile     `json:"artifacts_file,omitempty"`
	Artifacts         []artifactJSON    `json:"artifacts"`
	ArtifactsExpireAt *string           `json:"artifacts_expire_at"`
	TagList           []string          `json:"tag_list"`
	Runner            *runnerapi.Entity `json:"runner"`
	Archived          bool              `json:"archived"`
	Retried           bool              `json:"retried"`
	WebURL            string            `json:"web_url"`
	When              string            `json:"when"`
	FailureReason     string            `json:"failure_reason,omitempty"`
	Project           jobProject        `json:"project"`
	Pipeline          *pipelineEntity   `json:"pipeline,omitempty"`
	Commit            *commitBasic      `json:"commit,omitempty"`
	User              *userEntity       `json:"user,omitempty"`
}

type jobProject struct {
	CIJobTokenScopeEnabled bool `json:"ci_job_token_scope_enabled"`
}

// commitBasic is the commit a job's entity names.
type commitBasic struct {
	ID      string `json:"id"`
	ShortID string `json:"short_id"`
}

// jobTags reads only the tags of a job's stored spec. GET /job renders
// them on every call, and decoding the whole spec (script, variables...)
// was a tenth of the request's cost (issue 14): the tags are kept by the
// spec's content (a hash with this process's random seed), which a job
// never changes, so that a spec decodes once. The slice is shared: read
// only.
func jobTags(j *model.Job) []string {
	if len(j.Spec) == 0 {
		return []string{}
	}
	h := maphash.Bytes(tagSeed, j.Spec)
	tagMu.RLock()
	tags, ok := tagsBySpec[h]
	tagMu.RUnlock()
	if ok {
		return tags
	}
	var s struct {
		Tags []string `json:"tags"`
	}
	_ = json.Unmarshal(j.Spec, &s)
	if tags = s.Tags; tags == nil {
		tags = []string{}
	}
	tagMu.Lock()
	defer tagMu.Unlock()
	if len(tagsBySpec) >= maxTagSpecs {
		clear(tagsBySpec)
	}
	tagsBySpec[h] = tags
	return tags
}

// maxTagSpecs bounds the tags kept: one entry per distinct job spec in use
// (a few hundred bytes each), far more than the jobs running at once.
const maxTagSpecs = 10_000

var (
	tagSeed    = maphash.MakeSeed()
	tagMu      sync.RWMutex
	tagsBySpec = map[uint64][]string{}
)

func (a *API) jobJSON(c *Ctx, j *model.Job, p *model.Pipeline) *jobEntity {
	e := &jobEntity{
		ID: j.ID, Status: j.Status, Stage: j.Stage, Name: j.Name, AllowFailure: j.AllowFailure,
		CreatedAt: timeJSON(j.CreatedAt), runTimes: newRunTimes(j.QueuedAt, j.StartedAt, j.FinishedAt),
		ErasedAt: timePtrJSON(j.ErasedAt), Artifacts: []artifactJSON{},
		TagList: jobTags(j), Retried: j.Retried, When: j.When, FailureReason: j.FailureReason,
		WebURL: a.webURL(c.Project.FullPath() + "/-/jobs/" + itoa(j.ID)),
	}
	if p != nil {
		e.Ref, e.Tag = p.Ref, p.Tag
		e.Pipeline = a.pipelineJSON(c, p)
		e.Commit = &commitBasic{ID: p.SHA, ShortID: shortSHA(p.SHA)}
	}
	// GitLab's Job entity shows the runner that took the job (null before).
	if r, err := a.CI.JobRunner(c.Context(), j.RunnerID); err == nil && r != nil {
		e.Runner = runnerapi.NewEntity(r, c.now())
	}
	if u := c.Principal.User; u != nil && u.ID == j.UserID {
		e.User = a.userJSON(u, false)
	} else if u, err := a.Store.User(c.Context(), j.UserID); err == nil {
		e.User = a.userJSON(u, false)
	}
	return e
}

func shortSHA(s string) string {
	if len(s) > 8 {
		return s[:8]
	}
	return s
}

var jobScopes = pipelineStatuses

// scopeParam reads scope / scope[] (job statuses).
func (c *Ctx) scopeParam() []string {
	scopes, _ := c.Params.Strings("scope")
	for _, s := range scopes {
		if !jobScopes[s] {
			c.Params.Fail("scope does not have a valid value")
		}
	}
	return scopes
}

func (a *API) listJobs(c *Ctx) error {
	return a.writeJobs(c, 0)
}

func (a *API) pipelineJobs(c *Ctx) error {
	p, err := c.PathPipeline()
	if err != nil {
		return err
	}
	return a.writeJobs(c, p.ID)
}

func (a *API) writeJobs(c *Ctx, pipelineID int64) error {
	f := store.JobFilter{ProjectID: c.Project.ID, PipelineID: pipelineID, Scope: c.scopeParam()}
	f.IncludeRetried, _ = c.Params.Bool("include_retried")
	if err := c.Params.Err(); err != nil {
		return err
	}
	// The page's artifacts in one read, and each of its pipelines once.
	var arts map[int64][]*model.Artifact
	pipelines := map[int64]*model.Pipeline{}
	now := c.now()
	return gate.List(c.Ctx, func(pg store.Page) ([]*model.Job, int, error) {
		jobs, total, err := a.Store.ListJobs(c.Context(), f, pg)
		if err != nil {
			return nil, 0, err
		}
		ids := make([]int64, len(jobs))
		for i, j := range jobs {
			ids[i] = j.ID
			if pipelines[j.PipelineID] == nil {
				if pipelines[j.PipelineID], err = a.Store.Pipeline(c.Context(), j.PipelineID); err != nil {
					return nil, 0, err
				}
			}
		}
		arts, err = a.Store.ArtifactsOfJobs(c.Context(), ids)
		return jobs, total, err
	}, func(j *model.Job) *jobEntity {
		e := a.jobJSON(c, j, pipelines[j.PipelineID])
		e.setArtifacts(arts[j.ID], now)
		return e
	})
}

// authorizeJobRun: retrying or playing a job on a protected ref needs the
// right to update that ref (authz.RunJobOnRef).
func (c *Ctx) authorizeJobRun(j *model.Job) error {
	p, err := c.API.Store.Pipeline(c.Context(), j.PipelineID)
	if err != nil {
		return err
	}
	return c.authorizeRunOn(authz.RunJobOnRef, p.FullRef())
}

func (a *API) writeJob(c *Ctx, status int, j *model.Job) error {
	p, err := a.Store.Pipeline(c.Context(), j.PipelineID)
	if err != nil {
		return err
	}
	arts, err := a.Store.JobArtifacts(c.Context(), j.ID)
	if err != nil {
		return err
	}
	e := a.jobJSON(c, j, p)
	e.setArtifacts(arts, c.now())
	writeJSON(c.W, status, e)
	return nil
}

// artifactFile is the job entity's artifacts_file: its archive.
type artifactFile struct {
	Filename string `json:"filename"`
	Size     int64  `json:"size"`
}

// artifactJSON is one of the job entity's artifacts.
type artifactJSON struct {
	FileType   string `json:"file_type"`
	Size       int64  `json:"size"`
	Filename   string `json:"filename"`
	FileFormat string `json:"file_format"`
}

// setArtifacts fills in a job's unexpired artifacts; an expired one is
// as gone as a deleted one, though the sweeper has not reached it yet.
func (e *jobEntity) setArtifacts(arts []*model.Artifact, now time.Time) {
	for _, a := range arts {
		if a.Expired(now) {
			continue
		}
		e.Artifacts = append(e.Artifacts, artifactJSON{FileType: a.FileType, Size: a.Size, Filename: a.Filename, FileFormat: a.FileFormat})
		if a.FileType == model.ArtifactArchive {
			e.ArtifactsFile = &artifactFile{Filename: a.Filename, Size: a.Size}
			e.ArtifactsExpireAt = timePtrJSON(a.ExpireAt)
		}
	}
}

func (a *API) getJob(c *Ctx) error {
	j, err := c.PathJob()
	if err != nil {
		return err
	}
	return a.writeJob(c, http.StatusOK, j)
}

// jobActionErr turns a state refusal into GitLab's answer.
func jobActionErr(err error, msg string) error {
	if errors.Is(err, ci.ErrNotAllowed) {
		return errMessage(http.StatusForbidden, "403 Forbidden - "+msg)
	}
	return err
}

func (a *API) cancelJob(c *Ctx) error {
	j, err := c.PathJob()
	if err != nil {
		return err
	}
	if model.Complete(j.Status) {
		// GitLab answers a finished job's cancel with the job unchanged.
		return a.writeJob(c, http.StatusCreated, j)
	}
	j, err = a.CI.CancelJob(c.Context(), j.ID)
	if err != nil {
		return jobActionErr(err, "Job is not cancelable")
	}
	return a.writeJob(c, http.StatusCreated, j)
}

func (a *API) retryJob(c *Ctx) error {
	j, err := c.PathJob()
	if err != nil {
		return err
	}
	if err := c.authorizeJobRun(j); err != nil {
		return err
	}
	n, err := a.CI.RetryJob(c.Context(), j.ID, c.Principal.UserID())
	if err != nil {
		return jobActionErr(err, "Job is not retryable")
	}
	return a.writeJob(c, http.StatusCreated, n)
}

func (a *API) playJob(c *Ctx) error {
	j, err := c.PathJob()
	if err != nil {
		return err
	}
	vars, err := c.variablesParam("job_variables_attributes")
	if err != nil {
		return err
	}
	if j.Status != model.StatusManual {
		return errBadRequest("Unplayable Job")
	}
	// On a protected ref the player also needs the right to push or merge
	// to it (GitLab's play rule; check protected_ref).
	if err := c.authorizeJobRun(j); err != nil {
		return err
	}
	j, err = a.CI.Play(c.Context(), j.ID, c.Principal.UserID(), vars)
	if err != nil {
		if errors.Is(err, ci.ErrNotAllowed) {
			return errBadRequest("Unplayable Job")
		}
		return err
	}
	return a.writeJob(c, http.StatusOK, j)
}

// eraseJob: Maintainers, or the Developer who ran the job.
func (a *API) eraseJob(c *Ctx) error {
	j, err := c.PathJob()
	if err != nil {
		return err
	}
	if err := c.Authorize(authz.EraseJob, gate.Owner(j.UserID == c.Principal.UserID())); err != nil {
		return err
	}
	j, err = a.CI.Erase(c.Context(), j.ID)
	if err != nil {
		return jobActionErr(err, "Job is not erasable!")
	}
	return a.writeJob(c, http.StatusCreated, j)
}

// currentJob is GET /job: the job token's own job. A personal access
// token has no job: 404.
func (a *API) currentJob(c *Ctx) error {
	j := c.Principal.Job
	if j == nil {
		return errNotFound("")
	}
	// Authentication read the job's project and pipeline (or the token
	// cache holds them): no further reads on this hot path.
	c.Project = c.Principal.Project
	writeJSON(c.W, http.StatusOK, a.jobJSON(c, j, c.Principal.Pipeline))
	return nil
}

// jobTrace is GET /projects/:id/jobs/:job_id/trace: the stored, masked log.
func (a *API) jobTrace(c *Ctx) error {
	j, err := c.PathJob()
	if err != nil {
		return err
	}
	data, err := a.Store.Trace(c.Context(), j.ID)
	if err != nil {
		return err
	}
	return c.Text(data)
}
