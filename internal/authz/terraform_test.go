package authz_test

import (
	"net/http"
	"testing"

	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/model"
)

// TestTerraformState: Developers read, Maintainers write; a job token of
// another project writes only with an entry naming admin_terraform_state
// (explicit_entry_policy), whatever the entry's default permissions and
// whether the allowlist is in force; its own project needs none.
func TestTerraformState(t *testing.T) {
	target := authz.Target{Kind: authz.Project, ID: 7, Path: "g/p", Visibility: model.Public, Level: model.Maintainer}
	user := authz.Subject{Authenticated: true}
	own := authz.Subject{Authenticated: true, Job: &authz.JobToken{JobID: 1, ProjectID: 7, ProjectPath: "g/p"}}
	other := authz.Subject{Authenticated: true, Job: &authz.JobToken{JobID: 2, ProjectID: 3, ProjectPath: "g/up"}}
	with := func(f func(*authz.Target)) authz.Target { t := target; f(&t); return t }
	entry := func(def bool, policies ...string) func(*authz.Target) {
		return func(t *authz.Target) {
			t.Scope.Entry = &authz.Entry{Kind: "project", ID: 3, DefaultPermissions: def, Policies: policies}
		}
	}
	for _, c := range []struct {
		name   string
		s      authz.Subject
		t      authz.Target
		act    authz.Action
		status int
		msg    string
		check  string
	}{
		{"anonymous reads a public project's state", authz.Subject{}, target, authz.ReadTerraformState, http.StatusUnauthorized, authz.MsgUnauthorized, authz.CheckAuthentication},
		{"reporter reads", user, with(func(t *authz.Target) { t.Level = model.Reporter }), authz.ReadTerraformState, http.StatusForbidden, authz.MsgForbidden, authz.CheckRole},
		{"developer reads", user, with(func(t *authz.Target) { t.Level = model.Developer }), authz.ReadTerraformState, http.StatusOK, "", ""},
		{"developer writes", user, with(func(t *authz.Target) { t.Level = model.Developer }), authz.AdminTerraformState, http.StatusForbidden, authz.MsgForbidden, authz.CheckRole},
		{"maintainer writes", user, target, authz.AdminTerraformState, http.StatusOK, "", ""},
		{"own job writes", own, target, authz.AdminTerraformState, http.StatusOK, "", ""},
		{"other project, allowlist off, no entry", other, target, authz.AdminTerraformState,
			http.StatusForbidden, authz.ScopeMessage("g/up", "g/p"), authz.CheckExplicitPolicy},
		{"other project, allowlist off, entry with default permissions", other, with(entry(true)), authz.AdminTerraformState,
			http.StatusForbidden, authz.PolicyMessage("g/p", authz.PolicyAdminTerraformState), authz.CheckExplicitPolicy},
		{"other project, allowlist in force, entry with default permissions", other, with(func(t *authz.Target) {
			entry(true)(t)
			t.Scope.InboundInForce = true
		}), authz.AdminTerraformState, http.StatusForbidden, authz.PolicyMessage("g/p", authz.PolicyAdminTerraformState), authz.CheckExplicitPolicy},
		{"other project, entry naming the policy", other, with(entry(false, authz.PolicyAdminTerraformState)), authz.AdminTerraformState, http.StatusOK, "", ""},
		{"other project reads, allowlist off", other, target, authz.ReadTerraformState, http.StatusOK, "", ""},
	} {
		d := authz.Decide(c.s, c.t, c.act)
		if d.Status != c.status || d.Message != c.msg || d.Check != c.check {
			t.Errorf("%s: %+v, want %d %q (%s)", c.name, d, c.status, c.msg, c.check)
		}
	}
}
