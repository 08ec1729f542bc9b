package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/gate"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/projects"
	"github.com/ciwarden/ciwarden/internal/registry"
	"github.com/ciwarden/ciwarden/internal/store"
)

func (c *Ctx) projectInput() (projects.ProjectInput, error) {
	in := projects.ProjectInput{
		Name: c.optString("name"), Path: c.optString("path"), Description: c.optString("description"),
		Visibility: c.visibilityParam(), DefaultBranch: c.optString("default_branch"),
	}
	if b, ok := c.Params.Bool("ci_push_repository_for_job_token_allowed"); ok {
		in.CIPushRepositoryForJobTokenAllowed = &b
	}
	in.ContainerPolicy = c.containerPolicyInput()
	return in, c.Params.Err()
}

// containerPolicyInput reads container_expiration_policy_attributes, a
// JSON object or attrs[field]=value in a form (nil when not sent). An
// empty or null limit is GitLab's null (no such limit); unknown fields
// are ignored, as GitLab does.
func (c *Ctx) containerPolicyInput() *registry.PolicyInput {
	const name = "container_expiration_policy_attributes"
	raw, ok := c.Params.Object()[name]
	if !ok {
		return nil
	}
	m, isMap := raw.(map[string]any)
	if !isMap {
		c.Params.Fail(name + " is invalid")
		return nil
	}
	var in registry.PolicyInput
	optString := func(field string, v any) registry.Opt[string] {
		s, isStr := v.(string)
		switch {
		case v == nil || (isStr && s == ""):
			return registry.Opt[string]{Set: true}
		case !isStr:
			c.Params.Fail(name + "[" + field + "] is invalid")
		}
		return registry.Opt[string]{Set: true, Value: &s}
	}
	for field, v := range m {
		switch field {
		case "enabled":
			b, isBool := v.(bool)
			if s, isStr := v.(string); isStr {
				b, isBool = s == "true", s == "true" || s == "false"
			}
			if !isBool {
				c.Params.Fail(name + "[enabled] is invalid")
			}
			in.Enabled = &b
		case "cadence":
			s, isStr := v.(string)
			if !isStr {
				c.Params.Fail(name + "[cadence] is invalid")
			}
			in.Cadence = &s
		case "keep_n":
			in.KeepN.Set = true
			switch n := v.(type) {
			case nil:
			case json.Number, string:
				s := fmt.Sprint(n)
				if s == "" {
					break
				}
				k, err := strconv.Atoi(s)
				if err != nil {
					c.Params.Fail(name + "[keep_n] is invalid")
				}
				in.KeepN.Value = &k
			default:
				c.Params.Fail(name + "[keep_n] is invalid")
			}
		case "older_than":
			in.OlderThan = optString(field, v)
		case "name_regex", "name_regex_delete":
			in.NameRegex = optString(field, v)
		case "name_regex_keep":
			in.NameRegexKeep = optString(field, v)
		}
	}
	return &in
}

// projectFilter reads GET /projects' filters; writeProjects checks them.
func (c *Ctx) projectFilter() store.ProjectFilter {
	p := c.Params
	f := store.ProjectFilter{Viewer: c.viewer()}
	f.Membership, _ = p.Bool("membership")
	f.Owned, _ = p.Bool("owned")
	f.Search, _ = p.String("search")
	if lvl, ok := p.Int("min_access_level"); ok {
		if !model.AccessLevel(lvl).Valid() {
			p.Fail("min_access_level does not have a valid value")
		}
		f.MinAccessLevel = model.AccessLevel(lvl)
	}
	if v := c.visibilityParam(); v != nil {
		f.Visibility = *v
	}
	f.OrderBy, _ = p.String("order_by")
	if f.OrderBy != "" && !store.ValidProjectOrder(f.OrderBy) {
		p.Fail("order_by does not have a valid value")
	}
	f.Sort, _ = p.String("sort")
	if f.Sort != "" && f.Sort != "asc" && f.Sort != "desc" {
		p.Fail("sort does not have a valid value")
	}
	if (f.Membership || f.Owned || f.MinAccessLevel > 0) && c.Principal.UserID() == 0 {
		// Anonymous callers have no memberships: the filter matches nothing.
		f.Viewer.UserID = -1
	}
	return f
}

func (a *API) listProjects(c *Ctx) error {
	return a.writeProjects(c, c.projectFilter())
}

// writeProjects lists the projects f matches, once the parameters read
// well.
func (a *API) writeProjects(c *Ctx, f store.ProjectFilter) error {
	if err := c.Params.Err(); err != nil {
		return err
	}
	return gate.List(c.Ctx, func(pg store.Page) ([]*model.Project, int, error) {
		return a.Store.ListProjects(c.Context(), f, pg)
	}, a.projectJSON)
}

func (a *API) getProject(c *Ctx) error {
	return a.writeProjectDetail(c, http.StatusOK, c.Project)
}

// writeProjectDetail renders one project with its container registry
// cleanup policy (GET and PUT /projects/:id; lists leave it out).
func (a *API) writeProjectDetail(c *Ctx, status int, p *model.Project) error {
	e := &projectDetailEntity{projectEntity: a.projectJSON(p)}
	if a.Registry != nil {
		pol, err := a.Registry.Policy(c.Context(), p.ID)
		if err != nil {
			return err
		}
		e.ContainerExpirationPolicy = containerPolicyJSON(pol)
	}
	writeJSON(c.W, status, e)
	return nil
}

// createProject creates in namespace_id (a group where the caller may
// create projects, or their own namespace) or, by default, in the caller's
// personal namespace.
func (a *API) createProject(c *Ctx) error {
	in, err := c.projectInput()
	if err != nil {
		return err
	}
	if in.Name == nil && in.Path == nil {
		return errParam("name, path are missing, at least one parameter must be provided")
	}
	nsID, nsPath := c.namespaceParam()
	if err := c.Params.Err(); err != nil {
		return err
	}
	var ns *model.Namespace
	if nsPath != "" {
		ns, err = a.Store.NamespaceByPath(c.Context(), nsPath)
	} else {
		ns, err = a.Store.Namespace(c.Context(), nsID)
	}
	if errors.Is(err, model.ErrNotFound) || (err == nil && ns.PendingDelete) {
		return errNotFound("Namespace")
	}
	if err != nil {
		return err
	}
	if err := c.AuthorizeGroup(ns, authz.CreateProjectIn); err != nil {
		return err
	}
	p, err := a.Projects.CreateProject(c.Context(), c.Principal.User, ns, in)
	if err != nil {
		return err
	}
	writeJSON(c.W, http.StatusCreated, a.projectJSON(p))
	return nil
}

// namespaceParam reads POST /projects' namespace_id: a namespace's ID or,
// as a string that is not a number, its full path ("platform/team"), as
// the :id of /groups/:id may be; so a script names the group it has just
// created without looking its ID up. GitLab itself declares the parameter
// an integer: a path is accepted here in addition. Absent, it is the
// caller's own namespace.
func (c *Ctx) namespaceParam() (id int64, path string) {
	if v, ok := c.Params.Raw("namespace_id"); ok {
		if s, isString := v.(string); isString && strings.TrimSpace(s) != "" {
			if _, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err != nil {
				return 0, s
			}
		}
	}
	id = c.Principal.User.NamespaceID
	if v, ok := c.Params.Int("namespace_id"); ok {
		id = v
	}
	return id, ""
}

func (a *API) updateProject(c *Ctx) error {
	in, err := c.projectInput()
	if err != nil {
		return err
	}
	p, err := a.Projects.UpdateProject(c.Context(), c.Project, in)
	if err != nil {
		return err
	}
	return a.writeProjectDetail(c, http.StatusOK, p)
}

func (a *API) deleteProject(c *Ctx) error {
	if err := a.Projects.DeleteProject(c.Context(), c.Project); err != nil {
		return err
	}
	writeJSON(c.W, http.StatusAccepted, messageEntity{"202 Accepted"})
	return nil
}
