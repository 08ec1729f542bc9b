// Package authz is ciwarden's one access decision. Decide is a pure
// function of who is asking (Subject), what they ask about (Target) and
// what they want to do (Action); every endpoint goes through it, and it
// says which check refused, so a denial can explain itself.
package authz

import (
	"net/http"

	"github.com/ciwarden/ciwarden/internal/model"
)

// TargetKind is what an action applies to.
type TargetKind int

const (
	// Instance actions have no project or group (user administration,
	// creating a top-level group).
	Instance TargetKind = iota
	Project
	Group
)

// Subject is the caller, as authz needs to see it.
type Subject struct {
	Authenticated bool
	Admin         bool
	// ReadOnly is a credential limited to reads (read_api).
	ReadOnly bool
}

// Target is the project or group acted on, with the subject's standing on
// it, loaded before the decision so that Decide stays pure.
type Target struct {
	Kind       TargetKind
	Visibility model.Visibility
	// Level is the subject's effective access level (inherited included).
	Level model.AccessLevel
	// Related is true for a group when the subject belongs to a subgroup or
	// a project beneath it: they may see the group but hold no role on it.
	Related bool
}

// Action is a permission an endpoint needs.
type Action struct {
	Name string
	// Write actions need an api-scoped credential and a signed-in caller.
	Write bool
	// Auth: the action needs a signed-in caller even when it only reads.
	Auth bool
	// Min is the role needed on the target once it is visible.
	Min model.AccessLevel
	// MinPrivate is the role needed when the target is private; reading
	// code, for instance, is open on public and internal projects but
	// needs Reporter on a private one.
	MinPrivate model.AccessLevel
	// AdminOnly actions are for instance administrators.
	AdminOnly bool
}

// The actions. Roles follow GitLab's permissions table.
var (
	ReadUser        = Action{Name: "read_user"}
	ReadCurrentUser = Action{Name: "read_current_user", Auth: true}
	AdminUsers      = Action{Name: "admin_users", Write: true, AdminOnly: true}
	ListAllUsers    = Action{Name: "read_users_list", Auth: true}
	ReadOwnTokens   = Action{Name: "read_personal_access_tokens", Auth: true}
	RevokeOwnToken  = Action{Name: "revoke_personal_access_token", Write: true}
	CreateGroup     = Action{Name: "create_group", Write: true}
	CreateProject   = Action{Name: "create_project", Write: true}
	// Browse is listing what the caller may see; the listing filters.
	Browse = Action{Name: "browse"}

	ReadProject         = Action{Name: "read_project"}
	UpdateProject       = Action{Name: "admin_project", Write: true, Min: model.Maintainer}
	RemoveProject       = Action{Name: "remove_project", Write: true, Min: model.Owner}
	AdminProjectMembers = Action{Name: "admin_project_member", Write: true, Min: model.Maintainer}
	ReadRepository      = Action{Name: "download_code", MinPrivate: model.Reporter}
	PushCode            = Action{Name: "push_code", Write: true, Min: model.Developer}
	// Pipelines and jobs: everyone who sees a public or internal project
	// sees its pipelines; a private one needs Reporter.
	ReadPipeline   = Action{Name: "read_pipeline", MinPrivate: model.Reporter}
	CreatePipeline = Action{Name: "create_pipeline", Write: true, Min: model.Developer}
	UpdatePipeline = Action{Name: "update_pipeline", Write: true, Min: model.Developer}
	EraseJob       = Action{Name: "erase_build", Write: true, Min: model.Maintainer}
	DeletePipeline = Action{Name: "destroy_pipeline", Write: true, Min: model.Owner}
	// UpdateProjectRead is reading what Maintainers manage (runners).
	UpdateProjectRead = Action{Name: "admin_project_read", Auth: true, Min: model.Maintainer}
	// RunnerCall is a runner's own call; the runner or job token it
	// carries was checked before the decision.
	RunnerCall = Action{Name: "runner"}

	ReadGroup         = Action{Name: "read_group"}
	UpdateGroup       = Action{Name: "admin_group", Write: true, Min: model.Owner}
	RemoveGroup       = Action{Name: "remove_group", Write: true, Min: model.Owner}
	AdminGroupMembers = Action{Name: "admin_group_member", Write: true, Min: model.Owner}
	CreateSubgroup    = Action{Name: "create_subgroup", Write: true, Min: model.Maintainer}
	// CreateProjectIn is creating a project in a group (GitLab's default
	// project_creation_level: Developers and Maintainers); in a personal
	// namespace its owner holds Owner, everyone else nothing.
	CreateProjectIn = Action{Name: "create_projects", Write: true, Min: model.Developer}
)

// Checks, in the order Decide runs them; a Decision names the one that
// refused.
const (
	CheckAuthentication = "authentication"
	CheckTokenScope     = "token_scope"
	CheckAdmin          = "admin"
	CheckVisibility     = "visibility"
	CheckRole           = "role"
)

// Decision is Decide's answer: allowed, or refused with the HTTP status,
// GitLab's message and the failed check.
type Decision struct {
	Allowed bool
	Status  int
	Message string
	Check   string
}

// Allow is the positive decision.
var Allow = Decision{Allowed: true, Status: http.StatusOK}

func deny(status int, msg, check string) Decision {
	return Decision{Status: status, Message: msg, Check: check}
}

// Messages GitLab answers with.
const (
	MsgUnauthorized      = "401 Unauthorized"
	MsgForbidden         = "403 Forbidden"
	MsgProjectNotFound   = "404 Project Not Found"
	MsgGroupNotFound     = "404 Group Not Found"
	MsgInsufficientScope = "insufficient_scope"
)

// Decide runs the checks in order: authentication; visibility of the
// target, refused as 404 so that existence is never revealed, even to a
// caller whose credential could not have done the action anyway; the
// credential's scope; administrator-only actions; then the role.
//
// Job tokens add their checks here, before the role: token access scope
// and fine-grained policies (docs/gitlab-compat.md §4).
func Decide(s Subject, t Target, a Action) Decision {
	if (a.Write || a.Auth || a.AdminOnly) && !s.Authenticated {
		return deny(http.StatusUnauthorized, MsgUnauthorized, CheckAuthentication)
	}
	if t.Kind != Instance && !s.Admin && !visible(s, t) {
		if t.Kind == Group {
			return deny(http.StatusNotFound, MsgGroupNotFound, CheckVisibility)
		}
		return deny(http.StatusNotFound, MsgProjectNotFound, CheckVisibility)
	}
	if a.Write && s.ReadOnly {
		return deny(http.StatusForbidden, MsgInsufficientScope, CheckTokenScope)
	}
	if a.AdminOnly && !s.Admin {
		return deny(http.StatusForbidden, MsgForbidden, CheckAdmin)
	}
	if t.Kind == Instance || s.Admin {
		return Allow
	}
	if t.Level < a.Min || (t.Visibility == model.Private && t.Level < a.MinPrivate) {
		return deny(http.StatusForbidden, MsgForbidden, CheckRole)
	}
	return Allow
}

// visible: public to everyone, internal to every signed-in user, private
// to members (and, for groups, to members of what lies beneath).
func visible(s Subject, t Target) bool {
	switch {
	case t.Visibility == model.Public:
		return true
	case t.Visibility == model.Internal && s.Authenticated:
		return true
	case t.Level >= model.Guest:
		return true
	}
	return t.Kind == Group && t.Related
}
