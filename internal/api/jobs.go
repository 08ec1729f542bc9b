package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/ci"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/store"
)

func durationJSON(start, end *time.Time) any {
	if start == nil || end == nil {
		return nil
	}
	return end.Sub(*start).Seconds()
}

// jobJSON is GitLab's Job entity.
func (a *API) jobJSON(c *Ctx, j *model.Job, p *model.Pipeline) map[string]any {
	spec := ci.SpecOf(j)
	tags := spec.Tags
	if tags == nil {
		tags = []string{}
	}
	m := map[string]any{
		"id": j.ID, "status": j.Status, "stage": j.Stage, "name": j.Name, "allow_failure": j.AllowFailure,
		"created_at": timeJSON(j.CreatedAt), "started_at": timePtrJSON(j.StartedAt), "finished_at": timePtrJSON(j.FinishedAt),
		"erased_at": timePtrJSON(j.ErasedAt), "duration": durationJSON(j.StartedAt, j.FinishedAt),
		"queued_duration": durationJSON(j.QueuedAt, j.StartedAt), "coverage": nil, "artifacts": []any{},
		"artifacts_expire_at": nil, "tag_list": tags, "runner": nil, "archived": false, "retried": j.Retried,
		"web_url": a.webURL(c.Project.FullPath() + "/-/jobs/" + itoa(j.ID)), "when": j.When,
		"project": map[string]any{"ci_job_token_scope_enabled": false},
	}
	if j.FailureReason != "" {
		m["failure_reason"] = j.FailureReason
	}
	if p != nil {
		m["ref"] = p.Ref
		m["tag"] = p.Tag
		m["pipeline"] = map[string]any{"id": p.ID, "iid": p.IID, "project_id": p.ProjectID, "ref": p.Ref, "sha": p.SHA,
			"status": p.Status, "source": p.Source, "created_at": timeJSON(p.CreatedAt), "updated_at": timeJSON(p.UpdatedAt),
			"web_url": a.webURL(c.Project.FullPath() + "/-/pipelines/" + itoa(p.ID))}
		m["commit"] = map[string]any{"id": p.SHA, "short_id": shortSHA(p.SHA)}
	}
	if u, err := a.Store.User(c.Context(), j.UserID); err == nil {
		m["user"] = a.userJSON(u, false)
	}
	return m
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
			c.Params.fail("scope does not have a valid value")
		}
	}
	return scopes
}

func (a *API) listJobs(c *Ctx) error {
	return a.writeJobs(c, 0)
}

func (a *API) pipelineJobs(c *Ctx) error {
	p, err := c.pathPipeline()
	if err != nil {
		return err
	}
	return a.writeJobs(c, p.ID)
}

func (a *API) writeJobs(c *Ctx, pipelineID int64) error {
	pg, err := c.page()
	if err != nil {
		return err
	}
	f := store.JobFilter{ProjectID: c.Project.ID, PipelineID: pipelineID, Scope: c.scopeParam()}
	f.IncludeRetried, _ = c.Params.Bool("include_retried")
	if err := c.Params.Err(); err != nil {
		return err
	}
	jobs, total, err := a.Store.ListJobs(c.Context(), f, pg)
	if err != nil {
		return err
	}
	pipelines := map[int64]*model.Pipeline{}
	out := make([]map[string]any, 0, len(jobs))
	for _, j := range jobs {
		p, ok := pipelines[j.PipelineID]
		if !ok {
			if p, err = a.Store.Pipeline(c.Context(), j.PipelineID); err != nil {
				return err
			}
			pipelines[j.PipelineID] = p
		}
		out = append(out, a.jobJSON(c, j, p))
	}
	c.writePage(out, pg, total)
	return nil
}

// pathJob loads {job_id} of the route's project.
func (c *Ctx) pathJob() (*model.Job, error) {
	id, err := c.pathInt("job_id")
	if err != nil {
		return nil, err
	}
	j, err := c.API.Store.Job(c.Context(), id)
	if errors.Is(err, model.ErrNotFound) || (err == nil && j.ProjectID != c.Project.ID) {
		return nil, errNotFound("")
	}
	return j, err
}

func (a *API) writeJob(c *Ctx, status int, j *model.Job) error {
	p, err := a.Store.Pipeline(c.Context(), j.PipelineID)
	if err != nil {
		return err
	}
	writeJSON(c.W, status, a.jobJSON(c, j, p))
	return nil
}

func (a *API) getJob(c *Ctx) error {
	j, err := c.pathJob()
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
	j, err := c.pathJob()
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
	j, err := c.pathJob()
	if err != nil {
		return err
	}
	n, err := a.CI.RetryJob(c.Context(), j.ID, c.Principal.UserID())
	if err != nil {
		return jobActionErr(err, "Job is not retryable")
	}
	return a.writeJob(c, http.StatusCreated, n)
}

func (a *API) playJob(c *Ctx) error {
	j, err := c.pathJob()
	if err != nil {
		return err
	}
	if j.Status != model.StatusManual {
		return errBadRequest("Unplayable Job")
	}
	j, err = a.CI.UpdateJob(c.Context(), j.ID, ci.EvPlay, func(j *model.Job) { j.UserID = c.Principal.UserID() })
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
	j, err := c.pathJob()
	if err != nil {
		return err
	}
	if j.UserID != c.Principal.UserID() {
		if err := c.authorizeProject(c.Project, authz.EraseJob); err != nil {
			return err
		}
	}
	j, err = a.CI.Erase(c.Context(), j.ID)
	if err != nil {
		return jobActionErr(err, "Job is not erasable!")
	}
	return a.writeJob(c, http.StatusCreated, j)
}
