package gate

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/ciwarden/ciwarden/internal/access"
	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/store"
)

// FinalCallGrace is how long after its job ended the job's own runner may
// still repeat its final update (the runner retries it until it sees
// 200); never for the API (security.md §1).
const FinalCallGrace = 5 * time.Minute

// Gate runs the request path for every route.
type Gate struct {
	Auth   *auth.Authenticator
	Access *access.Authorizer
	Store  *store.Store
	Log    *slog.Logger
	// ExternalURL is where clients reach the server (pagination links).
	ExternalURL string
	// OnDecision, when set, sees the decision every request's route gets
	// before its handler can run (tests use it to prove that every route
	// passes authz.Decide).
	OnDecision func(rt *Route, d authz.Decision)
	// WebError renders a refusal or failure on a page route as an HTML
	// page (internal/web); the gate decides the status and the message.
	WebError func(c *Ctx, status int, msg string)
}

// Handler serves rt: the request path, then rt.Handle.
func (g *Gate) Handler(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { g.Serve(&rt, w, r) })
}

// Router serves the route table: REST and runner-protocol rows below
// prefix, operational rows at their own paths, GitLab's JSON 404 for any
// other path below prefix, and everything else through other (the git
// dispatcher, which matches git's rows and calls Serve). It is the one
// place where handlers are registered: nothing else builds a ServeMux
// (TestOnlyTheGateRegistersHandlers).
func (g *Gate) Router(prefix string, routes []Route, other http.Handler) http.Handler {
	mux := http.NewServeMux()
	for _, rt := range routes {
		switch {
		case rt.Surface == Git || rt.Surface == Web:
			// Matched by their dispatchers (git.Dispatcher,
			// web.Dispatcher): nested group paths are beyond ServeMux.
		case rt.Prefixed():
			mux.Handle(rt.Method+" "+prefix+rt.Path, g.Handler(rt))
		case rt.Method == "":
			mux.Handle(rt.Path, g.Handler(rt))
		default:
			mux.Handle(rt.Method+" "+rt.Path, g.Handler(rt))
		}
	}
	mux.Handle(prefix+"/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusNotFound, NoRoute.Body)
	}))
	mux.Handle("/", other)
	return mux
}

// Serve runs the request path for rt: parse, authenticate, load the
// target, decide, handle. Any error is written by writeError.
func (g *Gate) Serve(rt *Route, w http.ResponseWriter, r *http.Request) {
	c := &Ctx{W: w, R: r, Route: rt, gate: g}
	if err := g.prepare(c); err != nil {
		g.writeError(c, err, true)
		return
	}
	if err := rt.Handle(c); err != nil {
		g.writeError(c, err, false)
	}
}

func (g *Gate) prepare(c *Ctx) error {
	rt := c.Route
	params, err := parseParams(c.W, c.R, rt.Accepts.RawBody)
	if err != nil {
		return err
	}
	c.Params = params
	if !params.wellFormed(c.R.URL.Path) {
		return errMalformed
	}
	creds, err := auth.Extract(c.R, params, rt.Accepts.auth())
	if err != nil {
		return err
	}
	if c.Principal, err = g.Auth.Authenticate(c.Context(), creds); err != nil {
		return err
	}
	if rt.Surface == Web {
		// Every page, even a refusal's, carries the token for its forms.
		g.prepareCSRF(c, creds.Session)
	}
	if err := g.load(c); err != nil {
		return err
	}
	if rt.Surface == Web {
		// After the route's decision (every request gets exactly one),
		// before any handler.
		return checkCSRF(c)
	}
	return nil
}

// load finds the route's target, loads the facts the decision needs and
// decides the route's action.
func (g *Gate) load(c *Ctx) error {
	ctx, rt := c.Context(), c.Route
	switch rt.Target {
	case ProjectTarget:
		p, err := g.Access.FindProject(ctx, c.R.PathValue("id"))
		if err != nil {
			return c.missing(err, authz.Project, rt.Action)
		}
		c.Project = p
		return c.decideProject(p, rt.Action, true)
	case GroupTarget:
		n, err := g.Access.FindGroup(ctx, c.R.PathValue("id"))
		if err != nil {
			return c.missing(err, authz.Group, rt.Action)
		}
		c.Group = n
		return c.decideGroup(n, rt.Action, true)
	case JobTarget:
		id, err := c.PathInt("job_id")
		if err != nil {
			return err
		}
		t := authz.Target{Kind: authz.Job, ID: id}
		if j := c.Principal.Job; j != nil && j.ID == id {
			c.Job = j
			SetJobStatus(c.W, j.Status)
			t.InGrace = rt.Action.FinalGrace && repeatsFinal(c.Params) &&
				j.FinishedAt != nil && g.Auth.Now().Sub(*j.FinishedAt) < FinalCallGrace
		}
		return c.decide(c.Principal.Subject(), t, rt.Action, true)
	case JobProjectTarget:
		id, err := c.PathInt("job_id")
		if err != nil {
			return err
		}
		j, err := g.Store.Job(ctx, id)
		if err != nil {
			return c.missing(err, authz.Project, rt.Action)
		}
		p, err := g.Access.FindProject(ctx, strconv.FormatInt(j.ProjectID, 10))
		if err != nil {
			return c.missing(err, authz.Project, rt.Action)
		}
		c.Job, c.Project = j, p
		return c.decideProject(p, rt.Action, true)
	}
	return c.decide(c.Principal.Subject(), authz.Target{Kind: authz.Instance}, rt.Action, true)
}

// repeatsFinal: the request states a final state (success or failed), as
// the runner's final update does and repeats until it sees 200
// (runner-protocol.md §7); a keep-alive is no repeat.
func repeatsFinal(p *Params) bool {
	state, _ := p.String("state")
	return state == model.StatusSuccess || state == model.StatusFailed
}

// refusal reports whether err is a refusal of the request path rather than
// a failure (for the runner surface, which answers every refusal 403).
func refusal(err error) bool {
	var denied *Denied
	var fail *auth.Failure
	return errors.As(err, &denied) || errors.As(err, &fail) ||
		errors.Is(err, auth.ErrAmbiguous) || errors.Is(err, auth.ErrJobTokenNotAccepted)
}
