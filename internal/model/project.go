package model

import (
	"strconv"
	"strings"
	"time"
)

// Namespace kinds: every user has a personal namespace; groups nest.
const (
	NamespaceUser  = "user"
	NamespaceGroup = "group"
)

// Namespace is a group or a user's personal namespace. Groups' IDs are their
// namespace IDs, as in GitLab.
type Namespace struct {
	ID          int64
	Kind        string
	Name        string
	Path        string
	FullPath    string
	FullName    string
	ParentID    *int64
	OwnerID     *int64 // the user, for personal namespaces
	Visibility  Visibility
	Description string
	// Traversal lists the IDs from the root group down to this namespace
	// (inclusive). It makes "every ancestor" a parse and "every descendant"
	// a prefix match.
	Traversal     []int64
	PendingDelete bool
	CreatedAt     time.Time
}

// IsGroup reports whether the namespace is a group.
func (n *Namespace) IsGroup() bool { return n.Kind == NamespaceGroup }

// TraversalString encodes ids as "/1/5/9/"; a descendant's string starts
// with its ancestor's.
func TraversalString(ids []int64) string {
	var b strings.Builder
	b.WriteByte('/')
	for _, id := range ids {
		b.WriteString(strconv.FormatInt(id, 10))
		b.WriteByte('/')
	}
	return b.String()
}

// ParseTraversal decodes TraversalString's output.
func ParseTraversal(s string) []int64 {
	var ids []int64
	for _, part := range strings.Split(strings.Trim(s, "/"), "/") {
		if part == "" {
			continue
		}
		id, err := strconv.ParseInt(part, 10, 64)
		if err == nil {
			ids = append(ids, id)
		}
	}
	return ids
}

// Project is a repository with its CI/CD settings.
type Project struct {
	ID            int64
	Name          string
	Path          string
	Description   string
	NamespaceID   int64
	Namespace     *Namespace // loaded with the project
	Visibility    Visibility
	DefaultBranch string
	CreatorID     int64
	PendingDelete bool
	CreatedAt     time.Time
	UpdatedAt     time.Time
	// CIPushRepositoryForJobTokenAllowed lets a job token push to its own
	// project (docs/gitlab-compat.md 4.7); default off.
	CIPushRepositoryForJobTokenAllowed bool
	// JobTokenOutboundEnabled is the seed's "Limit CI_JOB_TOKEN access"
	// (default off); JobTokenInboundEnabled is the project's allowlist of
	// who may reach it (default on). gitlab-compat.md §4.
	JobTokenOutboundEnabled bool
	JobTokenInboundEnabled  bool
	// JobTokenScopeVersion changes with every change to the project's
	// allowlist entries (in either direction).
	JobTokenScopeVersion int64
}

// PendingDeletion reports whether the project is being deleted, on its own
// or with its namespace: from that moment it exists for nobody (API, git,
// its jobs' tokens) while the reaper removes it. The one statement of a
// project's liveness.
func (p *Project) PendingDeletion() bool {
	return p.PendingDelete || (p.Namespace != nil && p.Namespace.PendingDelete)
}

// FullPath is the namespace's full path plus the project's path.
func (p *Project) FullPath() string {
	if p.Namespace == nil {
		return p.Path
	}
	return p.Namespace.FullPath + "/" + p.Path
}

// FullName is GitLab's name_with_namespace.
func (p *Project) FullName() string {
	if p.Namespace == nil {
		return p.Name
	}
	return p.Namespace.FullName + " / " + p.Name
}

// Member is one user's direct membership of a project or group.
type Member struct {
	UserID      int64
	SourceKind  string // "project" or "namespace"
	SourceID    int64
	AccessLevel AccessLevel
	ExpiresAt   *time.Time
	CreatedAt   time.Time
	CreatedBy   int64
	User        *User // loaded for listings
}

// Membership source kinds.
const (
	SourceProject   = "project"
	SourceNamespace = "namespace"
)
