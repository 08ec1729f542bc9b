package web

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/ci"
	"github.com/ciwarden/ciwarden/internal/gate"
	"github.com/ciwarden/ciwarden/internal/model"
)

// The pipeline and job buttons: the same ci.Service calls and checks as
// POST .../pipelines/:id/cancel|retry and .../jobs/:id/play|retry|cancel.
// Running again on a protected ref needs the right to update it
// (authz.RunJobOnRef, decided with the ref's protection).

func (u *UI) back(c *gate.Ctx, path string) error {
	http.Redirect(c.W, c.R, "/"+c.Project.FullPath()+path, http.StatusSeeOther)
	return nil
}

func (u *UI) cancelPipeline(c *gate.Ctx) error {
	p, err := c.PathPipeline()
	if err != nil {
		return err
	}
	if err := u.CI.Cancel(c.Context(), p.ID); err != nil {
		return err
	}
	return u.back(c, "/-/pipelines/"+strconv.FormatInt(p.ID, 10))
}

func (u *UI) retryPipeline(c *gate.Ctx) error {
	p, err := c.PathPipeline()
	if err != nil {
		return err
	}
	if err := c.AuthorizeRef(authz.RunJobOnRef, p.FullRef()); err != nil {
		return err
	}
	if err := u.CI.RetryPipeline(c.Context(), p.ID, c.Principal.UserID()); err != nil {
		if errors.Is(err, ci.ErrNotAllowed) {
			return gate.Forbidden
		}
		return err
	}
	return u.back(c, "/-/pipelines/"+strconv.FormatInt(p.ID, 10))
}

// authorizeJobRun: retrying or playing j needs the right to run on its
// pipeline's ref.
func (u *UI) authorizeJobRun(c *gate.Ctx, j *model.Job) error {
	p, err := u.Store.Pipeline(c.Context(), j.PipelineID)
	if err != nil {
		return err
	}
	return c.AuthorizeRef(authz.RunJobOnRef, p.FullRef())
}

func (u *UI) jobAction(c *gate.Ctx) error {
	j, err := c.PathJob()
	if err != nil {
		return err
	}
	var next *model.Job
	switch c.R.PathValue("action") {
	case "play":
		if j.Status != model.StatusManual {
			return gate.BadRequest("Unplayable Job")
		}
		if err := u.authorizeJobRun(c, j); err != nil {
			return err
		}
		if next, err = u.CI.Play(c.Context(), j.ID, c.Principal.UserID(), nil); errors.Is(err, ci.ErrNotAllowed) {
			return gate.BadRequest("Unplayable Job")
		}
	case "retry":
		if err := u.authorizeJobRun(c, j); err != nil {
			return err
		}
		if next, err = u.CI.RetryJob(c.Context(), j.ID, c.Principal.UserID()); errors.Is(err, ci.ErrNotAllowed) {
			return gate.Message(http.StatusForbidden, "403 Forbidden - Job is not retryable")
		}
	case "cancel":
		next = j
		if !model.Complete(j.Status) {
			if next, err = u.CI.CancelJob(c.Context(), j.ID); errors.Is(err, ci.ErrNotAllowed) {
				return gate.Message(http.StatusForbidden, "403 Forbidden - Job is not cancelable")
			}
		}
	default:
		return gate.NotFound("")
	}
	if err != nil {
		return err
	}
	return u.back(c, "/-/jobs/"+strconv.FormatInt(next.ID, 10))
}
