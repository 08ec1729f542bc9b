package gate

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/ciwarden/ciwarden/internal/auth"
)

// The web UI's cross-site request forgery defence (issue 19): every form
// carries a token that only a page of this server could have put there,
// and every request that changes something (any method but GET and HEAD)
// on a page route is refused without it. SameSite=Lax cookies already
// keep most cross-site posts away; the token covers the rest.
//
// A signed-in browser's token is derived from its session's secret (an
// HMAC), so nothing more is stored; a signed-out browser (the sign-in
// form) gets a random cookie of its own and a token derived from that.

// CSRFField is the form field of the token (GitLab's, from Rails).
const CSRFField = "authenticity_token"

// csrfCookie holds a signed-out browser's CSRF secret.
const csrfCookie = "_ciwarden_csrf"

// MsgCSRF is the refusal of a form post without a valid token (Rails'
// words, which GitLab answers with 422).
const MsgCSRF = "Can't verify CSRF token authenticity."

func csrfToken(secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("ciwarden csrf"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// prepareCSRF makes the token of the page's forms.
func (g *Gate) prepareCSRF(c *Ctx, session string) {
	secret := session
	if c.Principal.Session == nil {
		// No live session: the signed-out secret, made on first sight.
		secret = ""
		if ck, err := c.R.Cookie(csrfCookie); err == nil && len(ck.Value) >= 32 {
			secret = ck.Value
		}
		if secret == "" {
			secret = auth.NewSecret("")
			g.SetCookie(c, csrfCookie, secret, 0)
		}
	}
	c.csrf = csrfToken(secret)
}

// checkCSRF refuses a request that changes something without the token.
func checkCSRF(c *Ctx) error {
	if c.R.Method == http.MethodGet || c.R.Method == http.MethodHead {
		return nil
	}
	sent, err := c.Params.Single(CSRFField)
	if err != nil || !hmac.Equal([]byte(sent), []byte(c.csrf)) {
		return &Error{Status: http.StatusUnprocessableEntity, Body: map[string]any{"message": MsgCSRF}}
	}
	return nil
}

// CSRFToken is the token the page's forms must carry.
func (c *Ctx) CSRFToken() string { return c.csrf }

// SetCookie sets one of the web UI's cookies: HttpOnly, SameSite=Lax,
// Secure when the server is reached over https (issue 19); maxAge < 0
// deletes it, 0 makes it last as long as the browser session.
func (g *Gate) SetCookie(c *Ctx, name, value string, maxAge int) {
	http.SetCookie(c.W, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: strings.HasPrefix(g.ExternalURL, "https://")})
}

// SetCookie sets one of the web UI's cookies (Gate.SetCookie).
func (c *Ctx) SetCookie(name, value string, maxAge int) { c.gate.SetCookie(c, name, value, maxAge) }

// SignInPath is the sign-in page, where a signed-out browser is sent.
const SignInPath = "/users/sign_in"

// Describe is the status and message the API would answer err with, for a
// page that shows a refused form again with its message; a failure
// (5xx) is reported as such, its detail logged, never shown.
func (g *Gate) Describe(err error) (int, string) {
	e := restError(err, g.Log)
	return e.Status, messageOf(e)
}

// Describe is Gate.Describe.
func (c *Ctx) Describe(err error) (int, string) { return c.gate.Describe(err) }

func messageOf(e *Error) string {
	if m, ok := e.Body.(map[string]any); ok {
		for _, k := range []string{"message", "error"} {
			switch v := m[k].(type) {
			case string:
				return v
			case map[string][]string:
				var parts []string
				for field, msgs := range v {
					parts = append(parts, field+" "+strings.Join(msgs, ", "))
				}
				return strings.Join(parts, "; ")
			}
		}
	}
	return http.StatusText(e.Status)
}

// writeWeb answers a page route's refusal or failure: a signed-out
// browser (it accepts text/html) asking to read a page it may not see is
// sent to sign in (as GitLab does, so a private project's existence is
// not revealed either); everything else gets an HTML page with the status
// and message the API would give (a script or probe sees the 404 itself).
func (g *Gate) writeWeb(c *Ctx, err error) {
	e := restError(err, g.Log)
	var denied *Denied
	signedOut := c.Principal == nil || c.Principal.Kind == auth.Anonymous
	browser := strings.Contains(c.R.Header.Get("Accept"), "text/html")
	if signedOut && browser && (c.R.Method == http.MethodGet || c.R.Method == http.MethodHead) &&
		(e.Status == http.StatusUnauthorized || e.Status == http.StatusNotFound && errors.As(err, &denied)) {
		http.Redirect(c.W, c.R, SignInPath+"?redirect_to="+url.QueryEscape(c.R.URL.RequestURI()), http.StatusFound)
		return
	}
	msg := messageOf(e)
	if g.WebError == nil {
		Plain(c.W, e.Status, msg)
		return
	}
	g.WebError(c, e.Status, msg)
}
