package gate

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/ciwarden/ciwarden/internal/access"
	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/model"
)

// Ctx is one request as a handler sees it: authenticated, its target
// loaded and authorized, its parameters parsed.
type Ctx struct {
	W         http.ResponseWriter
	R         *http.Request
	Route     *Route
	Principal *auth.Principal
	Params    *Params
	Project   *model.Project   // ProjectTarget, JobProjectTarget
	Group     *model.Namespace // GroupTarget
	// Job is the job a runner's call is about (JobTarget: the token's own
	// job), or the job whose project was decided (JobProjectTarget).
	Job *model.Job

	gate *Gate
	// subject and target are what the route's decision saw, so that a
	// handler's further question about the same target reuses its facts.
	subject authz.Subject
	target  authz.Target
	// refRules are the project's protected refs, loaded by the first
	// AuthorizeRef of the request.
	refRules model.ProtectedRefs
	refsRead bool
	// csrf is the CSRF token the page's forms carry (web.go).
	csrf string
}

// Context is the request's context.
func (c *Ctx) Context() context.Context { return c.R.Context() }

// PathInt reads an integer path parameter; anything else is a 400 as in
// GitLab's parameter validation.
func (c *Ctx) PathInt(name string) (int64, error) {
	v, err := strconv.ParseInt(c.R.PathValue(name), 10, 64)
	if err != nil || v < 0 {
		return 0, ParamError(name + " is invalid")
	}
	return v, nil
}

// decide asks authz about act and settles the answer.
func (c *Ctx) decide(s authz.Subject, t authz.Target, act authz.Action, route bool) error {
	return c.settle(s, t, authz.Decide(s, t, act), route)
}

// settle keeps what decision d saw when it is the route's own (the one
// every request must pass), and turns a refusal into the error the
// surface renders.
func (c *Ctx) settle(s authz.Subject, t authz.Target, d authz.Decision, route bool) error {
	if route {
		c.subject, c.target = s, t
		if c.gate.OnDecision != nil {
			c.gate.OnDecision(c.Route, d)
		}
	}
	if !d.Allowed {
		return &Denied{Decision: d}
	}
	return nil
}

// decideProject decides act on p through the one authorizer every
// transport shares (token access scope and authentication log included).
func (c *Ctx) decideProject(p *model.Project, act authz.Action, route bool, facts ...Fact) error {
	if len(facts) == 0 {
		s, t, d, err := c.gate.Access.Decide(c.Context(), c.Principal, p, act)
		if err != nil {
			return err
		}
		return c.settle(s, t, d, route)
	}
	s, t, err := c.gate.Access.Facts(c.Context(), c.Principal, p, act)
	if err != nil {
		return err
	}
	for _, f := range facts {
		f(&t)
	}
	d := authz.Decide(s, t, act)
	c.gate.Access.Record(s, t, act, d)
	return c.settle(s, t, d, route)
}

func (c *Ctx) decideGroup(n *model.Namespace, act authz.Action, route bool) error {
	s, t, err := c.gate.Access.GroupFacts(c.Context(), c.Principal, n)
	if err != nil {
		return err
	}
	return c.decide(s, t, act, route)
}

// missing answers a target that does not exist exactly as one the caller
// may not see (401 to the anonymous where the action needs a sign-in,
// else 404), so that probing reveals nothing.
func (c *Ctx) missing(err error, kind authz.TargetKind, act authz.Action) error {
	if !errors.Is(err, model.ErrNotFound) {
		return err
	}
	t := authz.Target{Kind: kind, Visibility: model.Private}
	if err := c.decide(c.Principal.Subject(), t, act, true); err != nil {
		var denied *Denied
		if errors.As(err, &denied) && denied.Decision.Status != http.StatusNotFound {
			return err
		}
	}
	msg := authz.MsgProjectNotFound
	switch {
	case act.NotFound != "":
		msg = act.NotFound
	case kind == authz.Group:
		msg = authz.MsgGroupNotFound
	}
	return &Denied{Decision: authz.Decision{Status: http.StatusNotFound, Message: msg, Check: authz.CheckVisibility}}
}

// Authorize decides a further action on the request's target, with the
// facts the route's decision loaded; facts may add what the handler knows
// about the resource acted on (Owner).
func (c *Ctx) Authorize(act authz.Action, facts ...Fact) error {
	t := c.target
	for _, f := range facts {
		f(&t)
	}
	return c.decide(c.subject, t, act, false)
}

// Can reports whether Authorize would allow act.
func (c *Ctx) Can(act authz.Action, facts ...Fact) bool { return c.Authorize(act, facts...) == nil }

// Fact adds something the handler knows to a decision's target.
type Fact func(*authz.Target)

// Owner: the caller made the resource acted on.
func Owner(owns bool) Fact { return func(t *authz.Target) { t.Owner = owns } }

// AuthorizeRef decides act, a change to one branch or tag of the route's
// project (fullRef: refs/heads/..., refs/tags/...), with the facts of the
// route's decision and the protected refs that cover fullRef (check
// protected_ref); the project's rules are read once per request.
func (c *Ctx) AuthorizeRef(act authz.Action, fullRef string) error {
	if !c.refsRead {
		rules, err := c.gate.Access.ProtectedRefs(c.Context(), c.Project)
		if err != nil {
			return err
		}
		c.refRules, c.refsRead = rules, true
	}
	ref := access.RefFacts(c.refRules, fullRef)
	return c.Authorize(act, func(t *authz.Target) { t.Ref = ref })
}

// AuthorizeProject decides act on another project than the route's, with
// what the handler knows about the resource acted on (facts, as
// Authorize's).
func (c *Ctx) AuthorizeProject(p *model.Project, act authz.Action, facts ...Fact) error {
	return c.decideProject(p, act, false, facts...)
}

// AuthorizeGroup decides act in a group other than the route's target.
func (c *Ctx) AuthorizeGroup(n *model.Namespace, act authz.Action) error {
	return c.decideGroup(n, act, false)
}

// FindProject and FindGroup resolve an ID or full path, as the gate does
// for route targets.
func (c *Ctx) FindProject(ref string) (*model.Project, error) {
	return c.gate.Access.FindProject(c.Context(), ref)
}
func (c *Ctx) FindGroup(ref string) (*model.Namespace, error) {
	return c.gate.Access.FindGroup(c.Context(), ref)
}

// SetJobStatus puts a job's status on an answer of the runner protocol,
// with the trace update interval (runner-protocol.md §8).
func SetJobStatus(w http.ResponseWriter, status string) {
	w.Header().Set("Job-Status", status)
	w.Header().Set("X-GitLab-Trace-Update-Interval", TraceUpdateInterval)
}

// TraceUpdateInterval is what runners are told to wait between trace
// PATCHes (seconds).
const TraceUpdateInterval = "3"

// PathPipeline is the pipeline {pipeline_id} of the route's project: one
// of another project is not found, as one that does not exist (the API's
// and the pages' one rule).
func (c *Ctx) PathPipeline() (*model.Pipeline, error) {
	id, err := c.PathInt("pipeline_id")
	if err != nil {
		return nil, err
	}
	p, err := c.gate.Store.Pipeline(c.Context(), id)
	if errors.Is(err, model.ErrNotFound) || (err == nil && p.ProjectID != c.Project.ID) {
		return nil, NotFound("")
	}
	return p, err
}

// PathJob is the job {job_id} of the route's project, as PathPipeline.
func (c *Ctx) PathJob() (*model.Job, error) {
	id, err := c.PathInt("job_id")
	if err != nil {
		return nil, err
	}
	j, err := c.gate.Store.Job(c.Context(), id)
	if errors.Is(err, model.ErrNotFound) || (err == nil && j.ProjectID != c.Project.ID) {
		return nil, NotFound("")
	}
	return j, err
}
