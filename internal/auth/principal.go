package auth

import (
	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/model"
)

// Kind is what sort of caller a Principal is.
type Kind int

const (
	Anonymous Kind = iota
	// UserKind authenticated with a personal access token.
	UserKind
	// JobKind authenticated with a CI/CD job token: it acts as the job's
	// user, within the job token's limits, and on the runner protocol as
	// the runner of that job.
	JobKind
	// RunnerKind authenticated with a runner's token.
	RunnerKind
	// RegistrarKind presented the instance's runner registration token.
	RegistrarKind
	// TriggerKind presented a pipeline trigger token: it acts as the
	// trigger's owner, on the trigger's project only.
	TriggerKind
)

func (k Kind) String() string {
	switch k {
	case UserKind:
		return "user"
	case JobKind:
		return "job"
	case RunnerKind:
		return "runner"
	case RegistrarKind:
		return "registrar"
	case TriggerKind:
		return "trigger"
	}
	return "anonymous"
}

// Principal is the result of authentication: who is calling and with which
// credential. Handlers and authz read it; nothing else decides identity.
type Principal struct {
	Kind  Kind
	User  *model.User
	Token *model.PersonalAccessToken // for UserKind with a token
	// Session is the web UI session a signed-in browser presented (for
	// UserKind on pages; Token is nil then).
	Session *model.Session
	Job     *model.Job // for JobKind: the job whose token it is
	// For JobKind, the job's project and pipeline as authentication read
	// them, so that GET /job needs no further reads.
	Project  *model.Project
	Pipeline *model.Pipeline
	Runner   *model.Runner // for RunnerKind
	// Trigger is the trigger token's record, for TriggerKind (User is its
	// owner).
	Trigger *model.Trigger

	jobSubject *authz.JobToken // see Subject
}

// The model values a Principal points to may be shared with other
// requests (the job-token cache hands out copies of the Principal, not of
// what it points to): treat them as read-only.

// AnonymousPrincipal is the caller with no credential.
var AnonymousPrincipal = &Principal{Kind: Anonymous}

// JobPrincipal is job j's token as authentication builds it: the one
// constructor, for authentication, explain and pipeline creation's
// needs:project. The job's project and user are needed; its pipeline may
// be nil where nothing reads it.
func JobPrincipal(j *model.Job, p *model.Project, pl *model.Pipeline, u *model.User) *Principal {
	who := &Principal{Kind: JobKind, User: u, Job: j, Project: p, Pipeline: pl}
	who.jobSubject = &authz.JobToken{JobID: j.ID, Dead: Liveness(j, p, u), ProjectID: j.ProjectID,
		Restricted: j.TokenRestricted, Permissions: j.TokenPermissions}
	if p != nil {
		who.jobSubject.ProjectPath = p.FullPath()
	}
	return who
}

// Liveness says why job j's token is dead, "" while it may be used: its
// job running or canceling (canceling, so that after_script can use it)
// and not erased, its project not being deleted, its user allowed to sign
// in (security.md §1). The one statement of the rule, for every route.
func Liveness(j *model.Job, p *model.Project, u *model.User) string {
	switch {
	case u == nil || u.Blocked:
		return authz.UserBlocked
	case p == nil || p.PendingDeletion():
		return authz.ProjectDeleted
	case !JobAlive(j):
		return authz.JobEnded
	}
	return ""
}

// JobAlive reports whether a job is in a state whose token works: running
// or canceling, and not erased.
func JobAlive(j *model.Job) bool {
	return (j.Status == model.StatusRunning || j.Status == model.StatusCanceling) && j.ErasedAt == nil
}

// Live reports whether a job token's principal may still act.
func (p *Principal) Live() bool { return p.Kind != JobKind || p.jobSubject.Live() }

// UserID is the acting user's ID, 0 when anonymous.
func (p *Principal) UserID() int64 {
	if p.User == nil {
		return 0
	}
	return p.User.ID
}

// Admin reports whether the acting user is an instance administrator.
func (p *Principal) Admin() bool { return p.User != nil && p.User.Admin }

// ReadOnly reports whether the credential only allows reads (a read_api
// token without api).
func (p *Principal) ReadOnly() bool {
	return p.Token != nil && !p.Token.HasScope(model.ScopeAPI)
}

// Subject is the principal as authz sees it.
func (p *Principal) Subject() authz.Subject {
	s := authz.Subject{Authenticated: p.Kind == UserKind || p.Kind == JobKind || p.Kind == TriggerKind, Admin: p.Admin(),
		ReadOnly: p.ReadOnly(), Job: p.jobSubject, Runner: p.Kind == RunnerKind, Registrar: p.Kind == RegistrarKind}
	if t := p.Token; t != nil {
		// GitLab's scopes: api reaches everything; read_api reads the API
		// and pulls images; read_registry and write_registry reach the
		// container registry only.
		api, readAPI := t.HasScope(model.ScopeAPI), t.HasScope(model.ScopeReadAPI)
		write := api || t.HasScope(model.ScopeWriteRegistry)
		s.NoAPI = !api && !readAPI
		s.NoImagePush = !write
		s.NoImagePull = !write && !readAPI && !t.HasScope(model.ScopeReadRegistry)
	}
	if p.Trigger != nil {
		s.TriggerProjectID = p.Trigger.ProjectID
	}
	return s
}
