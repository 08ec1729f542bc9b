// Package gate is the one way into ciwarden over HTTP. Every endpoint, of
// the REST API, the runner protocol and git's smart HTTP, is a Route that
// declares the credentials it accepts and how they travel, the target it
// acts on and the action it needs; every request passes parse ->
// authenticate -> load the target and its facts -> authz.Decide before its
// handler runs, and every error becomes HTTP here, in the words of its
// surface (docs/architecture.md, "The request path").
package gate

import (
	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/authz"
)

// Surface is the protocol a route belongs to, which decides how its
// refusals and errors are written.
type Surface uint8

const (
	// REST is GitLab's API v4: JSON bodies, {"message": ...} errors.
	REST Surface = iota
	// Runner is the runner protocol: JSON, but every refusal is a 403
	// (gitlab-runner drops the job or counts the runner unhealthy), with
	// the job's status in Job-Status.
	Runner
	// Git is smart HTTP: text/plain answers in git's and GitLab's words,
	// HTTP Basic challenges.
	Git
	// Ops are the operator's endpoints (health, readiness, metrics): no
	// credentials, absolute paths.
	Ops
	// Registry is the container registry: its token service (/jwt/auth)
	// and the embedded registry (/v2/), at absolute paths, with errors in
	// the Docker token and registry APIs' {"errors": [...]} shape. A row
	// with no Method takes every method (the registry routes its own).
	Registry
	// Web is the HTML UI (internal/web): the session cookie is its one
	// credential, forms carry a CSRF token, refusals are HTML pages (or
	// a redirect to sign in).
	Web
)

func (s Surface) String() string {
	switch s {
	case Runner:
		return "runner"
	case Git:
		return "git"
	case Ops:
		return "ops"
	case Registry:
		return "registry"
	case Web:
		return "web"
	}
	return "rest"
}

// TargetKind says what a route acts on, and so what the gate loads and
// decides about before the handler runs.
type TargetKind uint8

const (
	// NoTarget: an instance-wide action.
	NoTarget TargetKind = iota
	// ProjectTarget: the path's {id} is a project ID or URL-encoded full
	// path (git: the repository path).
	ProjectTarget
	// GroupTarget: {id} is a group ID or full path.
	GroupTarget
	// JobTarget: a runner's call about the job {job_id}, made with that
	// job's token.
	JobTarget
	// JobProjectTarget: {job_id} is a job, and the decision is about its
	// project (the runner's dependency download).
	JobProjectTarget
)

func (t TargetKind) String() string {
	switch t {
	case ProjectTarget:
		return "project"
	case GroupTarget:
		return "group"
	case JobTarget:
		return "job"
	case JobProjectTarget:
		return "job_project"
	}
	return "-"
}

// Accepts declares the credentials a route takes and how they may travel.
// A credential sent any other way is not looked at: the request is
// anonymous as far as it goes (security.md §2).
type Accepts struct {
	// PAT: transports for personal access tokens.
	PAT auth.Transport
	// JobToken: transports for CI/CD job tokens (Param is the job_token or
	// token parameter, in the query or the body).
	JobToken auth.Transport
	// RunnerToken: a runner's token, in the body's token or RUNNER-TOKEN.
	RunnerToken bool
	// RegistrationToken: legacy registration's token, in the body's token.
	RegistrationToken bool
	// TriggerToken: a pipeline trigger token in the token parameter
	// (with JobToken's TriggerParam: the trigger API only).
	TriggerToken bool
	// Session: the web UI's session cookie (page rows only).
	Session bool
	// RawBody: the body is the payload (a trace chunk, a file, a git
	// pack), never parameters, whatever its Content-Type says.
	RawBody bool
}

// Prefixed reports whether the route's Path is below the API prefix.
func (r *Route) Prefixed() bool { return r.Surface == REST || r.Surface == Runner }

func (a Accepts) auth() auth.Accept {
	return auth.Accept{PAT: a.PAT, Job: a.JobToken, Runner: a.RunnerToken, Registration: a.RegistrationToken, Trigger: a.TriggerToken, Session: a.Session}
}

// Credentials describes the accepted credentials for the printed table.
func (a Accepts) Credentials() (pat, job, other string) {
	pat, job, other = a.PAT.String(), a.JobToken.String(), "-"
	switch {
	case a.RunnerToken:
		other = "runner token (body token, RUNNER-TOKEN)"
	case a.RegistrationToken:
		other = "registration token (body token)"
	case a.TriggerToken:
		other = "trigger token (token)"
	case a.Session:
		other = "session (cookie)"
	}
	return pat, job, other
}

// Route is one endpoint: a row of the route table.
type Route struct {
	Surface Surface
	Method  string
	// Path is the route's pattern: for REST and the runner protocol a
	// ServeMux pattern below /api/v4; for Ops an absolute one; for git the
	// smart-HTTP shape, which the git package matches.
	Path    string
	Accepts Accepts
	Target  TargetKind
	Action  authz.Action
	Handle  func(*Ctx) error
}
