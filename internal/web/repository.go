package web

import (
	"errors"
	"net/http"

	"github.com/ciwarden/ciwarden/internal/gate"
	"github.com/ciwarden/ciwarden/internal/git"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/store"
)

// The pages behind the API's other web_url values: a commit
// (/-/commit/:sha), a branch or tag (/-/tree/:ref) and a user
// (/<username>, served as /users/:username).

func (u *UI) commitPage(c *gate.Ctx) error {
	return u.renderCommit(c, c.R.PathValue("sha"), "")
}

func (u *UI) treePage(c *gate.Ctx) error {
	ref := c.R.PathValue("ref")
	return u.renderCommit(c, ref, ref)
}

// renderCommit shows rev's commit; ref names the branch or tag when the
// page is one's.
func (u *UI) renderCommit(c *gate.Ctx, rev, ref string) error {
	cm, err := u.Repos.Commit(c.Context(), c.Project.ID, rev)
	if errors.Is(err, git.ErrNotFound) {
		return gate.NotFound("Commit")
	}
	if err != nil {
		return err
	}
	title := "Commit " + cm.SHA[:min(8, len(cm.SHA))]
	if ref != "" {
		title = ref
	}
	return u.render(c.W, c, http.StatusOK, "commit", title, map[string]any{"Nav": nav(c), "Commit": cm, "Ref": ref})
}

// userPage is a user's profile: their projects the viewer can see.
func (u *UI) userPage(c *gate.Ctx) error {
	usr, err := u.Store.UserByUsername(c.Context(), c.R.PathValue("username"))
	if errors.Is(err, model.ErrNotFound) {
		return gate.NotFound("User")
	}
	if err != nil {
		return err
	}
	projects, _, err := u.Store.ListProjects(c.Context(), store.ProjectFilter{Viewer: viewer(c), NamespaceID: usr.NamespaceID},
		store.Page{Number: 1, PerPage: listPage})
	if err != nil {
		return err
	}
	return u.render(c.W, c, http.StatusOK, "user", usr.Name, map[string]any{"Profile": usr, "Projects": projects})
}
