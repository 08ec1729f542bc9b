package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/store"
)

var runnerTypes = map[string]bool{model.InstanceRunner: true, model.GroupRunner: true, model.ProjectRunner: true}

func (a *API) runnerJSON(r *model.Runner, detail bool) map[string]any {
	status := "never_contacted"
	if r.ContactedAt != nil {
		status = "offline"
		if r.Online(a.Auth.Now()) {
			status = "online"
		}
	}
	m := map[string]any{
		"id": r.ID, "description": r.Description, "ip_address": nil, "active": !r.Paused, "paused": r.Paused,
		"is_shared": r.Type == model.InstanceRunner, "runner_type": r.Type, "name": "gitlab-runner",
		"online": status == "online", "status": status,
	}
	if detail {
		tags := r.Tags
		if tags == nil {
			tags = []string{}
		}
		m["tag_list"] = tags
		m["run_untagged"] = r.RunUntagged
		m["locked"] = r.Locked
		m["maximum_timeout"] = nil
		if r.MaximumTimeout > 0 {
			m["maximum_timeout"] = r.MaximumTimeout
		}
		m["contacted_at"] = timePtrJSON(r.ContactedAt)
		m["created_at"] = timeJSON(r.CreatedAt)
		projects := make([]map[string]any, 0, len(r.ProjectIDs))
		for _, id := range r.ProjectIDs {
			projects = append(projects, map[string]any{"id": id})
		}
		m["projects"] = projects
	}
	return m
}

// runnerSettings reads the settings shared by POST /user/runners and the
// legacy POST /runners: description, tag_list (a list or a comma-separated
// string), run_untagged, paused (or active), locked, maximum_timeout.
func (c *Ctx) runnerSettings(r *model.Runner) {
	p := c.Params
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

// createUserRunner is POST /user/runners: the new flow, where the server
// mints the runner's glrt- token and keeps its settings.
func (a *API) createUserRunner(c *Ctx) error {
	c.Params.Require("runner_type")
	typ, _ := c.Params.String("runner_type")
	r := &model.Runner{Type: typ, CreatedBy: c.Principal.UserID()}
	c.runnerSettings(r)
	groupID, hasGroup := c.Params.Int("group_id")
	projectID, hasProject := c.Params.Int("project_id")
	if err := c.Params.Err(); err != nil {
		return err
	}
	if !runnerTypes[typ] {
		return errParam("runner_type does not have a valid value")
	}
	switch typ {
	case model.InstanceRunner:
		if err := c.Authorize(authz.CreateInstanceRunner); err != nil {
			return err
		}
	case model.GroupRunner:
		if !hasGroup {
			return errBadRequest("group_id is missing")
		}
		g, err := c.FindGroup(itoa(groupID))
		if errors.Is(err, model.ErrNotFound) {
			return errNotFound("Group")
		} else if err != nil {
			return err
		}
		if err := c.AuthorizeGroup(g, authz.CreateGroupRunner); err != nil {
			return err
		}
		r.GroupID = &g.ID
	case model.ProjectRunner:
		if !hasProject {
			return errBadRequest("project_id is missing")
		}
		p, err := c.FindProject(itoa(projectID))
		if errors.Is(err, model.ErrNotFound) {
			return errNotFound("Project")
		} else if err != nil {
			return err
		}
		if err := c.AuthorizeProject(p, authz.CreateProjectRunner); err != nil {
			return err
		}
		r.ProjectIDs = []int64{p.ID}
	}
	return a.createRunner(c, r)
}

func (a *API) createRunner(c *Ctx, r *model.Runner) error {
	token := auth.NewSecret(auth.RunnerTokenPrefix)
	r.CreatedAt = c.now()
	if err := a.Store.CreateRunner(c.Context(), r, auth.Digest(token)); err != nil {
		return err
	}
	writeJSON(c.W, http.StatusCreated, map[string]any{"id": r.ID, "token": token, "token_expires_at": nil})
	return nil
}

// listRunners is GET /runners: the runners of the projects and groups the
// caller manages (all of them for GET /runners/all, admins only).
func (a *API) listRunners(c *Ctx) error { return a.writeRunners(c, false) }

func (a *API) listAllRunners(c *Ctx) error { return a.writeRunners(c, true) }

func (a *API) writeRunners(c *Ctx, all bool) error {
	pg, err := c.page()
	if err != nil {
		return err
	}
	f, err := c.runnerFilter()
	if err != nil {
		return err
	}
	// Listing runners is rare and their number small; fetch them all and
	// keep those the caller manages.
	runners, _, err := a.Store.ListRunners(c.Context(), f, store.Page{Number: 1, PerPage: 10000})
	if err != nil {
		return err
	}
	var keep []*model.Runner
	for _, r := range runners {
		if all || c.managesRunner(r) {
			keep = append(keep, r)
		}
	}
	start := min(pg.Offset(), len(keep))
	end := min(start+pg.Limit(), len(keep))
	out := make([]map[string]any, 0, end-start)
	for _, r := range keep[start:end] {
		out = append(out, a.runnerJSON(r, false))
	}
	c.writePage(out, pg, len(keep))
	return nil
}

func (c *Ctx) runnerFilter() (store.RunnerFilter, error) {
	var f store.RunnerFilter
	if t, ok := c.Params.String("type"); ok {
		if !runnerTypes[t] {
			c.Params.Fail("type does not have a valid value")
		}
		f.Type = t
	}
	if v, ok := c.Params.Bool("paused"); ok {
		f.Paused = &v
	}
	f.TagList, _ = c.Params.Strings("tag_list")
	return f, c.Params.Err()
}

// managesRunner: the caller may manage r (an instance runner: admins; a
// group's: its Owners; a project's: its Maintainers), as authz decides.
func (c *Ctx) managesRunner(r *model.Runner) bool {
	switch r.Type {
	case model.InstanceRunner:
		return c.Can(authz.ManageInstanceRunners)
	case model.GroupRunner:
		if g, err := c.FindGroup(itoa(*r.GroupID)); err == nil {
			return c.AuthorizeGroup(g, authz.ManageGroupRunners) == nil
		}
	case model.ProjectRunner:
		for _, id := range r.ProjectIDs {
			if p, err := c.FindProject(itoa(id)); err == nil && c.AuthorizeProject(p, authz.ManageProjectRunners) == nil {
				return true
			}
		}
	}
	return false
}

// projectRunners is GET /projects/:id/runners: every runner that can take
// the project's jobs.
func (a *API) projectRunners(c *Ctx) error {
	pg, err := c.page()
	if err != nil {
		return err
	}
	f, err := c.runnerFilter()
	if err != nil {
		return err
	}
	f.ProjectID, f.GroupIDs = c.Project.ID, c.Project.Namespace.Traversal
	runners, total, err := a.Store.ListRunners(c.Context(), f, pg)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(runners))
	for _, r := range runners {
		out = append(out, a.runnerJSON(r, false))
	}
	c.writePage(out, pg, total)
	return nil
}
