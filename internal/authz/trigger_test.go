package authz_test

import (
	"net/http"
	"testing"

	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/model"
)

// TestTriggerPipeline: the trigger API's action answers in GitLab's words
// there (a plain 404, a 400 base refusal for the role), and a trigger
// token acts on its own project only.
func TestTriggerPipeline(t *testing.T) {
	own := authz.Target{Kind: authz.Project, ID: 7, Path: "g/p", Visibility: model.Private}
	trig := authz.Subject{Authenticated: true, TriggerProjectID: 7}
	job := authz.Subject{Authenticated: true, Job: &authz.JobToken{JobID: 1, ProjectID: 3, ProjectPath: "g/up"}}
	dead := authz.Subject{Authenticated: true, Job: &authz.JobToken{JobID: 1, ProjectID: 3, ProjectPath: "g/up", Dead: authz.JobEnded}}
	with := func(t authz.Target, f func(*authz.Target)) authz.Target { f(&t); return t }
	for _, c := range []struct {
		name   string
		s      authz.Subject
		t      authz.Target
		status int
		msg    string
		check  string
	}{
		{"trigger token, another project", trig, with(own, func(t *authz.Target) { t.ID, t.Level = 8, model.Owner }),
			http.StatusNotFound, authz.MsgNotFound, authz.CheckTriggerProject},
		{"trigger token, owner cannot see", trig, own, http.StatusNotFound, authz.MsgNotFound, authz.CheckVisibility},
		{"trigger token, owner a Reporter", trig, with(own, func(t *authz.Target) { t.Level = model.Reporter }),
			http.StatusBadRequest, authz.MsgPipelinePermissions, authz.CheckRole},
		{"trigger token, owner a Developer", trig, with(own, func(t *authz.Target) { t.Level = model.Developer }), http.StatusOK, "", ""},
		{"job token, user cannot see", job, own, http.StatusNotFound, authz.MsgNotFound, authz.CheckVisibility},
		{"dead job token", dead, with(own, func(t *authz.Target) { t.Level = model.Developer }),
			http.StatusUnauthorized, authz.MsgUnauthorized, authz.CheckLiveness},
		{"job token, allowlist in force without an entry", job, with(own, func(t *authz.Target) {
			t.Level, t.Scope.InboundInForce = model.Developer, true
		}), http.StatusForbidden, authz.ScopeMessage("g/up", "g/p"), authz.CheckInbound},
		{"job token, entry without admin_pipelines", job, with(own, func(t *authz.Target) {
			t.Level, t.Scope.InboundInForce = model.Developer, true
			t.Scope.Entry = &authz.Entry{Kind: "project", ID: 3, Policies: []string{authz.PolicyReadPipelines}}
		}), http.StatusForbidden, authz.PolicyMessage("g/p", authz.PolicyAdminPipelines), authz.CheckEntryPolicy},
		{"job token, Developer, listed", job, with(own, func(t *authz.Target) {
			t.Level, t.Scope.InboundInForce = model.Developer, true
			t.Scope.Entry = &authz.Entry{Kind: "project", ID: 3, DefaultPermissions: true}
		}), http.StatusOK, "", ""},
	} {
		d := authz.Decide(c.s, c.t, authz.TriggerPipeline)
		if d.Status != c.status || d.Message != c.msg || d.Check != c.check {
			t.Errorf("%s: %+v, want %d %q (%s)", c.name, d, c.status, c.msg, c.check)
		}
	}
	// A trigger token is nothing on any other action: it is only ever
	// extracted on the trigger rows, and refused elsewhere all the same.
	if d := authz.Decide(trig, with(own, func(t *authz.Target) { t.ID, t.Level = 8, model.Owner }), authz.ReadProject); d.Allowed {
		t.Errorf("a trigger token read another project: %+v", d)
	}
}
