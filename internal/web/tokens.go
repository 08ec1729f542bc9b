package web

import (
	"errors"
	"net/http"
	"time"

	"github.com/ciwarden/ciwarden/internal/accounts"
	"github.com/ciwarden/ciwarden/internal/gate"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/store"
)

// User settings > Personal access tokens: the user's tokens, a form to
// make one (its secret shown once, on the answer to the form only) and
// revoke buttons; through accounts.Service as the API.

const tokensPath = "/-/user_settings/personal_access_tokens"

func (u *UI) tokensPage(c *gate.Ctx) error { return u.renderTokens(c, http.StatusOK, "", "") }

func (u *UI) renderTokens(c *gate.Ctx, status int, secret, errMsg string) error {
	list, _, err := u.Store.ListPATs(c.Context(), c.Principal.UserID(), store.Page{Number: 1, PerPage: 100})
	if err != nil {
		return err
	}
	return u.render(c.W, c, status, "tokens", "Personal access tokens", map[string]any{
		"Tokens": list, "Secret": secret, "Error": errMsg, "Now": u.Now()})
}

func (u *UI) createToken(c *gate.Ctx) error {
	var in accounts.NewToken
	in.Name, _ = c.Params.String("name")
	in.Scopes, _ = c.Params.Strings("scopes")
	in.ExpiresAt, _ = c.Params.Date("expires_at")
	if err := c.Params.Err(); err != nil {
		return u.tokenRefused(c, err)
	}
	_, secret, err := u.Accounts.CreateToken(c.Context(), c.Principal.UserID(), in)
	if err != nil {
		return u.tokenRefused(c, err)
	}
	return u.renderTokens(c, http.StatusCreated, secret, "")
}

func (u *UI) tokenRefused(c *gate.Ctx, err error) error {
	status, msg := c.Describe(err)
	if status >= 500 {
		return err
	}
	return u.renderTokens(c, status, "", msg)
}

func (u *UI) revokeToken(c *gate.Ctx) error {
	id, err := c.PathInt("token_id")
	if err != nil {
		return err
	}
	t, err := u.Accounts.OwnToken(c.Context(), c.Principal.UserID(), false, id)
	if errors.Is(err, model.ErrNotFound) {
		return gate.NotFound("")
	}
	if err != nil {
		return err
	}
	if err := u.Store.RevokePAT(c.Context(), t.ID); err != nil {
		return err
	}
	http.Redirect(c.W, c.R, tokensPath, http.StatusSeeOther)
	return nil
}

// Admin > Runners and a project's Runners (Maintainers): the runners with
// their status and last contact, and a form to create an instance or a
// project runner whose glrt- token is shown once (as POST /user/runners
// with runner_type instance_type or project_type, runners.Service). On a
// project the list is the runners that can serve it, as
// GET /projects/:id/runners.

func (u *UI) runnersPage(c *gate.Ctx) error { return u.renderRunners(c, http.StatusOK, "") }

func (u *UI) renderRunners(c *gate.Ctx, status int, token string) error {
	var f store.RunnerFilter
	data := map[string]any{"Token": token, "Now": u.Now(), "Action": "/admin/runners", "Kind": "instance"}
	if c.Project != nil {
		f.ProjectID, f.GroupIDs = c.Project.ID, c.Project.Namespace.Traversal
		data["Nav"], data["Action"], data["Kind"] = nav(c), "/"+c.Project.FullPath()+"/-/runners", "project"
	}
	list, _, err := u.Runners.List(c.Context(), f, store.Page{Number: 1, PerPage: 100})
	if err != nil {
		return err
	}
	data["Runners"] = list
	return u.render(c.W, c, status, "runners", "Runners", data)
}

func (u *UI) createRunner(c *gate.Ctx) error {
	r := &model.Runner{Type: model.InstanceRunner, CreatedBy: c.Principal.UserID(), RunUntagged: true}
	if c.Project != nil {
		r.Type, r.ProjectIDs = model.ProjectRunner, []int64{c.Project.ID}
	}
	r.Description, _ = c.Params.String("description")
	if err := c.Params.Err(); err != nil {
		return err
	}
	token, err := u.Runners.Create(c.Context(), r)
	if err != nil {
		return err
	}
	return u.renderRunners(c, http.StatusCreated, token)
}

// online is the runner's status as the page shows it.
func online(r *model.Runner, now time.Time) string {
	switch {
	case r.Paused:
		return "paused"
	case r.ContactedAt == nil:
		return "never contacted"
	case r.Online(now):
		return "online"
	}
	return "offline"
}
