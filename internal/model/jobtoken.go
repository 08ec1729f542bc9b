package model

import "time"

// Directions of a project link in the token access scope.
const (
	// Inbound: the owner project lets the linked project's job tokens in.
	Inbound = "inbound"
	// Outbound: the owner project's job tokens may reach the linked project
	// (the seed's "Limit CI_JOB_TOKEN access").
	Outbound = "outbound"
)

// MaxScopeLinks is how many project links (per direction) and how many
// group links one project may keep, as GitLab.
const MaxScopeLinks = 200

// ScopeLink is one entry of a project's job-token allowlist: a project
// link (ProjectID, in Direction) or an inbound group link (GroupID).
type ScopeLink struct {
	ID             int64
	OwnerProjectID int64
	Direction      string
	ProjectID      int64
	GroupID        int64
	// DefaultPermissions keeps everything the caller's role allows;
	// otherwise the token may do only what Policies lists.
	DefaultPermissions bool
	Policies           []string
	AddedByID          int64
	CreatedAt          time.Time
	// Loaded for listings.
	Project *Project
	Group   *Namespace
}

// JobTokenAuthorization is one row of the authentication log: the
// cross-project uses of job tokens from OriginProjectID on
// AccessedProjectID.
type JobTokenAuthorization struct {
	AccessedProjectID int64
	OriginProjectID   int64
	LastUsedAt        time.Time
	AllowedCount      int64
	DeniedCount       int64
	// LastPolicy is the permission the last use needed; LastAllowed its
	// outcome and LastDenialReason the refusing check and message of the
	// last denial.
	LastPolicy       string
	LastAllowed      bool
	LastDenialReason string
	LastDeniedAt     *time.Time
	Origin           *Project // loaded for listings
}

// NearestEntry picks, among the entries of one inbound allowlist that
// admit a project (its own project link and links of groups above it),
// the one that governs it: the project link, else the link of the
// deepest ancestor group (ancestors are listed root first). nil when
// links is empty.
func NearestEntry(links []*ScopeLink, ancestors []int64) *ScopeLink {
	var best *ScopeLink
	bestDepth := -1
	for _, l := range links {
		depth := len(ancestors) // a project link is nearer than any group
		if l.GroupID != 0 {
			depth = -1
			for i, id := range ancestors {
				if id == l.GroupID {
					depth = i
				}
			}
		}
		if depth > bestDepth {
			best, bestDepth = l, depth
		}
	}
	return best
}
