// Package api serves GitLab's REST API v4 (the runner protocol and the
// runners' endpoints are internal/runnerapi's). Every endpoint is one row
// of the route table (routes.go) that
// declares the credentials it accepts, the target it acts on and the
// permission it needs; internal/gate authenticates, loads the target and
// asks authz.Decide before any handler here runs.
package api

import (
	"log/slog"
	"time"

	"github.com/ciwarden/ciwarden/internal/access"
	"github.com/ciwarden/ciwarden/internal/accounts"
	"github.com/ciwarden/ciwarden/internal/artifacts"
	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/ci"
	"github.com/ciwarden/ciwarden/internal/gate"
	"github.com/ciwarden/ciwarden/internal/git"
	"github.com/ciwarden/ciwarden/internal/jobtoken"
	"github.com/ciwarden/ciwarden/internal/packages"
	"github.com/ciwarden/ciwarden/internal/projects"
	"github.com/ciwarden/ciwarden/internal/releases"
	"github.com/ciwarden/ciwarden/internal/store"
	"github.com/ciwarden/ciwarden/internal/variables"
)

// Prefix is where the API lives.
const Prefix = "/api/v4"

// API holds what the handlers need.
type API struct {
	Store    *store.Store
	Auth     *auth.Authenticator
	Accounts *accounts.Service
	Projects *projects.Service
	CI       *ci.Service
	Repos    *git.Repos
	// Access decides access to projects and groups.
	Access *access.Authorizer
	// JobTokens is the token access scope: allowlists, the
	// authentication log, explain.
	JobTokens *jobtoken.Service
	// Artifacts keeps job artifacts; Packages is the package registry.
	Artifacts *artifacts.Service
	Packages  *packages.Service
	// Variables are the CI/CD variables of projects, groups and the
	// instance.
	Variables *variables.Service
	// Releases are the projects' releases and their asset links.
	Releases    *releases.Service
	ExternalURL string
	Log         *slog.Logger
}

// The route table's types are the gate's (internal/gate): every endpoint
// is a row of it.
type (
	Accepts    = gate.Accepts
	TargetKind = gate.TargetKind
)

const (
	NoTarget      = gate.NoTarget
	ProjectTarget = gate.ProjectTarget
	GroupTarget   = gate.GroupTarget
)

// jobAPI: personal access tokens and the job token in the JOB-TOKEN
// header, the job_token parameter or as Bearer.
var jobAPI = Accepts{PAT: userAPI.PAT, JobToken: auth.Header | auth.Param | auth.Bearer}

// userAPI is how GitLab's REST API takes a personal access token.
var userAPI = Accepts{PAT: auth.Header | auth.Param | auth.Bearer}

// Route is one endpoint of the table in routes.go, with its handler in
// this package's terms.
type Route struct {
	Method  string
	Path    string // below Prefix, in ServeMux pattern syntax
	Accepts Accepts
	Target  TargetKind
	Action  authz.Action
	Handle  func(*Ctx) error
}

// Ctx is one request as a handler sees it: the gate's request (principal,
// parameters, loaded and authorized target) and the API's services.
type Ctx struct {
	*gate.Ctx
	API *API
}

// GateRoutes is the route table as the gate serves it.
func (a *API) GateRoutes() []gate.Route {
	var out []gate.Route
	for _, rt := range a.Routes() {
		h := rt.Handle
		out = append(out, gate.Route{Surface: gate.REST, Method: rt.Method, Path: rt.Path, Accepts: rt.Accepts,
			Target: rt.Target, Action: rt.Action, Handle: func(c *gate.Ctx) error { return h(&Ctx{Ctx: c, API: a}) }})
	}
	return out
}

// viewer is the caller as listings filter for them.
func (c *Ctx) viewer() store.Viewer {
	return store.Viewer{UserID: c.Principal.UserID(), Admin: c.Principal.Admin()}
}

func (c *Ctx) now() time.Time { return c.API.Auth.Now() }
