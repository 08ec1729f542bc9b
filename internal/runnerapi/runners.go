package runnerapi

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/gate"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/runners"
	"github.com/ciwarden/ciwarden/internal/store"
)

// Entity is GitLab's Runner entity, as the listings and a job's runner
// show it.
type Entity struct {
	ID          int64   `json:"id"`
	Description string  `json:"description"`
	IPAddress   *string `json:"ip_address"`
	Active      bool    `json:"active"`
	Paused      bool    `json:"paused"`
	IsShared    bool    `json:"is_shared"`
	RunnerType  string  `json:"runner_type"`
	Name        string  `json:"name"`
	Online      bool    `json:"online"`
	Status      string  `json:"status"`
}

// NewEntity renders r as it stands at now.
func NewEntity(r *model.Runner, now time.Time) *Entity {
	status := "never_contacted"
	if r.ContactedAt != nil {
		status = "offline"
		if r.Online(now) {
			status = "online"
		}
	}
	return &Entity{ID: r.ID, Description: r.Description, Active: !r.Paused, Paused: r.Paused,
		IsShared: r.Type == model.InstanceRunner, RunnerType: r.Type, Name: "gitlab-runner",
		Online: status == "online", Status: status}
}

func (a *API) runnerEntity(r *model.Runner) *Entity { return NewEntity(r, a.Now()) }

// createdRunner is the answer to a runner's creation: its token, shown
// this once.
type createdRunner struct {
	ID             int64   `json:"id"`
	Token          string  `json:"token"`
	TokenExpiresAt *string `json:"token_expires_at"`
}

// readSettings reads the settings shared by POST /user/runners and the
// legacy POST /runners: description, tag_list (a list or a comma-separated
// string), run_untagged, paused (or active), locked, maximum_timeout.
func readSettings(p *gate.Params, r *model.Runner) {
	r.Description, _ = p.String("description")
	if tags, ok := p.Strings("tag_list"); ok {
		r.Tags = tags
	}
	r.RunUntagged = true
	if v, ok := p.Bool("run_untagged"); ok {
		r.RunUntagged = v
	}
	if v, ok := p.Bool("paused"); ok {
		r.Paused = v
	} else if v, ok := p.Bool("active"); ok {
		r.Paused = !v
	}
	r.Locked, _ = p.Bool("locked")
	if v, ok := p.Int("maximum_timeout"); ok {
		if v < 0 || v > 30*24*3600 {
			p.Fail("maximum_timeout is invalid")
		}
		r.MaximumTimeout = int(v)
	}
	for _, t := range r.Tags {
		if len(t) > 255 || strings.ContainsAny(t, ",\x00") {
			p.Fail("tag_list is invalid")
		}
	}
}

// create stores r and answers its token (201).
func (a *API) create(c *gate.Ctx, r *model.Runner) error {
	token, err := a.Runners.Create(c.Context(), r)
	if err != nil {
		return err
	}
	gate.WriteJSON(c.W, http.StatusCreated, &createdRunner{ID: r.ID, Token: token})
	return nil
}

// registerRunner is legacy POST /runners, with the registration token
// (the gate checked it).
func (a *API) registerRunner(c *gate.Ctx) error {
	r := &model.Runner{Type: model.InstanceRunner}
	readSettings(c.Params, r)
	if err := c.Params.Err(); err != nil {
		return err
	}
	return a.create(c, r)
}

// createUserRunner is POST /user/runners: the new flow, where the server
// mints the runner's glrt- token and keeps its settings. Each type needs
// its own right, decided on its scope.
func (a *API) createUserRunner(c *gate.Ctx) error {
	c.Params.Require("runner_type")
	typ, _ := c.Params.String("runner_type")
	r := &model.Runner{Type: typ, CreatedBy: c.Principal.UserID()}
	readSettings(c.Params, r)
	groupID, hasGroup := c.Params.Int("group_id")
	projectID, hasProject := c.Params.Int("project_id")
	if err := c.Params.Err(); err != nil {
		return err
	}
	if !runners.Types[typ] {
		return gate.ParamError("runner_type does not have a valid value")
	}
	switch typ {
	case model.InstanceRunner:
		if err := c.Authorize(authz.CreateInstanceRunner); err != nil {
			return err
		}
	case model.GroupRunner:
		if !hasGroup {
			return gate.BadRequest("group_id is missing")
		}
		g, err := c.FindGroup(strconv.FormatInt(groupID, 10))
		if errors.Is(err, model.ErrNotFound) {
			return gate.NotFound("Group")
		} else if err != nil {
			return err
		}
		if err := c.AuthorizeGroup(g, authz.CreateGroupRunner); err != nil {
			return err
		}
		r.GroupID = &g.ID
	case model.ProjectRunner:
		if !hasProject {
			return gate.BadRequest("project_id is missing")
		}
		p, err := c.FindProject(strconv.FormatInt(projectID, 10))
		if errors.Is(err, model.ErrNotFound) {
			return gate.NotFound("Project")
		} else if err != nil {
			return err
		}
		if err := c.AuthorizeProject(p, authz.CreateProjectRunner); err != nil {
			return err
		}
		r.ProjectIDs = []int64{p.ID}
	}
	return a.create(c, r)
}

// verifyRunner is POST /runners/verify: the glrt- flow's first call.
func (a *API) verifyRunner(c *gate.Ctx) error {
	sys, _ := c.Params.String("system_id")
	if err := a.Runners.Contact(c.Context(), c.Principal.Runner, sys, true); err != nil {
		return err
	}
	gate.WriteJSON(c.W, http.StatusOK, &createdRunner{ID: c.Principal.Runner.ID, Token: presentedRunnerToken(c)})
	return nil
}

// unregisterRunner is DELETE /runners (legacy).
func (a *API) unregisterRunner(c *gate.Ctx) error {
	if err := a.Runners.Remove(c.Context(), c.Principal.Runner); err != nil {
		return err
	}
	c.W.WriteHeader(http.StatusNoContent)
	return nil
}

// unregisterManager is DELETE /runners/managers: one installation leaves.
func (a *API) unregisterManager(c *gate.Ctx) error {
	c.Params.Require("system_id")
	sys, _ := c.Params.String("system_id")
	if err := c.Params.Err(); err != nil {
		return err
	}
	if err := a.Runners.RemoveManager(c.Context(), c.Principal.Runner, sys); err != nil {
		return err
	}
	c.W.WriteHeader(http.StatusNoContent)
	return nil
}

// listRunners is GET /runners: the runners of the projects and groups the
// caller manages.
func (a *API) listRunners(c *gate.Ctx) error {
	f, err := runnerFilter(c.Params)
	if err != nil {
		return err
	}
	return gate.List(c, func(pg store.Page) ([]*model.Runner, int, error) {
		return a.Runners.Manageable(c.Context(), f, pg, func(r *model.Runner) bool { return manages(c, r) })
	}, a.runnerEntity)
}

// listAllRunners is GET /runners/all: every runner (administrators).
func (a *API) listAllRunners(c *gate.Ctx) error {
	f, err := runnerFilter(c.Params)
	if err != nil {
		return err
	}
	return gate.List(c, func(pg store.Page) ([]*model.Runner, int, error) {
		return a.Runners.List(c.Context(), f, pg)
	}, a.runnerEntity)
}

// projectRunners is GET /projects/:id/runners: every runner that can take
// the project's jobs.
func (a *API) projectRunners(c *gate.Ctx) error {
	f, err := runnerFilter(c.Params)
	if err != nil {
		return err
	}
	f.ProjectID, f.GroupIDs = c.Project.ID, c.Project.Namespace.Traversal
	return gate.List(c, func(pg store.Page) ([]*model.Runner, int, error) {
		return a.Runners.List(c.Context(), f, pg)
	}, a.runnerEntity)
}

// runnerFilter reads the listings' type, paused and tag_list.
func runnerFilter(p *gate.Params) (store.RunnerFilter, error) {
	var f store.RunnerFilter
	if t, ok := p.String("type"); ok {
		if !runners.Types[t] {
			p.Fail("type does not have a valid value")
		}
		f.Type = t
	}
	if v, ok := p.Bool("paused"); ok {
		f.Paused = &v
	}
	f.TagList, _ = p.Strings("tag_list")
	return f, p.Err()
}

// manages: the caller may manage r (an instance runner: administrators; a
// group's: its Owners; a project's: its Maintainers), as authz decides.
func manages(c *gate.Ctx, r *model.Runner) bool {
	switch r.Type {
	case model.InstanceRunner:
		return c.Can(authz.ManageInstanceRunners)
	case model.GroupRunner:
		if g, err := c.FindGroup(strconv.FormatInt(*r.GroupID, 10)); err == nil {
			return c.AuthorizeGroup(g, authz.ManageGroupRunners) == nil
		}
	case model.ProjectRunner:
		for _, id := range r.ProjectIDs {
			if p, err := c.FindProject(strconv.FormatInt(id, 10)); err == nil && c.AuthorizeProject(p, authz.ManageProjectRunners) == nil {
				return true
			}
		}
	}
	return false
}
