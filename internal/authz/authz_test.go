package authz_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/model"
)

// caller is one kind of subject in the table, with its standing on the
// target (the same on every target it is tried against).
type caller struct {
	name     string
	signedIn bool
	admin    bool
	readOnly bool
	level    model.AccessLevel
}

var callers = []caller{
	{name: "anonymous"},
	{name: "non_member", signedIn: true},
	{name: "guest", signedIn: true, level: model.Guest},
	{name: "reporter", signedIn: true, level: model.Reporter},
	{name: "developer", signedIn: true, level: model.Developer},
	{name: "maintainer", signedIn: true, level: model.Maintainer},
	{name: "owner", signedIn: true, level: model.Owner},
	{name: "admin", signedIn: true, admin: true},
	{name: "read_api_maintainer", signedIn: true, readOnly: true, level: model.Maintainer},
	{name: "read_api_owner", signedIn: true, readOnly: true, level: model.Owner},
}

func (c caller) subject() authz.Subject {
	return authz.Subject{Authenticated: c.signedIn, Admin: c.admin, ReadOnly: c.readOnly}
}

var visibilities = []model.Visibility{model.Private, model.Internal, model.Public}

// spec is what the test expects of an action, written out here from
// GitLab's permissions table rather than read from the authz.Action value,
// so that a change to an Action's fields shows up as a failure.
type spec struct {
	action    authz.Action
	kind      authz.TargetKind
	write     bool // needs a signed-in caller and an api-scoped credential
	auth      bool // needs a signed-in caller even to read
	adminOnly bool
	min       model.AccessLevel // role needed on a visible target
	// minPrivate is the role needed when the target is private.
	minPrivate model.AccessLevel
}

var specs = []spec{
	// Projects.
	{action: authz.ReadProject, kind: authz.Project},
	{action: authz.UpdateProject, kind: authz.Project, write: true, min: model.Maintainer},
	{action: authz.RemoveProject, kind: authz.Project, write: true, min: model.Owner},
	{action: authz.AdminProjectMembers, kind: authz.Project, write: true, min: model.Maintainer},
	{action: authz.ReadTriggers, kind: authz.Project, auth: true, min: model.Maintainer},
	{action: authz.AdminTriggers, kind: authz.Project, write: true, min: model.Maintainer},
	// Granting, changing or removing Owner: Owners only (projects and
	// groups alike: the role check does not look at the kind).
	{action: authz.ManageOwners, kind: authz.Project, write: true, min: model.Owner},
	// Groups.
	{action: authz.ReadGroup, kind: authz.Group},
	{action: authz.UpdateGroup, kind: authz.Group, write: true, min: model.Owner},
	{action: authz.RemoveGroup, kind: authz.Group, write: true, min: model.Owner},
	{action: authz.AdminGroupMembers, kind: authz.Group, write: true, min: model.Owner},
	{action: authz.CreateSubgroup, kind: authz.Group, write: true, min: model.Maintainer},
	{action: authz.CreateProjectIn, kind: authz.Group, write: true, min: model.Developer},
	// Package registry: public and internal packages for everyone who
	// sees the project, private ones from Reporter; Developers publish,
	// Maintainers delete.
	{action: authz.ReadPackage, kind: authz.Project, minPrivate: model.Reporter},
	{action: authz.CreatePackage, kind: authz.Project, write: true, min: model.Developer},
	{action: authz.DestroyPackage, kind: authz.Project, write: true, min: model.Maintainer},
	// Instance.
	{action: authz.AdminUsers, kind: authz.Instance, write: true, adminOnly: true},
	{action: authz.CreateGroup, kind: authz.Instance, write: true},
	{action: authz.CreateProject, kind: authz.Instance, write: true},
	{action: authz.ReadCurrentUser, kind: authz.Instance, auth: true},
	{action: authz.ReadMetadata, kind: authz.Instance, auth: true},
	{action: authz.ListAllUsers, kind: authz.Instance, auth: true},
	{action: authz.Browse, kind: authz.Instance},
	{action: authz.ReadUser, kind: authz.Instance},
}

var (
	allow        = authz.Decision{Allowed: true, Status: http.StatusOK}
	unauthorized = authz.Decision{Status: http.StatusUnauthorized, Message: "401 Unauthorized", Check: "authentication"}
	badScope     = authz.Decision{Status: http.StatusForbidden, Message: "insufficient_scope", Check: "credential_scope"}
	notAdmin     = authz.Decision{Status: http.StatusForbidden, Message: "403 Forbidden", Check: "admin"}
	lowRole      = authz.Decision{Status: http.StatusForbidden, Message: "403 Forbidden", Check: "role"}
	noProject    = authz.Decision{Status: http.StatusNotFound, Message: "404 Project Not Found", Check: "visibility"}
	noGroup      = authz.Decision{Status: http.StatusNotFound, Message: "404 Group Not Found", Check: "visibility"}
)

// expect is GitLab's answer, rule by rule, in the order GitLab applies
// them. It deliberately shares no code with Decide.
func expect(c caller, vis model.Visibility, related bool, sp spec) authz.Decision {
	// 1. Anonymous callers are told to sign in for anything that needs it.
	if !c.signedIn && (sp.write || sp.auth || sp.adminOnly) {
		return unauthorized
	}
	// 2. A target the caller cannot see does not exist for them, whatever
	// their credential could do (admins see everything).
	if sp.kind != authz.Instance && !c.admin {
		var canSee bool
		switch vis {
		case model.Public:
			canSee = true
		case model.Internal:
			canSee = c.signedIn
		case model.Private:
			canSee = c.level >= model.Guest || (sp.kind == authz.Group && related)
		}
		if !canSee {
			if sp.kind == authz.Group {
				return noGroup
			}
			return noProject
		}
	}
	// 3. A read_api credential never writes.
	if c.readOnly && sp.write {
		return badScope
	}
	// 4. Admin-only actions are for administrators.
	if sp.adminOnly {
		if !c.admin {
			return notAdmin
		}
		return allow
	}
	// 5. Administrators may do everything else; instance actions have no
	// target to hold a role on.
	if c.admin || sp.kind == authz.Instance {
		return allow
	}
	// 7. Seen, but the role is too low.
	if c.level < sp.min || (vis == model.Private && c.level < sp.minPrivate) {
		return lowRole
	}
	return allow
}

func target(sp spec, vis model.Visibility, level model.AccessLevel, related bool) authz.Target {
	return authz.Target{Kind: sp.kind, Visibility: vis, Level: level, Related: related}
}

func check(t *testing.T, got, want authz.Decision) {
	t.Helper()
	if got != want {
		t.Errorf("Decide = %+v, want %+v", got, want)
	}
}

// TestDecide is every caller x visibility x action.
func TestDecide(t *testing.T) {
	seen := map[string]bool{}
	rows := 0
	for _, vis := range visibilities {
		for _, c := range callers {
			for _, sp := range specs {
				name := fmt.Sprintf("%s/%s/%s", vis, c.name, sp.action.Name)
				if seen[name] {
					t.Fatalf("duplicate row name %q", name)
				}
				seen[name] = true
				rows++
				want := expect(c, vis, false, sp)
				t.Run(name, func(t *testing.T) {
					check(t, authz.Decide(c.subject(), target(sp, vis, c.level, false), sp.action), want)
				})
			}
		}
	}
	if want := len(visibilities) * len(callers) * len(specs); rows != want || rows != 720 {
		t.Fatalf("ran %d rows, want %d (720)", rows, want)
	}
}

// TestExpectSpotChecks pins expect itself on hand-written answers, so the
// table above cannot drift along with a mistake in expect.
func TestExpectSpotChecks(t *testing.T) {
	byName := map[string]spec{}
	for _, sp := range specs {
		byName[sp.action.Name] = sp
	}
	byCaller := map[string]caller{}
	for _, c := range callers {
		byCaller[c.name] = c
	}
	for _, tc := range []struct {
		vis    model.Visibility
		caller string
		action string
		want   authz.Decision
	}{
		{model.Private, "anonymous", "read_project", noProject},
		{model.Internal, "anonymous", "read_project", noProject},
		{model.Public, "anonymous", "read_project", allow},
		{model.Public, "anonymous", "admin_project", unauthorized},
		{model.Private, "anonymous", "remove_project", unauthorized},
		{model.Private, "non_member", "read_project", noProject},
		{model.Private, "non_member", "admin_project", noProject},
		{model.Internal, "non_member", "read_project", allow},
		{model.Internal, "non_member", "admin_project", lowRole},
		{model.Private, "guest", "read_project", allow},
		{model.Private, "developer", "admin_project", lowRole},
		{model.Private, "maintainer", "admin_project", allow},
		{model.Private, "maintainer", "remove_project", lowRole},
		{model.Private, "owner", "remove_project", allow},
		{model.Private, "maintainer", "admin_project_member", allow},
		{model.Private, "developer", "admin_project_member", lowRole},
		{model.Private, "maintainer", "admin_group", lowRole},
		{model.Private, "owner", "admin_group_member", allow},
		{model.Private, "maintainer", "create_subgroup", allow},
		{model.Private, "developer", "create_projects", allow},
		{model.Private, "reporter", "create_projects", lowRole},
		{model.Private, "non_member", "read_group", noGroup},
		{model.Private, "admin", "remove_group", allow},
		{model.Private, "read_api_owner", "remove_project", badScope},
		{model.Private, "read_api_owner", "read_project", allow},
		{model.Public, "read_api_maintainer", "create_group", badScope},
		{model.Public, "read_api_maintainer", "admin_users", badScope},
		{model.Public, "anonymous", "admin_users", unauthorized},
		{model.Public, "owner", "admin_users", notAdmin},
		{model.Public, "admin", "admin_users", allow},
		{model.Public, "anonymous", "read_current_user", unauthorized},
		{model.Public, "anonymous", "read_users_list", unauthorized},
		{model.Public, "anonymous", "browse", allow},
		{model.Public, "anonymous", "read_user", allow},
		{model.Public, "non_member", "create_project", allow},
		{model.Private, "guest", "read_package", lowRole},
		{model.Private, "reporter", "read_package", allow},
		{model.Internal, "non_member", "read_package", allow},
		{model.Public, "anonymous", "read_package", allow},
		{model.Private, "non_member", "read_package", noProject},
		{model.Private, "reporter", "create_package", lowRole},
		{model.Private, "developer", "create_package", allow},
		{model.Private, "developer", "destroy_package", lowRole},
		{model.Private, "maintainer", "destroy_package", allow},
		{model.Public, "anonymous", "create_package", unauthorized},
	} {
		sp, ok := byName[tc.action]
		c, ok2 := byCaller[tc.caller]
		if !ok || !ok2 {
			t.Fatalf("unknown action %q or caller %q", tc.action, tc.caller)
		}
		name := fmt.Sprintf("%s/%s/%s", tc.vis, tc.caller, tc.action)
		t.Run(name, func(t *testing.T) {
			if got := expect(c, tc.vis, false, sp); got != tc.want {
				t.Errorf("expect = %+v, want %+v", got, tc.want)
			}
			check(t, authz.Decide(c.subject(), target(sp, tc.vis, c.level, false), sp.action), tc.want)
		})
	}
}

// TestDecideRelated: belonging to something beneath a private group lets a
// signed-in user see the group, but gives them no role on it.
func TestDecideRelated(t *testing.T) {
	user := authz.Subject{Authenticated: true}
	group := func(related bool) authz.Target {
		return authz.Target{Kind: authz.Group, Visibility: model.Private, Related: related}
	}
	for _, tc := range []struct {
		name   string
		target authz.Target
		action authz.Action
		want   authz.Decision
	}{
		{"private/related/read_group", group(true), authz.ReadGroup, allow},
		{"private/related/admin_group", group(true), authz.UpdateGroup, lowRole},
		{"private/related/create_subgroup", group(true), authz.CreateSubgroup, lowRole},
		{"private/unrelated/read_group", group(false), authz.ReadGroup, noGroup},
		{"private/unrelated/admin_group", group(false), authz.UpdateGroup, noGroup},
		// Related means nothing for a project: standing on a project
		// comes through Level (inherited membership included).
		{"private/related/read_project", authz.Target{Kind: authz.Project, Visibility: model.Private, Related: true}, authz.ReadProject, noProject},
	} {
		t.Run(tc.name, func(t *testing.T) {
			check(t, authz.Decide(user, tc.target, tc.action), tc.want)
		})
	}
}

// TestDecideReadOnlyAdmin: the credential's scope binds administrators
// too; a read_api token of an admin reads everything but writes nothing.
func TestDecideReadOnlyAdmin(t *testing.T) {
	admin := authz.Subject{Authenticated: true, Admin: true, ReadOnly: true}
	private := func(k authz.TargetKind) authz.Target {
		return authz.Target{Kind: k, Visibility: model.Private}
	}
	for _, tc := range []struct {
		name   string
		target authz.Target
		action authz.Action
		want   authz.Decision
	}{
		{"instance/read_api_admin/admin_users", authz.Target{Kind: authz.Instance}, authz.AdminUsers, badScope},
		{"instance/read_api_admin/read_users_list", authz.Target{Kind: authz.Instance}, authz.ListAllUsers, allow},
		{"private/read_api_admin/read_project", private(authz.Project), authz.ReadProject, allow},
		{"private/read_api_admin/remove_project", private(authz.Project), authz.RemoveProject, badScope},
		{"private/read_api_admin/read_group", private(authz.Group), authz.ReadGroup, allow},
		{"private/read_api_admin/admin_group", private(authz.Group), authz.UpdateGroup, badScope},
	} {
		t.Run(tc.name, func(t *testing.T) {
			check(t, authz.Decide(admin, tc.target, tc.action), tc.want)
		})
	}
}

var sink authz.Decision

func BenchmarkDecide(b *testing.B) {
	s := authz.Subject{Authenticated: true}
	t := authz.Target{Kind: authz.Project, Visibility: model.Private, Level: model.Developer}
	b.ReportAllocs()
	for b.Loop() {
		sink = authz.Decide(s, t, authz.RemoveProject)
	}
}
