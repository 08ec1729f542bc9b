package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/ci"
	"github.com/ciwarden/ciwarden/internal/gate"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/store"
)

var pipelineStatuses = map[string]bool{
	model.StatusCreated: true, model.StatusPending: true, model.StatusRunning: true, model.StatusSuccess: true,
	model.StatusFailed: true, model.StatusCanceled: true, model.StatusCanceling: true, model.StatusSkipped: true,
	model.StatusManual: true, model.StatusScheduled: true,
}

func (a *API) listPipelines(c *Ctx) error {
	f := store.PipelineFilter{ProjectID: c.Project.ID}
	f.Ref, _ = c.Params.String("ref")
	f.SHA, _ = c.Params.String("sha")
	f.Source, _ = c.Params.String("source")
	if f.Status, _ = c.Params.String("status"); f.Status != "" && !pipelineStatuses[f.Status] {
		c.Params.Fail("status does not have a valid value")
	}
	f.Sort = c.sortParam("")
	if err := c.Params.Err(); err != nil {
		return err
	}
	return gate.List(c.Ctx, func(pg store.Page) ([]*model.Pipeline, int, error) {
		return a.Store.ListPipelines(c.Context(), f, pg)
	}, func(p *model.Pipeline) *pipelineEntity { return a.pipelineJSON(c, p) })
}

// sortParam reads sort (asc or desc, by id); def when it is not given.
func (c *Ctx) sortParam(def string) string {
	sort, _ := c.Params.String("sort")
	if sort == "" {
		return def
	}
	if sort != "asc" && sort != "desc" {
		c.Params.Fail("sort does not have a valid value")
	}
	return sort
}

func (a *API) getPipeline(c *Ctx) error {
	p, err := c.PathPipeline()
	if err != nil {
		return err
	}
	writeJSON(c.W, http.StatusOK, a.pipelineDetailJSON(c, p))
	return nil
}

// createPipeline is POST /projects/:id/pipeline (ref, variables).
func (a *API) createPipeline(c *Ctx) error {
	c.Params.Require("ref")
	ref, _ := c.Params.String("ref")
	vars, err := c.variablesParam("variables")
	if err != nil {
		return err
	}
	if err := c.Params.Err(); err != nil {
		return err
	}
	full, sha, err := a.CI.ResolveRef(c.Context(), c.Project.ID, ref)
	if err != nil {
		return pipelineErr(err)
	}
	if err := c.authorizeRunOn(authz.CreatePipelineOnRef, full); err != nil {
		return err
	}
	p, err := a.CI.CreatePipeline(c.Context(), ci.CreateInput{Project: c.Project, User: c.Principal.User, Ref: ref,
		SHA: sha, Tag: strings.HasPrefix(full, "refs/tags/"), Source: model.SourceAPI, Variables: vars, RefuseInvalid: true})
	if err != nil {
		return pipelineErr(err)
	}
	writeJSON(c.W, http.StatusCreated, a.pipelineDetailJSON(c, p))
	return nil
}

// authorizeRunOn decides act (running a pipeline or a job) on a ref, which
// a protected ref may refuse: creating a pipeline is refused as GitLab's
// pipeline validation does, 400 {"message": {"base": ["..."]}}.
func (c *Ctx) authorizeRunOn(act authz.Action, fullRef string) error {
	err := c.AuthorizeRef(act, fullRef)
	var denied *gate.Denied
	if act.Ref == authz.RefRunPipeline && errors.As(err, &denied) && denied.Decision.Check == authz.CheckProtectedRef {
		return &model.ValidationError{Fields: map[string][]string{"base": {denied.Decision.Message}}}
	}
	return err
}

// pipelineErr makes a refusal to create a pipeline a validation error of
// base, which GitLab answers 400 {"message": {"base": ["..."]}}.
func pipelineErr(err error) error {
	var refused *ci.RefusedError
	if errors.As(err, &refused) {
		return &model.ValidationError{Fields: map[string][]string{"base": {refused.Reason}}}
	}
	return err
}

// variablesParam reads a list of variables, [{key, value}]: a pipeline's
// variables, a played job's job_variables_attributes.
func (c *Ctx) variablesParam(name string) ([]model.Variable, error) {
	raw, ok := c.Params.Raw(name)
	if !ok {
		return nil, nil
	}
	invalid := errParam(name + " is invalid")
	list, ok := raw.([]any)
	if !ok {
		return nil, invalid
	}
	var out []model.Variable
	for _, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			return nil, invalid
		}
		k, kok := m["key"].(string)
		v, vok := m["value"].(string)
		if !kok || !vok || !validVarName(k) {
			return nil, invalid
		}
		out = append(out, model.Variable{Key: k, Value: v})
	}
	return out, nil
}

func validVarName(k string) bool {
	if k == "" || len(k) > 255 {
		return false
	}
	for i, r := range k {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

func (a *API) cancelPipeline(c *Ctx) error {
	p, err := c.PathPipeline()
	if err != nil {
		return err
	}
	if err := a.CI.Cancel(c.Context(), p.ID); err != nil {
		return err
	}
	return a.writePipeline(c, p.ID)
}

func (a *API) retryPipeline(c *Ctx) error {
	p, err := c.PathPipeline()
	if err != nil {
		return err
	}
	if err := c.authorizeRunOn(authz.RunJobOnRef, p.FullRef()); err != nil {
		return err
	}
	if err := a.CI.RetryPipeline(c.Context(), p.ID, c.Principal.UserID()); err != nil {
		if errors.Is(err, ci.ErrNotAllowed) {
			return errForbidden
		}
		return err
	}
	return a.writePipeline(c, p.ID)
}

func (a *API) writePipeline(c *Ctx, id int64) error {
	p, err := a.Store.Pipeline(c.Context(), id)
	if err != nil {
		return err
	}
	// GitLab answers cancel and retry with 201.
	writeJSON(c.W, http.StatusCreated, a.pipelineDetailJSON(c, p))
	return nil
}

func (a *API) deletePipeline(c *Ctx) error {
	p, err := c.PathPipeline()
	if err != nil {
		return err
	}
	if err := a.Store.DeletePipeline(c.Context(), p.ID); err != nil {
		return err
	}
	c.W.WriteHeader(http.StatusNoContent)
	return nil
}
