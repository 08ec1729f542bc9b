package gate

import (
	"errors"
	"io"
	"net/http"

	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/authz"
)

// writeError is the one place where errors become HTTP, in the words of
// the route's surface. gated: the error came from the request path
// (authentication, target, decision), not from the handler.
func (g *Gate) writeError(c *Ctx, err error, gated bool) {
	if c.R.Context().Err() != nil {
		// The client hung up: whatever failed (a canceled query, a body
		// cut short) failed because of that, and no one reads the answer.
		WriteJSON(c.W, StatusClientClosed, ClientClosed.Body)
		return
	}
	switch c.Route.Surface {
	case Git:
		g.writeGit(c, err)
		return
	case Registry:
		g.writeRegistry(c, err)
	case Web:
		g.writeWeb(c, err)
		return
	case Runner:
		if gated && refusal(err) {
			g.writeRunnerRefusal(c, err)
			return
		}
	}
	e := restError(err, g.Log)
	switch e.Status {
	case http.StatusUnauthorized:
		c.W.Header().Set("WWW-Authenticate", `Bearer realm="ciwarden"`)
	case http.StatusRequestEntityTooLarge:
		// The rest of the upload is not read: close the connection rather
		// than drain what the client is still sending.
		c.W.Header().Set("Connection", "close")
	}
	WriteJSON(c.W, e.Status, e.Body)
}

// MsgProjectDeleted is the runner protocol's answer to a job token whose
// project is being deleted.
const MsgProjectDeleted = "403 Forbidden - Project has been deleted!"

// writeRunnerRefusal: the runner protocol answers every refusal 403, as
// GitLab's runner API does (an unknown job and one the user may not see
// look the same), and tells a dead token's runner its job's status so that
// it stops at once (runner-protocol.md §7, §9).
func (g *Gate) writeRunnerRefusal(c *Ctx, err error) {
	msg := authz.MsgForbidden
	if p := c.Principal; p != nil && p.Kind == auth.JobKind && !p.Live() {
		SetJobStatus(c.W, p.Job.Status)
		var denied *Denied
		if errors.As(err, &denied) && denied.Decision.Check == authz.CheckLiveness && p.Subject().Job.Dead == authz.ProjectDeleted {
			msg = MsgProjectDeleted
		}
	}
	WriteJSON(c.W, http.StatusForbidden, map[string]any{"message": msg})
}

// GitLab's answers on the git transport.
const (
	MsgGitAccessDenied = "HTTP Basic: Access denied"
	MsgGitNotFound     = "The project you were looking for could not be found or you don't have permission to view it."
	MsgGitCannotPush   = "You are not allowed to upload code."
	MsgGitCannotRead   = "You are not allowed to download code from this project."
)

// writeGit answers a git client: text/plain, a Basic challenge with 401.
func (g *Gate) writeGit(c *Ctx, err error) {
	var denied *Denied
	switch {
	case errors.As(err, &denied):
		status, msg := gitDenial(c, denied.Decision)
		Plain(c.W, status, msg)
	case refusal(err):
		Plain(c.W, http.StatusUnauthorized, MsgGitAccessDenied)
	default:
		var e *Error
		if errors.As(err, &e) && e.Status < 500 {
			if m, ok := e.Body.(map[string]any); ok {
				if s, ok := m["message"].(string); ok {
					Plain(c.W, e.Status, s)
					return
				}
			}
		}
		g.Log.Error("git request failed", "err", err)
		Plain(c.W, http.StatusInternalServerError, "Internal error.")
	}
}

// gitDenial is GitLab's answer on the git transport for a refusal: the
// token access scope and fine-grained permissions explain themselves as
// on the API, a role too low gets git's own words, and nothing is
// revealed to the anonymous, who are asked for credentials.
func gitDenial(c *Ctx, d authz.Decision) (int, string) {
	who := c.Principal
	push := c.Route.Action.Name == authz.PushCode.Name
	switch {
	case who == nil || who.Kind == auth.Anonymous || d.Status == http.StatusUnauthorized:
		return http.StatusUnauthorized, MsgGitAccessDenied
	case d.Status == http.StatusNotFound:
		return http.StatusNotFound, MsgGitNotFound
	case d.Check == authz.CheckOwnProject, d.Check == authz.CheckJobTokenPush:
		return http.StatusForbidden, MsgGitCannotPush
	case d.Check != authz.CheckRole && d.Check != authz.CheckTokenScope:
		return d.Status, d.Message
	case push:
		return http.StatusForbidden, MsgGitCannotPush
	case who.Kind == auth.JobKind && c.Project != nil:
		return http.StatusForbidden, "Insufficient permissions to pull from the repository of project " + c.Project.FullPath() + "."
	}
	return http.StatusForbidden, MsgGitCannotRead
}

// Plain writes a text/plain answer, as git clients show it.
func Plain(w http.ResponseWriter, status int, msg string) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="GitLab"`)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	io.WriteString(w, msg+"\n")
}

// Text answers 200 with stored text (a job log, a repository file) as
// text/plain, with nosniff so that no browser renders it as HTML in the
// site's origin.
func (c *Ctx) Text(data []byte) error {
	c.W.Header().Set("Content-Type", "text/plain; charset=utf-8")
	c.W.Header().Set("X-Content-Type-Options", "nosniff")
	c.W.WriteHeader(http.StatusOK)
	c.W.Write(data)
	return nil
}

// writeRegistry answers a registry client (docker, crane) in the token
// API's shape, {"errors": [{"code", "message"}]}, as GitLab's token service
// does: a refused credential is 401 with a Basic challenge, so that
// `docker login` reports the failed login.
func (g *Gate) writeRegistry(c *Ctx, err error) {
	e := restError(err, g.Log)
	msg := http.StatusText(e.Status)
	if m, ok := e.Body.(map[string]any); ok {
		for _, k := range []string{"message", "error"} {
			if s, ok := m[k].(string); ok {
				msg = s
				break
			}
		}
	}
	code := "UNKNOWN"
	switch e.Status {
	case http.StatusBadRequest:
		code = "INVALID_REQUEST"
	case http.StatusUnauthorized:
		code, msg = "UNAUTHORIZED", MsgGitAccessDenied
		c.W.Header().Set("WWW-Authenticate", `Basic realm="GitLab"`)
	case http.StatusForbidden:
		code = "DENIED"
	case http.StatusNotFound:
		code = "NOT_FOUND"
	}
	WriteJSON(c.W, e.Status, map[string]any{"errors": []map[string]string{{"code": code, "message": msg}}})
}
