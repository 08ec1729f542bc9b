// Package api serves GitLab's REST API v4. Every endpoint is one row of the
// route table (routes.go) that declares the credentials it accepts, the
// target it acts on and the permission it needs; the pipeline in this file
// authenticates, loads the target and asks authz.Decide before any handler
// runs.
package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/ciwarden/ciwarden/internal/access"
	"github.com/ciwarden/ciwarden/internal/accounts"
	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/blob"
	"github.com/ciwarden/ciwarden/internal/ci"
	"github.com/ciwarden/ciwarden/internal/git"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/projects"
	"github.com/ciwarden/ciwarden/internal/store"
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
	Queue    *ci.Queue
	Repos    *git.Repos
	// Access decides access to projects; AuthLog is its authentication
	// log, flushed before it is read.
	Access  *access.Authorizer
	AuthLog *access.AuthLog
	// Blobs holds artifacts and package files.
	Blobs blob.Store
	// MaxArtifactsSize and MaxPackageFileSize bound one upload (413).
	MaxArtifactsSize   int64
	MaxPackageFileSize int64
	ExternalURL        string
	// RunnerRegistrationToken enables legacy registration (POST /runners)
	// with this token; empty disables it.
	RunnerRegistrationToken string
	// Masker masks job logs as they arrive.
	Masker LogMasker
	// OnTraceLeak counts a finished job whose stored log still holds one
	// of its secrets.
	OnTraceLeak func()
	// LongPoll is how long POST /jobs/request holds a runner that has
	// seen the current queue.
	LongPoll time.Duration
	Log      *slog.Logger
}

// TargetKind says which path parameter names the resource a route acts on.
type TargetKind int

const (
	NoTarget TargetKind = iota
	// ProjectTarget: {id} is a project ID or URL-encoded full path.
	ProjectTarget
	// GroupTarget: {id} is a group ID or URL-encoded full path.
	GroupTarget
)

func (t TargetKind) String() string {
	switch t {
	case ProjectTarget:
		return "project"
	case GroupTarget:
		return "group"
	}
	return "-"
}

// Accepts declares the credentials a route takes and how they may travel.
type Accepts struct {
	// PAT: transports for personal access tokens.
	PAT auth.Transport
	// JobToken: transports for CI/CD job tokens; zero means a job token is
	// not accepted and the request is treated as anonymous.
	JobToken auth.Transport
	// Runner: the caller is a runner, by its token in the body's token or
	// the RUNNER-TOKEN header.
	Runner bool
	// RunnerJob: a runner's call about one job ({job_id}), with that
	// job's token in the body's token or the JOB-TOKEN header.
	RunnerJob bool
	// RawBody: the body is the payload (a trace chunk, a file), never
	// parameters, whatever its Content-Type says.
	RawBody bool
}

// runnerAPI is how the runner endpoints authenticate.
var (
	runnerAPI    = Accepts{Runner: true}
	runnerJobAPI = Accepts{RunnerJob: true}
	runnerLogAPI = Accepts{RunnerJob: true, RawBody: true}
	// jobAPI: personal access tokens and the job token in the JOB-TOKEN
	// header, the job_token parameter or as Bearer.
	jobAPI = Accepts{PAT: userAPI.PAT, JobToken: auth.Header | auth.Param | auth.Bearer}
)

// userAPI is how GitLab's REST API takes a personal access token.
var userAPI = Accepts{PAT: auth.Header | auth.Param | auth.Bearer}

// Route is one endpoint.
type Route struct {
	Method  string
	Path    string // below Prefix, in ServeMux pattern syntax
	Accepts Accepts
	Target  TargetKind
	Action  authz.Action
	Handle  func(*Ctx) error
}

// Ctx is one request as a handler sees it: authenticated, its target
// loaded and authorized, its parameters parsed.
type Ctx struct {
	W         http.ResponseWriter
	R         *http.Request
	API       *API
	Principal *auth.Principal
	Params    *Params
	Project   *model.Project   // for ProjectTarget routes
	Group     *model.Namespace // for GroupTarget routes
	// Level is the principal's effective level on the target.
	Level model.AccessLevel
	// Runner is the calling runner, for runner routes.
	Runner *model.Runner
	// RunnerJob is the job a runner's call is about, its token checked
	// (but not its liveness: the handler applies the final-call grace).
	RunnerJob *model.Job
}

// Context is the request's context.
func (c *Ctx) Context() context.Context { return c.R.Context() }

// Handler returns the API's http.Handler: the route table on a ServeMux.
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range a.Routes() {
		rt := rt
		mux.HandleFunc(rt.Method+" "+Prefix+rt.Path, func(w http.ResponseWriter, r *http.Request) { a.serve(rt, w, r) })
	}
	mux.HandleFunc(Prefix+"/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "404 Not Found"})
	})
	return mux
}

// serve is the request path: parse, authenticate, load the target,
// authorize, handle; any error is written by writeError.
func (a *API) serve(rt Route, w http.ResponseWriter, r *http.Request) {
	c := &Ctx{W: w, R: r, API: a}
	if err := a.prepare(c, rt); err != nil {
		writeError(w, r, err, a.Log)
		return
	}
	if err := rt.Handle(c); err != nil {
		writeError(w, r, err, a.Log)
	}
}

func (a *API) prepare(c *Ctx, rt Route) error {
	params, err := parseParams(c.W, c.R, rt.Accepts.RawBody)
	if err != nil {
		return err
	}
	c.Params = params
	if !params.wellFormed(c.R.URL.Path) {
		return errMalformed
	}
	switch {
	case rt.Accepts.Runner:
		c.Principal = auth.AnonymousPrincipal
		return c.authenticateRunner()
	case rt.Accepts.RunnerJob:
		c.Principal = auth.AnonymousPrincipal
		return c.authenticateRunnerJob()
	}
	creds, err := auth.Extract(c.R, params.Form(), rt.Accepts.PAT, rt.Accepts.JobToken)
	if err != nil {
		return err
	}
	if c.Principal, err = a.Auth.Authenticate(c.Context(), creds); err != nil {
		return err
	}
	switch rt.Target {
	case ProjectTarget:
		if c.Project, err = a.findProject(c.Context(), c.R.PathValue("id")); err != nil {
			return a.hideOrFail(c, rt.Action, err, "Project")
		}
		return c.authorizeProject(c.Project, rt.Action)
	case GroupTarget:
		if c.Group, err = a.findGroup(c.Context(), c.R.PathValue("id")); err != nil {
			return a.hideOrFail(c, rt.Action, err, "Group")
		}
		return c.authorizeGroup(c.Group, rt.Action)
	}
	return c.authorize(authz.Target{Kind: authz.Instance}, rt.Action)
}

// hideOrFail answers a missing target exactly as a private one the
// caller cannot see (401 to anonymous writers, else 404), so probing
// reveals nothing.
func (a *API) hideOrFail(c *Ctx, act authz.Action, err error, thing string) error {
	if !errors.Is(err, model.ErrNotFound) {
		return err
	}
	kind := authz.Project
	if thing == "Group" {
		kind = authz.Group
	}
	if d := authz.Decide(c.subject(), authz.Target{Kind: kind, Visibility: model.Private}, act); !d.Allowed && d.Status != http.StatusNotFound {
		return denial(d)
	}
	return errNotFound(thing)
}

// findProject resolves an ID or full path; a project pending deletion does
// not exist as far as the API is concerned.
func (a *API) findProject(ctx context.Context, ref string) (*model.Project, error) {
	var p *model.Project
	var err error
	if id, perr := strconv.ParseInt(ref, 10, 64); perr == nil {
		p, err = a.Store.Project(ctx, id)
	} else {
		p, err = a.Store.ProjectByPath(ctx, ref)
	}
	if err != nil {
		return nil, err
	}
	if p.PendingDelete || p.Namespace.PendingDelete {
		return nil, model.ErrNotFound
	}
	return p, nil
}

// findGroup resolves a group ID or full path; personal namespaces and
// groups pending deletion are not groups here.
func (a *API) findGroup(ctx context.Context, ref string) (*model.Namespace, error) {
	var n *model.Namespace
	var err error
	if id, perr := strconv.ParseInt(ref, 10, 64); perr == nil {
		n, err = a.Store.Namespace(ctx, id)
	} else {
		n, err = a.Store.NamespaceByPath(ctx, ref)
	}
	if err != nil {
		return nil, err
	}
	if !n.IsGroup() || n.PendingDelete {
		return nil, model.ErrNotFound
	}
	return n, nil
}

func (c *Ctx) subject() authz.Subject { return c.Principal.Subject() }

func (c *Ctx) authorize(t authz.Target, act authz.Action) error {
	if d := authz.Decide(c.subject(), t, act); !d.Allowed {
		return denial(d)
	}
	return nil
}

// authorizeProject decides act on p, through the one authorizer every
// transport shares (token access scope and authentication log included).
func (c *Ctx) authorizeProject(p *model.Project, act authz.Action) error {
	d, level, err := c.API.Access.Project(c.Context(), c.Principal, p, act)
	if err != nil {
		return err
	}
	c.Level = level
	if !d.Allowed {
		return denial(d)
	}
	return nil
}

// authorizeGroup loads the caller's standing on n and decides act.
func (c *Ctx) authorizeGroup(n *model.Namespace, act authz.Action) error {
	d, level, err := c.decideGroup(n, act)
	if err != nil {
		return err
	}
	c.Level = level
	if !d.Allowed {
		return denial(d)
	}
	return nil
}

// decideGroup is the decision on act in group n, with the caller's level
// there.
func (c *Ctx) decideGroup(n *model.Namespace, act authz.Action) (authz.Decision, model.AccessLevel, error) {
	level, related, err := c.API.Store.GroupAccessLevel(c.Context(), c.Principal.UserID(), n)
	if err != nil {
		return authz.Decision{}, 0, err
	}
	t := authz.Target{Kind: authz.Group, ID: n.ID, Visibility: n.Visibility, Level: level, Related: related}
	return authz.Decide(c.subject(), t, act), level, nil
}

// viewer is the caller as listings filter for them.
func (c *Ctx) viewer() store.Viewer {
	return store.Viewer{UserID: c.Principal.UserID(), Admin: c.Principal.Admin()}
}

// pathInt reads an integer path parameter; anything else is a 400 as in
// GitLab's parameter validation.
func (c *Ctx) pathInt(name string) (int64, error) {
	v, err := strconv.ParseInt(c.R.PathValue(name), 10, 64)
	if err != nil || v < 0 {
		return 0, errParam(name + " is invalid")
	}
	return v, nil
}

func (c *Ctx) now() time.Time { return c.API.Auth.Now() }
