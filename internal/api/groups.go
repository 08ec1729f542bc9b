package api

import (
	"errors"
	"net/http"

	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/gate"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/projects"
	"github.com/ciwarden/ciwarden/internal/store"
)

// visibilityParam reads an optional visibility; an unknown value is a 400.
func (c *Ctx) visibilityParam() *model.Visibility {
	s, ok := c.Params.String("visibility")
	if !ok {
		return nil
	}
	v := model.Visibility(s)
	if !v.Valid() {
		c.Params.Fail("visibility does not have a valid value")
		return nil
	}
	return &v
}

// optString reads an optional string parameter as a pointer.
func (c *Ctx) optString(name string) *string {
	if s, ok := c.Params.String(name); ok {
		return &s
	}
	return nil
}

func (c *Ctx) groupInput() (projects.GroupInput, error) {
	in := projects.GroupInput{
		Name: c.optString("name"), Path: c.optString("path"), Description: c.optString("description"),
		Visibility: c.visibilityParam(),
	}
	return in, c.Params.Err()
}

func (a *API) listGroups(c *Ctx) error {
	f := store.GroupFilter{Viewer: c.viewer()}
	f.AllAvailable, _ = c.Params.Bool("all_available")
	f.TopLevelOnly, _ = c.Params.Bool("top_level_only")
	f.Owned, _ = c.Params.Bool("owned")
	f.Search, _ = c.Params.String("search")
	return a.writeGroups(c, f)
}

// writeGroups lists the groups f matches, once the parameters read well.
func (a *API) writeGroups(c *Ctx, f store.GroupFilter) error {
	if err := c.Params.Err(); err != nil {
		return err
	}
	return gate.List(c.Ctx, func(pg store.Page) ([]*model.Namespace, int, error) {
		return a.Store.ListGroups(c.Context(), f, pg)
	}, a.groupJSON)
}

func (a *API) createGroup(c *Ctx) error {
	c.Params.Require("name", "path")
	in, err := c.groupInput()
	if err != nil {
		return err
	}
	var parent *model.Namespace
	if pid, ok := c.Params.Int("parent_id"); ok {
		if parent, err = c.FindGroup(itoa(pid)); errors.Is(err, model.ErrNotFound) {
			return errNotFound("Parent Group")
		} else if err != nil {
			return err
		}
		if err := c.AuthorizeGroup(parent, authz.CreateSubgroup); err != nil {
			return err
		}
	}
	if err := c.Params.Err(); err != nil {
		return err
	}
	g, err := a.Projects.CreateGroup(c.Context(), c.Principal.User, parent, in)
	if err != nil {
		return err
	}
	writeJSON(c.W, http.StatusCreated, a.groupJSON(g))
	return nil
}

// getGroup answers the group with its projects, as GitLab's group detail.
func (a *API) getGroup(c *Ctx) error {
	ps, _, err := a.Store.ListProjects(c.Context(), store.ProjectFilter{Viewer: c.viewer(), NamespaceID: c.Group.ID, OrderBy: "id", Sort: "asc"},
		store.Page{Number: 1, PerPage: gate.MaxPerPage})
	if err != nil {
		return err
	}
	out := &groupDetailEntity{groupEntity: a.groupJSON(c.Group), Projects: make([]*projectEntity, 0, len(ps))}
	for _, p := range ps {
		out.Projects = append(out.Projects, a.projectJSON(p))
	}
	writeJSON(c.W, http.StatusOK, out)
	return nil
}

func (a *API) updateGroup(c *Ctx) error {
	in, err := c.groupInput()
	if err != nil {
		return err
	}
	g, err := a.Projects.UpdateGroup(c.Context(), c.Group, in)
	if err != nil {
		return err
	}
	writeJSON(c.W, http.StatusOK, a.groupJSON(g))
	return nil
}

func (a *API) deleteGroup(c *Ctx) error {
	if err := a.Projects.DeleteGroup(c.Context(), c.Group); err != nil {
		return err
	}
	writeJSON(c.W, http.StatusAccepted, messageEntity{"202 Accepted"})
	return nil
}

func (a *API) groupProjects(c *Ctx) error {
	f := c.projectFilter()
	f.NamespaceID = c.Group.ID
	f.WithSubgroups, _ = c.Params.Bool("include_subgroups")
	return a.writeProjects(c, f)
}

func (a *API) groupSubgroups(c *Ctx) error {
	f := store.GroupFilter{Viewer: c.viewer(), ParentID: &c.Group.ID}
	f.Search, _ = c.Params.String("search")
	return a.writeGroups(c, f)
}
