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
	// user, within the job token's limits.
	JobKind
)

func (k Kind) String() string {
	switch k {
	case UserKind:
		return "user"
	case JobKind:
		return "job"
	}
	return "anonymous"
}

// Principal is the result of authentication: who is calling and with which
// credential. Handlers and authz read it; nothing else decides identity.
type Principal struct {
	Kind  Kind
	User  *model.User
	Token *model.PersonalAccessToken // for UserKind
	Job   *model.Job                 // for JobKind: the job whose token it is
	// For JobKind, the job's project and pipeline as authentication read
	// them, so that GET /job needs no further reads.
	Project  *model.Project
	Pipeline *model.Pipeline

	jobSubject *authz.JobToken // see Subject
}

// The model values a Principal points to may be shared with other
// requests (the job-token cache hands out copies of the Principal, not of
// what it points to): treat them as read-only.

// AnonymousPrincipal is the caller with no credential.
var AnonymousPrincipal = &Principal{Kind: Anonymous}

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
	s := authz.Subject{Authenticated: p.Kind != Anonymous, Admin: p.Admin(), ReadOnly: p.ReadOnly()}
	if p.Kind == JobKind {
		s.Job = p.jobSubject
		if s.Job == nil {
			s.Job = jobSubject(p)
		}
	}
	return s
}

// jobSubject is a job token's side of the decision. Authentication
// builds it once per token (the cache keeps it), so that requests do not
// allocate it again.
func jobSubject(p *Principal) *authz.JobToken {
	j := &authz.JobToken{Live: JobAlive(p.Job), ProjectID: p.Job.ProjectID,
		Restricted: p.Job.TokenRestricted, Permissions: p.Job.TokenPermissions}
	if p.Project != nil {
		j.ProjectPath = p.Project.FullPath()
	}
	return j
}
