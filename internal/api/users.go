package api

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/ciwarden/ciwarden/internal/accounts"
	"github.com/ciwarden/ciwarden/internal/gate"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/store"
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func (a *API) currentUser(c *Ctx) error {
	writeJSON(c.W, http.StatusOK, a.userJSON(c.Principal.User, true))
	return nil
}

func (a *API) listUsers(c *Ctx) error {
	var f store.UserFilter
	f.Username, _ = c.Params.String("username")
	f.Search, _ = c.Params.String("search")
	f.Active, _ = c.Params.Bool("active")
	f.Blocked, _ = c.Params.Bool("blocked")
	if err := c.Params.Err(); err != nil {
		return err
	}
	full := c.Principal.Admin()
	return gate.List(c.Ctx, func(pg store.Page) ([]*model.User, int, error) {
		return a.Store.ListUsers(c.Context(), f, pg)
	}, func(u *model.User) *userEntity { return a.userJSON(u, full) })
}

// pathUser loads the user named by {user_id}.
func (c *Ctx) pathUser() (*model.User, error) {
	id, err := c.PathInt("user_id")
	if err != nil {
		return nil, err
	}
	u, err := c.API.Store.User(c.Context(), id)
	if errors.Is(err, model.ErrNotFound) {
		return nil, errNotFound("User")
	}
	return u, err
}

func (a *API) getUser(c *Ctx) error {
	u, err := c.pathUser()
	if err != nil {
		return err
	}
	writeJSON(c.W, http.StatusOK, a.userJSON(u, c.Principal.Admin() || c.Principal.UserID() == u.ID))
	return nil
}

func (a *API) createUser(c *Ctx) error {
	p := c.Params
	p.Require("email", "name", "username")
	var in accounts.NewUser
	in.Username, _ = p.String("username")
	in.Name, _ = p.String("name")
	in.Email, _ = p.String("email")
	in.Admin, _ = p.Bool("admin")
	// A password lets the user sign in to the web UI (issue 19).
	in.Password, _ = p.String("password")
	if err := p.Err(); err != nil {
		return err
	}
	u, err := a.Accounts.CreateUser(c.Context(), in)
	var taken *accounts.ErrTaken
	if errors.As(err, &taken) {
		return errMessage(http.StatusConflict, taken.Error())
	}
	if err != nil {
		return err
	}
	writeJSON(c.W, http.StatusCreated, a.userJSON(u, true))
	return nil
}

func (a *API) blockUser(c *Ctx) error   { return a.setBlocked(c, true) }
func (a *API) unblockUser(c *Ctx) error { return a.setBlocked(c, false) }

// setBlocked answers 201 true, as GitLab does.
func (a *API) setBlocked(c *Ctx, blocked bool) error {
	u, err := c.pathUser()
	if err != nil {
		return err
	}
	if blocked && u.ID == c.Principal.UserID() {
		return errForbidden
	}
	if err := a.Accounts.SetBlocked(c.Context(), u.ID, blocked); err != nil {
		return err
	}
	writeJSON(c.W, http.StatusCreated, true)
	return nil
}

// updateUser is PUT /users/:id for administrators. Of GitLab's fields it
// takes password: a new password, which signs the user out of every web
// session (accounts.SetPassword).
func (a *API) updateUser(c *Ctx) error {
	u, err := c.pathUser()
	if err != nil {
		return err
	}
	password, _ := c.Params.String("password")
	if err := c.Params.Err(); err != nil {
		return err
	}
	if password != "" {
		if err := a.Accounts.SetPassword(c.Context(), u.ID, password); err != nil {
			return err
		}
	}
	writeJSON(c.W, http.StatusOK, a.userJSON(u, true))
	return nil
}
