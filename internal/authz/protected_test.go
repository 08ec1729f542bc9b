package authz_test

import (
	"net/http"
	"testing"

	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/model"
)

// TestProtectedRef: the protected_ref check for every ref action, by role,
// for a user and for a job token (which holds its user's role), with
// several covering rules.
func TestProtectedRef(t *testing.T) {
	main := &model.ProtectedRef{Kind: model.RefBranch, Name: "main", PushLevel: model.Maintainer, MergeLevel: model.Maintainer}
	open := &model.ProtectedRef{Kind: model.RefBranch, Name: "*", PushLevel: model.Developer, MergeLevel: model.Developer, AllowForcePush: true}
	noone := &model.ProtectedRef{Kind: model.RefBranch, Name: "frozen", PushLevel: model.NoAccess, MergeLevel: model.Developer}
	admin := &model.ProtectedRef{Kind: model.RefBranch, Name: "ops", PushLevel: model.AdminAccess, MergeLevel: model.NoAccess}
	tag := &model.ProtectedRef{Kind: model.RefTag, Name: "v*", PushLevel: model.Maintainer}
	user := authz.Subject{Authenticated: true}
	job := authz.Subject{Authenticated: true, Job: &authz.JobToken{JobID: 1, ProjectID: 7}}
	adm := authz.Subject{Authenticated: true, Admin: true}
	target := func(level model.AccessLevel, tagRef bool, rules ...*model.ProtectedRef) authz.Target {
		return authz.Target{Kind: authz.Project, ID: 7, Visibility: model.Private, Level: level, JobTokenPush: true,
			Ref: &authz.Ref{Name: "main", Tag: tagRef, Rules: rules}}
	}
	for _, c := range []struct {
		name string
		s    authz.Subject
		t    authz.Target
		a    authz.Action
		msg  string // "" allowed
	}{
		{"developer pushes to unprotected", user, target(model.Developer, false), authz.PushBranch, ""},
		{"developer pushes to main", user, target(model.Developer, false, main), authz.PushBranch, authz.MsgPushProtectedBranch},
		{"developer's job pushes to main", job, target(model.Developer, false, main), authz.PushBranch, authz.MsgPushProtectedBranch},
		{"maintainer's job pushes to main", job, target(model.Maintainer, false, main), authz.PushBranch, ""},
		{"maintainer pushes to main", user, target(model.Maintainer, false, main), authz.PushBranch, ""},
		{"owner pushes to main", user, target(model.Owner, false, main), authz.PushBranch, ""},
		{"the most permissive rule lets a developer push", user, target(model.Developer, false, main, open), authz.PushBranch, ""},
		{"maintainer force-pushes main", user, target(model.Maintainer, false, main), authz.ForcePushBranch, authz.MsgForcePushProtectedBranch},
		{"force push needs every rule to allow it", user, target(model.Maintainer, false, main, open), authz.ForcePushBranch, authz.MsgForcePushProtectedBranch},
		{"force push allowed", user, target(model.Developer, false, open), authz.ForcePushBranch, ""},
		{"force push allowed, push not", user, target(model.Reporter, false, open), authz.ForcePushBranch, authz.MsgForbidden},
		{"developer creates main", user, target(model.Developer, false, main), authz.CreateBranch, authz.MsgCreateProtectedBranch},
		{"developer deletes main", user, target(model.Developer, false, main), authz.DeleteBranch, authz.MsgDeleteProtectedBranch},
		{"maintainer deletes main by a push", user, target(model.Maintainer, false, main), authz.DeleteBranch, authz.MsgDeleteProtectedBranchGit},
		{"no one pushes", user, target(model.Owner, false, noone), authz.PushBranch, authz.MsgPushProtectedBranch},
		{"admin level: administrator", adm, target(model.NoAccess, false, admin), authz.PushBranch, ""},
		{"admin level: owner", user, target(model.Owner, false, admin), authz.PushBranch, authz.MsgPushProtectedBranch},
		{"administrator without the role", adm, target(model.NoAccess, false, main), authz.PushBranch, authz.MsgPushProtectedBranch},
		{"developer creates tag", user, target(model.Developer, true, tag), authz.CreateTag, authz.MsgCreateProtectedTag},
		{"maintainer creates tag", user, target(model.Maintainer, true, tag), authz.CreateTag, ""},
		{"maintainer moves tag", user, target(model.Maintainer, true, tag), authz.UpdateTag, authz.MsgUpdateProtectedTag},
		{"maintainer deletes tag", user, target(model.Maintainer, true, tag), authz.DeleteTag, authz.MsgDeleteProtectedTagGit},
		{"developer deletes tag", user, target(model.Developer, true, tag), authz.DeleteTag, authz.MsgDeleteProtectedTag},
		{"developer runs a pipeline on main", user, target(model.Developer, false, main), authz.CreatePipelineOnRef, authz.ProtectedRefPipelineMessage("main")},
		{"merge right runs a pipeline", user, target(model.Developer, false, noone), authz.CreatePipelineOnRef, ""},
		{"maintainer runs a pipeline on main", user, target(model.Maintainer, false, main), authz.CreatePipelineOnRef, ""},
		{"developer runs a pipeline on a protected tag", user, target(model.Developer, true, tag), authz.CreatePipelineOnRef, authz.ProtectedRefPipelineMessage("main")},
		{"developer retries a job of main", user, target(model.Developer, false, main), authz.RunJobOnRef, authz.MsgForbidden},
		{"developer retries a job of a feature", user, target(model.Developer, false), authz.RunJobOnRef, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := authz.Decide(c.s, c.t, c.a)
			if c.msg == "" {
				if !d.Allowed {
					t.Fatalf("refused by %s: %s", d.Check, d.Message)
				}
				return
			}
			if d.Allowed || d.Status != http.StatusForbidden || d.Message != c.msg {
				t.Fatalf("decision %+v, want 403 %q", d, c.msg)
			}
			// Explain names the check (the role check may come first).
			_, steps := authz.Explain(c.s, c.t, c.a)
			last := steps[len(steps)-1]
			if last.Check != authz.CheckProtectedRef {
				t.Fatalf("last step %+v, want protected_ref", last)
			}
			if d.Check == authz.CheckProtectedRef && (last.Result != "fail" || last.Message != c.msg) {
				t.Fatalf("explain's protected_ref step %+v", last)
			}
		})
	}
	// Other actions never show the check.
	_, steps := authz.Explain(user, target(model.Developer, false, main), authz.PushCode)
	for _, st := range steps {
		if st.Check == authz.CheckProtectedRef {
			t.Errorf("push_code's explain shows %+v", st)
		}
	}
}
