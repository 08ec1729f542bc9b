package git_test

import (
	"context"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/git"
	"github.com/ciwarden/ciwarden/internal/model"
)

// TestProtectedRefsOnPush: each ref a push changes is decided by
// protected_ref; a refusal refuses the whole push with GitLab's message,
// shown by git as the remote's words, and starts nothing.
func TestProtectedRefsOnPush(t *testing.T) {
	e := newEnv(t)
	g := e.g
	ctx := context.Background()
	Z := git.ZeroSHA
	carol, err := e.st.UserByUsername(ctx, "carol")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.AddMember(ctx, &model.Member{SourceKind: model.SourceProject, SourceID: e.project.ID, UserID: carol.ID,
		AccessLevel: model.Developer, CreatedBy: e.alice.ID, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	// The default branch is protected from the project's creation.
	rules, err := e.st.ProtectedRefs(ctx, e.project.ID)
	if err != nil || len(rules) != 1 || *rules[0] != (model.ProtectedRef{ID: rules[0].ID, ProjectID: e.project.ID,
		Kind: model.RefBranch, Name: "main", PushLevel: model.Maintainer, MergeLevel: model.Maintainer}) {
		t.Fatalf("protected refs of a new project: %+v, %v", rules, err)
	}

	owner := filepath.Join(t.TempDir(), "owner")
	g.run("", "clone", "--quiet", e.url("alice", e.repoPath+".git"), owner)
	c1 := g.commit(owner, "first", map[string]string{"a.txt": "1\n"})
	g.run(owner, "push", "--quiet", "origin", "main")
	e.expectPush("owner creates main", git.RefUpdate{Ref: "refs/heads/main", Old: Z, New: c1})

	dev := filepath.Join(t.TempDir(), "dev")
	g.run("", "clone", "--quiet", e.url("carol", e.repoPath+".git"), dev)

	// refused runs a push expected to fail with msg, and checks git's
	// words, that nothing was started and that refs did not move.
	refused := func(step, dir, msg string, args ...string) {
		t.Helper()
		before := e.refs()
		_, stderr, err := g.try(dir, nil, append([]string{"push"}, args...)...)
		if err == nil {
			t.Fatalf("%s: push succeeded", step)
		}
		// git pads the remote's line with blanks (to clear progress).
		if !regexp.MustCompile(`(?m)^remote: `+regexp.QuoteMeta(msg)+` *$`).MatchString(stderr) ||
			!strings.Contains(stderr, "(pre-receive hook declined)") {
			t.Errorf("%s: git says\n%s\nwant remote: %s and the hook's refusal", step, stderr, msg)
		}
		e.expectNoPush(step)
		if after := e.refs(); !mapsEqual(before, after) {
			t.Errorf("%s: refs moved: %v -> %v", step, before, after)
		}
	}

	// A Developer may not push to main (Maintainers only), nor sneak it in
	// with an allowed ref; a feature branch is theirs.
	g.run(dev, "pull", "--quiet", "origin", "main")
	c2 := g.commit(dev, "dev work", map[string]string{"b.txt": "2\n"})
	refused("developer to main", dev, authz.MsgPushProtectedBranch, "origin", "main")
	refused("developer to main and a feature", dev, authz.MsgPushProtectedBranch, "origin", "main", "HEAD:refs/heads/feature")
	g.run(dev, "push", "--quiet", "origin", "HEAD:refs/heads/feature")
	e.expectPushBy(carol, "developer to a feature branch", git.RefUpdate{Ref: "refs/heads/feature", Old: Z, New: c2})
	refused("developer deletes main", dev, authz.MsgDeleteProtectedBranch, "origin", "--delete", "main")

	// A Maintainer (here the Owner) pushes to main; never deletes it by a
	// push; force-pushes only once the rule allows it.
	c3 := g.commit(owner, "second", map[string]string{"a.txt": "3\n"})
	g.run(owner, "push", "--quiet", "origin", "main")
	e.expectPush("owner to main", git.RefUpdate{Ref: "refs/heads/main", Old: c1, New: c3})
	refused("owner deletes main", owner, authz.MsgDeleteProtectedBranchGit, "origin", "--delete", "main")
	g.run(owner, "reset", "--quiet", "--hard", c1)
	c4 := g.commit(owner, "rewritten", map[string]string{"a.txt": "4\n"})
	refused("owner force-pushes main", owner, authz.MsgForcePushProtectedBranch, "--force", "origin", "main")
	main, err := e.st.ProtectedRef(ctx, e.project.ID, model.RefBranch, "main")
	if err != nil {
		t.Fatal(err)
	}
	main.AllowForcePush = true
	if err := e.st.UpdateProtectedRef(ctx, main); err != nil {
		t.Fatal(err)
	}
	g.run(owner, "push", "--quiet", "--force", "origin", "main")
	e.expectPush("owner force-pushes main, allowed", git.RefUpdate{Ref: "refs/heads/main", Old: c3, New: c4})
	// Allowing force pushes lets no Developer push.
	refused("developer to main, force allowed", dev, authz.MsgPushProtectedBranch, "--force", "origin", "HEAD:main")

	// A wildcard covers every branch it matches, slashes included.
	if err := e.st.AddProtectedRef(ctx, &model.ProtectedRef{ProjectID: e.project.ID, Kind: model.RefBranch, Name: "release/*",
		PushLevel: model.Maintainer, MergeLevel: model.Maintainer}); err != nil {
		t.Fatal(err)
	}
	refused("developer creates release/1.0", dev, authz.MsgCreateProtectedBranch, "origin", "HEAD:refs/heads/release/1.0")
	g.run(owner, "push", "--quiet", "origin", "HEAD:refs/heads/release/x/1.0")
	e.expectPush("owner creates release/x/1.0", git.RefUpdate{Ref: "refs/heads/release/x/1.0", Old: Z, New: c4})
	g.run(dev, "push", "--quiet", "origin", "HEAD:refs/heads/releases")
	e.expectPushBy(carol, "developer creates releases (not covered)", git.RefUpdate{Ref: "refs/heads/releases", Old: Z, New: c2})

	// Protected tags: created by create_access_level, never moved or
	// deleted by a push.
	if err := e.st.AddProtectedRef(ctx, &model.ProtectedRef{ProjectID: e.project.ID, Kind: model.RefTag, Name: "v*",
		PushLevel: model.Maintainer}); err != nil {
		t.Fatal(err)
	}
	g.run(dev, "tag", "v1", c2)
	refused("developer creates tag v1", dev, authz.MsgCreateProtectedTag, "origin", "v1")
	g.run(dev, "tag", "dev-1", c2)
	g.run(dev, "push", "--quiet", "origin", "dev-1")
	e.expectPushBy(carol, "developer creates an unprotected tag", git.RefUpdate{Ref: "refs/tags/dev-1", Old: Z, New: c2})
	g.run(owner, "tag", "v1", c4)
	g.run(owner, "push", "--quiet", "origin", "v1")
	e.expectPush("owner creates tag v1", git.RefUpdate{Ref: "refs/tags/v1", Old: Z, New: c4})
	g.run(owner, "tag", "--force", "v1", c1)
	refused("owner moves tag v1", owner, authz.MsgUpdateProtectedTag, "--force", "origin", "v1")
	refused("owner deletes tag v1", owner, authz.MsgDeleteProtectedTagGit, "origin", "--delete", "v1")
	refused("developer deletes tag v1", dev, authz.MsgDeleteProtectedTag, "origin", "--delete", "v1")

	// Unprotected, main is a Developer's too.
	if err := e.st.RemoveProtectedRef(ctx, e.project.ID, model.RefBranch, "main"); err != nil {
		t.Fatal(err)
	}
	g.run(dev, "push", "--quiet", "--force", "origin", "HEAD:main")
	e.expectPushBy(carol, "developer to unprotected main", git.RefUpdate{Ref: "refs/heads/main", Old: c4, New: c2})
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// expectPushBy is expectPush for a pusher other than alice.
func (e *env) expectPushBy(who *model.User, step string, want ...git.RefUpdate) {
	e.t.Helper()
	pushes := e.rec.take(e.t)
	if len(pushes) != 1 || pushes[0].Pusher.User == nil || pushes[0].Pusher.User.ID != who.ID {
		e.t.Fatalf("%s: OnPush calls %+v, want one by %s", step, pushes, who.Username)
	}
	if got := sortUpdates(pushes[0].Updates); !reflect.DeepEqual(got, sortUpdates(want)) {
		e.t.Errorf("%s: OnPush updates\n got %+v\nwant %+v", step, got, sortUpdates(want))
	}
}
