package model

import "time"

// AccessLevel is GitLab's numeric role on a project or group.
type AccessLevel int

const (
	NoAccess   AccessLevel = 0
	Guest      AccessLevel = 10
	Reporter   AccessLevel = 20
	Developer  AccessLevel = 30
	Maintainer AccessLevel = 40
	Owner      AccessLevel = 50
)

// Valid reports whether l is one of the levels a membership may have.
func (l AccessLevel) Valid() bool {
	switch l {
	case Guest, Reporter, Developer, Maintainer, Owner:
		return true
	}
	return false
}

func (l AccessLevel) String() string {
	switch l {
	case NoAccess:
		return "none"
	case Guest:
		return "guest"
	case Reporter:
		return "reporter"
	case Developer:
		return "developer"
	case Maintainer:
		return "maintainer"
	case Owner:
		return "owner"
	}
	return "unknown"
}

// Visibility of a project or group.
type Visibility string

const (
	Private  Visibility = "private"
	Internal Visibility = "internal"
	Public   Visibility = "public"
)

// Valid reports whether v names a visibility level.
func (v Visibility) Valid() bool { return v == Private || v == Internal || v == Public }

// Rank orders visibilities from most to least restrictive; a project may not
// be more visible than its group.
func (v Visibility) Rank() int {
	switch v {
	case Internal:
		return 1
	case Public:
		return 2
	}
	return 0
}

type User struct {
	ID        int64
	Username  string
	Name      string
	Email     string
	Admin     bool
	Blocked   bool
	CreatedAt time.Time
	// NamespaceID is the user's personal namespace, where their own
	// projects live.
	NamespaceID int64
}

// State is GitLab's user state field.
func (u *User) State() string {
	if u.Blocked {
		return "blocked"
	}
	return "active"
}

// Token scopes that ciwarden enforces on personal access tokens.
const (
	ScopeAPI     = "api"
	ScopeReadAPI = "read_api"
	// The container registry's scopes: pull, and pull and push.
	ScopeReadRegistry  = "read_registry"
	ScopeWriteRegistry = "write_registry"
)

// PersonalAccessToken is a user's long-lived API credential. Only a digest of
// the secret is ever stored.
type PersonalAccessToken struct {
	ID         int64
	UserID     int64
	Name       string
	Scopes     []string
	ExpiresAt  *time.Time // a date; the token stops working at its start (UTC)
	Revoked    bool
	CreatedAt  time.Time
	LastUsedAt *time.Time
}

// HasScope reports whether the token carries scope s.
func (t *PersonalAccessToken) HasScope(s string) bool {
	for _, x := range t.Scopes {
		if x == s {
			return true
		}
	}
	return false
}

// Expired reports whether the token's expiry date has been reached at now.
func (t *PersonalAccessToken) Expired(now time.Time) bool {
	return t.ExpiresAt != nil && !now.Before(*t.ExpiresAt)
}

// Active is GitLab's "active" field: neither revoked nor expired.
func (t *PersonalAccessToken) Active(now time.Time) bool {
	return !t.Revoked && !t.Expired(now)
}

// Session is a browser's signed-in session (the web UI's credential); its
// secret lives only in the browser's cookie.
type Session struct {
	ID        int64
	UserID    int64
	CreatedAt time.Time
	ExpiresAt time.Time
}
