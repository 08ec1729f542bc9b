package authz_test

import (
	"net/http"
	"testing"

	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/model"
)

// TestImageActions: the container registry's actions (gitlab-compat.md
// §3.4): pull by whoever reads the project, push Developer and a job token
// in its own project only, delete Maintainer or a job token in its own
// project (Owner), and personal access tokens by their registry scopes.
func TestImageActions(t *testing.T) {
	own := authz.Target{Kind: authz.Project, ID: 3, Path: "g/app", Visibility: model.Private, Level: model.Developer}
	other := authz.Target{Kind: authz.Project, ID: 8, Path: "g/other", Visibility: model.Private, Level: model.Developer,
		Scope: authz.Scope{InboundInForce: true, Entry: &authz.Entry{Kind: "project", ID: 3, DefaultPermissions: true}}}
	with := func(t authz.Target, f func(*authz.Target)) authz.Target { f(&t); return t }
	user := authz.Subject{Authenticated: true}
	job := authz.Subject{Authenticated: true, Job: &authz.JobToken{JobID: 1, ProjectID: 3, ProjectPath: "g/app"}}
	readReg := authz.Subject{Authenticated: true, NoAPI: true, ReadOnly: true, NoImagePush: true}
	noReg := authz.Subject{Authenticated: true, NoImagePull: true, NoImagePush: true}
	for _, c := range []struct {
		name  string
		s     authz.Subject
		t     authz.Target
		a     authz.Action
		check string // "" allowed
	}{
		{"developer pulls", user, own, authz.PullImage, ""},
		{"guest pulls private", user, with(own, func(t *authz.Target) { t.Level = model.Guest }), authz.PullImage, authz.CheckRole},
		{"anonymous pulls public", authz.Subject{}, with(own, func(t *authz.Target) { t.Visibility, t.Level = model.Public, 0 }), authz.PullImage, ""},
		{"anonymous pushes public", authz.Subject{}, with(own, func(t *authz.Target) { t.Visibility, t.Level = model.Public, 0 }), authz.PushImage, authz.CheckAuthentication},
		{"developer pushes", user, own, authz.PushImage, ""},
		{"reporter pushes", user, with(own, func(t *authz.Target) { t.Level = model.Reporter }), authz.PushImage, authz.CheckRole},
		{"developer deletes", user, own, authz.DeleteImage, authz.CheckOwner},
		{"maintainer deletes", user, with(own, func(t *authz.Target) { t.Level = model.Maintainer }), authz.DeleteImage, ""},
		{"job pushes its own", job, own, authz.PushImage, ""},
		{"job deletes its own", job, with(own, func(t *authz.Target) { t.Owner = true }), authz.DeleteImage, ""},
		{"job pulls listed other", job, other, authz.PullImage, ""},
		{"job pushes listed other", job, other, authz.PushImage, authz.CheckOwnProject},
		{"job pulls unlisted private", job, with(other, func(t *authz.Target) { t.Scope.Entry = nil }), authz.PullImage, authz.CheckInbound},
		{"read_registry pulls", readReg, own, authz.PullImage, ""},
		{"read_registry pushes", readReg, own, authz.PushImage, authz.CheckTokenScope},
		{"read_registry on the API", readReg, own, authz.ReadProject, authz.CheckTokenScope},
		{"no registry scope pulls", noReg, own, authz.PullImage, authz.CheckTokenScope},
		{"job on another's registry API", job, other, authz.ReadContainerRepository, authz.CheckOwnProject},
	} {
		d := authz.Decide(c.s, c.t, c.a)
		if d.Check != c.check || d.Allowed != (c.check == "") {
			t.Errorf("%s: %+v, want check %q", c.name, d, c.check)
		}
		if c.check == authz.CheckOwnProject && c.a.Name == authz.ReadContainerRepository.Name &&
			(d.Status != http.StatusForbidden || d.Message != authz.MsgRegistryOtherProject) {
			t.Errorf("%s: %+v, want GitLab's 403", c.name, d)
		}
	}
}
