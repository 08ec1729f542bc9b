package web

import (
	"net/http"

	"github.com/ciwarden/ciwarden/internal/accounts"
	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/gate"
)

// User settings > Password (issue 19): the current password and the new
// one twice, through accounts.ChangePassword. The user's other sessions
// end; this browser gets a new session, so it stays signed in.

const passwordPath = "/-/user_settings/password"

func (u *UI) passwordPage(c *gate.Ctx) error {
	_, done := c.Params.String("updated")
	if err := c.Params.Err(); err != nil {
		return err
	}
	return u.render(c.W, c, http.StatusOK, "password", "Password", map[string]any{"Updated": done})
}

func (u *UI) changePassword(c *gate.Ctx) error {
	current, _ := c.Params.String("current_password")
	next, _ := c.Params.String("new_password")
	confirmation, _ := c.Params.String("password_confirmation")
	if err := c.Params.Err(); err != nil {
		return err
	}
	secret, err := u.Accounts.ChangePassword(c.Context(), c.Principal.User, current, next, confirmation)
	if err != nil {
		// A refusal shows on the form, with the status the API would give.
		status, msg := c.Describe(err)
		if status >= 500 {
			return err
		}
		return u.render(c.W, c, status, "password", "Password", map[string]any{"Error": msg})
	}
	c.SetCookie(auth.SessionCookie, secret, int(accounts.SessionLifetime.Seconds()))
	// A new page: its CSRF token is the new session's.
	http.Redirect(c.W, c.R, passwordPath+"?updated=1", http.StatusSeeOther)
	return nil
}
