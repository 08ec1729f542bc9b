package api

import (
	"errors"
	"net/http"

	"github.com/ciwarden/ciwarden/internal/accounts"
	"github.com/ciwarden/ciwarden/internal/gate"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/store"
)

func (a *API) createPAT(c *Ctx) error {
	u, err := c.pathUser()
	if err != nil {
		return err
	}
	p := c.Params
	p.Require("name", "scopes")
	var in accounts.NewToken
	in.Name, _ = p.String("name")
	in.Scopes, _ = p.Strings("scopes")
	in.ExpiresAt, _ = p.Date("expires_at")
	if err := p.Err(); err != nil {
		return err
	}
	t, secret, err := a.Accounts.CreateToken(c.Context(), u.ID, in)
	if err != nil {
		return err
	}
	writeJSON(c.W, http.StatusCreated, &createdPATEntity{patJSON(t, c.now()), secret})
	return nil
}

// listPATs lists the caller's tokens; an admin sees everyone's, or one
// user's with user_id.
func (a *API) listPATs(c *Ctx) error {
	userID := c.Principal.UserID()
	if c.Principal.Admin() {
		userID, _ = c.Params.Int("user_id")
	}
	if err := c.Params.Err(); err != nil {
		return err
	}
	now := c.now()
	return gate.List(c.Ctx, func(pg store.Page) ([]*model.PersonalAccessToken, int, error) {
		return a.Store.ListPATs(c.Context(), userID, pg)
	}, func(t *model.PersonalAccessToken) *patEntity { return patJSON(t, now) })
}

func (a *API) selfPAT(c *Ctx) error {
	if c.Principal.Token == nil {
		return errNotFound("Token")
	}
	writeJSON(c.W, http.StatusOK, patJSON(c.Principal.Token, c.now()))
	return nil
}

// pathPAT loads {token_id} if the caller owns it or is an admin; anyone
// else gets the same 404 as for a token that does not exist.
func (c *Ctx) pathPAT() (*model.PersonalAccessToken, error) {
	id, err := c.PathInt("token_id")
	if err != nil {
		return nil, err
	}
	t, err := c.API.Accounts.OwnToken(c.Context(), c.Principal.UserID(), c.Principal.Admin(), id)
	if errors.Is(err, model.ErrNotFound) {
		return nil, errNotFound("")
	}
	return t, err
}

func (a *API) getPAT(c *Ctx) error {
	t, err := c.pathPAT()
	if err != nil {
		return err
	}
	writeJSON(c.W, http.StatusOK, patJSON(t, c.now()))
	return nil
}

func (a *API) revokePAT(c *Ctx) error {
	t, err := c.pathPAT()
	if err != nil {
		return err
	}
	if err := a.Store.RevokePAT(c.Context(), t.ID); err != nil {
		return err
	}
	c.W.WriteHeader(http.StatusNoContent)
	return nil
}
