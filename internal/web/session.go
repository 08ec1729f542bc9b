package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/ciwarden/ciwarden/internal/accounts"
	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/gate"
	"github.com/ciwarden/ciwarden/internal/model"
)

// safeRedirect keeps a redirect_to on this server: a path, never a URL
// elsewhere (an open redirect would make the sign-in page a phishing aid).
func safeRedirect(to string) string {
	if to == "" || !strings.HasPrefix(to, "/") || strings.HasPrefix(to, "//") || strings.HasPrefix(to, "/\\") {
		return "/"
	}
	if u, err := url.Parse(to); err != nil || u.Host != "" || u.Scheme != "" {
		return "/"
	}
	return to
}

type signInData struct {
	Login, RedirectTo, Error string
}

func (u *UI) signInPage(c *gate.Ctx) error {
	to, _ := c.Params.String("redirect_to")
	if c.Principal.User != nil {
		http.Redirect(c.W, c.R, safeRedirect(to), http.StatusFound)
		return nil
	}
	return u.render(c.W, c, http.StatusOK, "sign_in", "Sign in", signInData{RedirectTo: safeRedirect(to)})
}

// signIn checks the password (accounts.SignIn: argon2id, throttled) and
// sets the session cookie. A refusal renders the form again with the
// message and the status the API would give (401, 429).
func (u *UI) signIn(c *gate.Ctx) error {
	login, _ := c.Params.String("login")
	password, _ := c.Params.String("password")
	to, _ := c.Params.String("redirect_to")
	to = safeRedirect(to)
	_, secret, err := u.Accounts.SignIn(c.Context(), login, password)
	var refusal *model.Refusal
	if errors.As(err, &refusal) {
		status := http.StatusUnauthorized
		if errors.Is(err, model.ErrTooManyRequests) {
			status = http.StatusTooManyRequests
		}
		return u.render(c.W, c, status, "sign_in", "Sign in", signInData{Login: login, RedirectTo: to, Error: refusal.Message})
	}
	if err != nil {
		return err
	}
	c.SetCookie(auth.SessionCookie, secret, int(accounts.SessionLifetime.Seconds()))
	http.Redirect(c.W, c.R, to, http.StatusSeeOther)
	return nil
}

// signOut ends the session in the database (on every replica) and drops
// the cookie.
func (u *UI) signOut(c *gate.Ctx) error {
	if ck, err := c.R.Cookie(auth.SessionCookie); err == nil {
		if err := u.Accounts.SignOut(c.Context(), ck.Value); err != nil {
			return err
		}
	}
	c.SetCookie(auth.SessionCookie, "", -1)
	http.Redirect(c.W, c.R, gate.SignInPath, http.StatusSeeOther)
	return nil
}
