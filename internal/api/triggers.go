package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"sort"

	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/ci"
	"github.com/ciwarden/ciwarden/internal/gate"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/store"
)

// triggerAPI is how the trigger API takes its credential: the token
// parameter only (query, form or JSON), holding a job token or a pipeline
// trigger token (gitlab-compat.md §1, §3.5). Nothing else is looked at: a
// PRIVATE-TOKEN header is ignored there, as in GitLab.
var triggerAPI = Accepts{JobToken: auth.TriggerParam, TriggerToken: true}

// triggerPipeline is POST /projects/:id/trigger/pipeline (token, ref,
// variables[KEY]=value) and its webhook form POST
// /projects/:id/ref/:ref/trigger/pipeline?token=. The gate has decided
// authz.TriggerPipeline for the token's user; the pipeline runs as that
// user: source pipeline, downstream of the job, for a job token; source
// trigger for a trigger token.
func (a *API) triggerPipeline(c *Ctx) error {
	ref := c.R.PathValue("ref")
	if ref == "" {
		c.Params.Require("ref")
		ref, _ = c.Params.String("ref")
	}
	vars, err := c.triggerVariables()
	if err != nil {
		return err
	}
	if err := c.Params.Err(); err != nil {
		return err
	}
	// A pipeline on a protected ref needs the right to push or merge to
	// it, however it is run (GitLab; README, Protected branches and tags).
	full, _, err := a.CI.ResolveRef(c.Context(), c.Project.ID, ref)
	if err != nil {
		return pipelineErr(err)
	}
	if err := c.authorizeRunOn(authz.TriggerPipelineOnRef, full); err != nil {
		return err
	}
	p, err := a.CI.Trigger(c.Context(), ci.TriggerInput{Project: c.Project, Who: c.Principal, Ref: ref, Variables: vars,
		Payload: c.triggerPayload(ref)})
	if err != nil {
		return pipelineErr(err)
	}
	writeJSON(c.W, http.StatusCreated, a.pipelineDetailJSON(c, p))
	return nil
}

// triggerPayload is TRIGGER_PAYLOAD: the call's parameters, the path's id
// and ref among them, without its token, as GitLab passes them on (a
// webhook's body is the payload a job reads).
func (c *Ctx) triggerPayload(ref string) []byte {
	m := c.Params.Object("token")
	m["id"], m["ref"] = c.R.PathValue("id"), ref
	b, err := json.Marshal(m)
	if err != nil {
		return nil // a JSON body decoded: it encodes
	}
	return b
}

// triggerVariables reads variables[KEY]=value (or a JSON object): the
// run's variables, in a stable order.
func (c *Ctx) triggerVariables() ([]model.Variable, error) {
	m, _, err := c.Params.Hash("variables")
	if err != nil {
		return nil, err
	}
	out := make([]model.Variable, 0, len(m))
	for k, v := range m {
		if !validVarName(k) {
			return nil, errParam("variables is invalid")
		}
		out = append(out, model.Variable{Key: k, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// triggerEntity is GitLab's Trigger entity. The token is whole only in
// the answer that created it: ciwarden keeps its digest, and shows its
// first four characters afterwards, as GitLab shows other users' tokens.
type triggerEntity struct {
	ID          int64       `json:"id"`
	Token       string      `json:"token"`
	Description string      `json:"description"`
	CreatedAt   string      `json:"created_at"`
	UpdatedAt   string      `json:"updated_at"`
	LastUsed    *string     `json:"last_used"`
	Owner       *userEntity `json:"owner"`
}

func (a *API) triggerJSON(c *Ctx, t *model.Trigger, secret string) *triggerEntity {
	e := &triggerEntity{ID: t.ID, Token: t.ShortToken, Description: t.Description, CreatedAt: timeJSON(t.CreatedAt),
		UpdatedAt: timeJSON(t.UpdatedAt), LastUsed: timePtrJSON(t.LastUsedAt)}
	if secret != "" {
		e.Token = secret
	}
	if u, err := a.Store.User(c.Context(), t.OwnerID); err == nil {
		e.Owner = a.userJSON(u, false)
	}
	return e
}

func (c *Ctx) pathTrigger() (*model.Trigger, error) {
	id, err := c.PathInt("trigger_id")
	if err != nil {
		return nil, err
	}
	t, err := c.API.Store.Trigger(c.Context(), c.Project.ID, id)
	if errors.Is(err, model.ErrNotFound) {
		return nil, errNotFound("")
	}
	return t, err
}

func (a *API) listTriggers(c *Ctx) error {
	return gate.List(c.Ctx, func(pg store.Page) ([]*model.Trigger, int, error) {
		return a.Store.ListTriggers(c.Context(), c.Project.ID, pg)
	}, func(t *model.Trigger) *triggerEntity { return a.triggerJSON(c, t, "") })
}

func (a *API) getTrigger(c *Ctx) error {
	t, err := c.pathTrigger()
	if err != nil {
		return err
	}
	writeJSON(c.W, http.StatusOK, a.triggerJSON(c, t, ""))
	return nil
}

// createTrigger is POST /projects/:id/triggers (description): the one
// answer that shows the token whole.
func (a *API) createTrigger(c *Ctx) error {
	c.Params.Require("description")
	desc, _ := c.Params.String("description")
	if err := c.Params.Err(); err != nil {
		return err
	}
	t, secret, err := a.CI.CreateTrigger(c.Context(), c.Project.ID, c.Principal.UserID(), desc)
	if err != nil {
		return err
	}
	writeJSON(c.W, http.StatusCreated, a.triggerJSON(c, t, secret))
	return nil
}

func (a *API) updateTrigger(c *Ctx) error {
	t, err := c.pathTrigger()
	if err != nil {
		return err
	}
	desc, ok := c.Params.String("description")
	if err := c.Params.Err(); err != nil {
		return err
	}
	if ok {
		if err := a.CI.UpdateTrigger(c.Context(), t, desc); err != nil {
			return err
		}
	}
	writeJSON(c.W, http.StatusOK, a.triggerJSON(c, t, ""))
	return nil
}

func (a *API) deleteTrigger(c *Ctx) error {
	t, err := c.pathTrigger()
	if err != nil {
		return err
	}
	if err := a.Store.DeleteTrigger(c.Context(), c.Project.ID, t.ID); err != nil {
		return err
	}
	c.W.WriteHeader(http.StatusNoContent)
	return nil
}

// bridgeEntity is GitLab's Bridge: a job entity with the pipeline the
// bridge created (null before it did, or where the caller may not read
// the downstream project's pipelines).
type bridgeEntity struct {
	*jobEntity
	DownstreamPipeline *pipelineEntity `json:"downstream_pipeline"`
}

// pipelineBridges is GET /projects/:id/pipelines/:pipeline_id/bridges:
// the pipeline's trigger: jobs, each with its downstream pipeline.
func (a *API) pipelineBridges(c *Ctx) error {
	p, err := c.PathPipeline()
	if err != nil {
		return err
	}
	ctx := c.Context()
	jobs, err := a.Store.PipelineJobs(ctx, p.ID, false)
	if err != nil {
		return err
	}
	var bridges []*model.Job
	var ids []int64
	for _, j := range jobs {
		if ci.IsBridge(j) {
			bridges, ids = append(bridges, j), append(ids, j.ID)
		}
	}
	downs, err := a.Store.DownstreamPipelines(ctx, ids)
	if err != nil {
		return err
	}
	byJob := map[int64]*pipelineEntity{}
	readable := map[int64]*model.Project{} // nil: not readable
	for _, d := range downs {
		proj, seen := readable[d.ProjectID]
		if !seen {
			if proj, err = a.Access.FindProject(ctx, itoa(d.ProjectID)); err == nil {
				if ok, err := a.Access.Allows(ctx, c.Principal, proj, authz.ReadPipeline); err != nil || !ok {
					proj = nil
				}
			} else {
				proj = nil
			}
			readable[d.ProjectID] = proj
		}
		if proj != nil {
			byJob[d.SourceJobID] = a.pipelineAt(d, proj)
		}
	}
	return gate.ListSlice(c.Ctx, bridges, func(j *model.Job) *bridgeEntity {
		return &bridgeEntity{jobEntity: a.jobJSON(c, j, p), DownstreamPipeline: byJob[j.ID]}
	})
}
