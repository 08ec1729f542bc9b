package web

import (
	"errors"
	"net/http"

	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/gate"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/projects"
)

// New group and new project: the forms of GitLab's /groups/new and
// /projects/new, through projects.Service as POST /groups and POST
// /projects are.

type createData struct {
	Kind, Name, Path, Namespace, Visibility, Error string
	Namespaces                                     []*model.Namespace
}

func (u *UI) newGroupPage(c *gate.Ctx) error {
	return u.render(c.W, c, http.StatusOK, "new", "New group", createData{Kind: "group", Visibility: "private"})
}

func (u *UI) newProjectPage(c *gate.Ctx) error {
	ns, _ := c.Params.String("namespace")
	if ns == "" {
		ns = c.Principal.User.Username
	}
	return u.render(c.W, c, http.StatusOK, "new", "New project", createData{Kind: "project", Namespace: ns, Visibility: "private"})
}

// form reads the fields both forms share.
func form(c *gate.Ctx, kind string) createData {
	d := createData{Kind: kind}
	d.Name, _ = c.Params.String("name")
	d.Path, _ = c.Params.String("path")
	d.Namespace, _ = c.Params.String("namespace")
	d.Visibility, _ = c.Params.String("visibility")
	if d.Path == "" {
		d.Path = d.Name
	}
	return d
}

// refused shows the form again with the API's status and message.
func (u *UI) refused(c *gate.Ctx, d createData, err error) error {
	status, msg := c.Describe(err)
	if status >= 500 {
		return err
	}
	d.Error = msg
	return u.render(c.W, c, status, "new", "New "+d.Kind, d)
}

func (u *UI) createGroup(c *gate.Ctx) error {
	d := form(c, "group")
	vis := model.Visibility(d.Visibility)
	g, err := u.Projects.CreateGroup(c.Context(), c.Principal.User, nil, projects.GroupInput{Name: &d.Name, Path: &d.Path, Visibility: &vis})
	if err != nil {
		return u.refused(c, d, err)
	}
	http.Redirect(c.W, c.R, "/groups/"+g.FullPath, http.StatusSeeOther)
	return nil
}

// createProject creates in the namespace the form names (a group where
// the user may create projects, or their own), decided as POST /projects
// decides (authz create_projects on the namespace).
func (u *UI) createProject(c *gate.Ctx) error {
	d := form(c, "project")
	ns, err := u.Store.NamespaceByPath(c.Context(), d.Namespace)
	if errors.Is(err, model.ErrNotFound) || err == nil && ns.PendingDelete {
		return u.refused(c, d, gate.NotFound("Namespace"))
	}
	if err != nil {
		return err
	}
	if err := c.AuthorizeGroup(ns, authz.CreateProjectIn); err != nil {
		return u.refused(c, d, err)
	}
	vis := model.Visibility(d.Visibility)
	p, err := u.Projects.CreateProject(c.Context(), c.Principal.User, ns, projects.ProjectInput{Name: &d.Name, Path: &d.Path, Visibility: &vis})
	if err != nil {
		return u.refused(c, d, err)
	}
	http.Redirect(c.W, c.R, "/"+p.FullPath(), http.StatusSeeOther)
	return nil
}
