package registry

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/gate"
	"github.com/ciwarden/ciwarden/internal/model"
)

// Handler serves the registry's two rows of the route table.
type Handler struct {
	Registry *Registry
	Log      *slog.Logger
	Now      func() time.Time
	// Pushed records a repository a push was granted to (the registry
	// API's repository rows).
	Pushed func(ctx context.Context, p *model.Project, path string) error
}

// Routes are the token service and the registry. The token service takes
// what `docker login` sends: HTTP Basic, gitlab-ci-token with a job token
// or a user name with a personal access token (gitlab-compat.md §1: "the
// registry's /jwt/auth always accepts it"). The registry itself takes no
// ciwarden credential: it verifies the token service's tokens, whose
// scopes authz.Decide chose.
func (h *Handler) Routes() []gate.Route {
	return []gate.Route{
		{Surface: gate.Registry, Method: http.MethodGet, Path: "/jwt/auth", Accepts: gate.Accepts{PAT: auth.Basic, JobToken: auth.Basic},
			Target: gate.NoTarget, Action: authz.RegistryToken, Handle: h.token},
		{Surface: gate.Registry, Path: "/v2/", Accepts: gate.Accepts{RawBody: true},
			Target: gate.NoTarget, Action: authz.ServeRegistry, Handle: h.serve},
	}
}

func (h *Handler) serve(c *gate.Ctx) error {
	if h.Registry == nil {
		return ErrUnavailable
	}
	h.Registry.ServeHTTP(c.W, c.R)
	return nil
}

// token is GET /jwt/auth?service=container_registry&scope=...
func (h *Handler) token(c *gate.Ctx) error {
	if svc, _ := c.Params.String("service"); svc != Service {
		return model.Refuse(model.ErrNotFound, "Service")
	}
	// Scopes are read as sent: each scope's actions are comma-separated,
	// which the gate's list parameters would split.
	scopes, err := ParseScopes(c.R.URL.Query()["scope"])
	if err != nil {
		return err
	}
	if h.Registry == nil {
		return ErrUnavailable
	}
	who := c.Principal
	req := Request{Scopes: scopes, Admin: who.Admin(), FindProject: c.FindProject,
		Decide: func(p *model.Project, act authz.Action, owner bool) error {
			return c.AuthorizeProject(p, act, gate.Owner(owner))
		},
		Denied: func(sc Scope, action string, why error) {
			h.Log.Info("registry scope denied", "name", sc.Name, "action", action, "caller", who.Kind.String(), "reason", why.Error())
		}}
	if h.Pushed != nil {
		req.Pushed = func(p *model.Project, path string) error { return h.Pushed(c.Context(), p, path) }
	}
	if who.User != nil {
		req.Subject = who.User.Username
	}
	if who.Job != nil {
		req.JobProjectID = who.Job.ProjectID
	}
	tok, err := h.Registry.Keys.Issue(c.Context(), req, h.Now())
	if err != nil {
		return err
	}
	gate.WriteJSON(c.W, http.StatusOK, tok)
	return nil
}
