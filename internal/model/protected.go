package model

import "strings"

// Protected ref kinds.
const (
	RefBranch = "branch"
	RefTag    = "tag"
)

// AdminAccess is the protected-ref level "Admin" (60): instance
// administrators only. NoAccess (0) on a protected ref is "No one".
const AdminAccess AccessLevel = 60

// ValidRefLevel reports whether l is one of the levels a protected branch
// or tag accepts: 0 no one, 30 Developers and Maintainers, 40
// Maintainers, 60 administrators (GitLab's allowed_access_levels).
func ValidRefLevel(l AccessLevel) bool {
	switch l {
	case NoAccess, Developer, Maintainer, AdminAccess:
		return true
	}
	return false
}

// RefLevelDescription is GitLab's access_level_description of a level.
func RefLevelDescription(l AccessLevel) string {
	switch l {
	case NoAccess:
		return "No one"
	case Developer:
		return "Developers + Maintainers"
	case Maintainer:
		return "Maintainers"
	case AdminAccess:
		return "Administrators"
	}
	return ""
}

// ProtectedRef is one protection rule of a project: a branch or tag name,
// or a wildcard pattern (`release/*`), with who may push (for a tag:
// create) and merge, and whether force pushes are allowed.
type ProtectedRef struct {
	ID        int64
	ProjectID int64
	Kind      string // RefBranch or RefTag
	Name      string
	// PushLevel is push_access_level for a branch, create_access_level
	// for a tag.
	PushLevel      AccessLevel
	MergeLevel     AccessLevel
	AllowForcePush bool
}

// Matches reports whether the rule covers the short ref name (main,
// release/1.0, v1). `*` matches any run of characters, `/` included, as
// GitLab's wildcard protected refs do.
func (r *ProtectedRef) Matches(name string) bool {
	if !strings.Contains(r.Name, "*") {
		return r.Name == name
	}
	parts := strings.Split(r.Name, "*")
	if !strings.HasPrefix(name, parts[0]) {
		return false
	}
	name = name[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(name, p)
		if i < 0 {
			return false
		}
		name = name[i+len(p):]
	}
	return len(name) >= len(last) && strings.HasSuffix(name, last)
}

// ProtectedRefs are a project's rules.
type ProtectedRefs []*ProtectedRef

// Match returns the rules of the kind that cover name; none means the
// ref is not protected.
func (rs ProtectedRefs) Match(kind, name string) []*ProtectedRef {
	var out []*ProtectedRef
	for _, r := range rs {
		if r.Kind == kind && r.Matches(name) {
			out = append(out, r)
		}
	}
	return out
}

// SplitRef splits a full ref name into its kind and short name:
// refs/heads/x is a branch x, refs/tags/x a tag x; anything else is
// neither ("").
func SplitRef(full string) (kind, name string) {
	if n, ok := strings.CutPrefix(full, "refs/heads/"); ok {
		return RefBranch, n
	}
	if n, ok := strings.CutPrefix(full, "refs/tags/"); ok {
		return RefTag, n
	}
	return "", full
}
