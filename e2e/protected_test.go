package e2e

import (
	"net/http"
	"strings"
	"testing"

	gitlab "gitlab.com/gitlab-org/api/client-go/v2"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// TestProtectedRefs: GitLab's Go client drives protected branches and
// tags; a Developer's push to the default branch (protected from the
// project's creation) is refused with GitLab's words and a Maintainer's
// goes through; CI_COMMIT_REF_PROTECTED tells a job on main from one on a
// feature branch; a Developer may not run a pipeline on main.
func TestProtectedRefs(t *testing.T) { forEachDialect(t, testProtectedRefs) }

func testProtectedRefs(t *testing.T, s *testserver.Server) {
	root := newClient(t, s, s.RootToken)
	proj := must[*gitlab.Project](t, "CreateProject")(root.Projects.CreateProject(&gitlab.CreateProjectOptions{Name: gitlab.Ptr("guarded")}))
	dev, maint := s.CreateUser(t, "dev"), s.CreateUser(t, "maint")
	s.AddMember(t, "projects", int64(proj.ID), dev.ID, 30)
	s.AddMember(t, "projects", int64(proj.ID), maint.ID, 40)
	mc, dc := newClient(t, s, maint.Token), newClient(t, s, dev.Token)

	// The default branch, as GitLab protects it.
	pbs := must[[]*gitlab.ProtectedBranch](t, "ListProtectedBranches")(mc.ProtectedBranches.ListProtectedBranches(proj.ID, nil))
	if len(pbs) != 1 || pbs[0].Name != "main" || len(pbs[0].PushAccessLevels) != 1 || pbs[0].PushAccessLevels[0].AccessLevel != gitlab.MaintainerPermissions ||
		len(pbs[0].MergeAccessLevels) != 1 || pbs[0].MergeAccessLevels[0].AccessLevel != gitlab.MaintainerPermissions || pbs[0].AllowForcePush {
		t.Fatalf("protected branches of a new project: %+v", pbs)
	}
	_, _, err := dc.ProtectedBranches.ListProtectedBranches(proj.ID, nil)
	wantStatus(t, err, http.StatusForbidden)

	// A wildcard, read back by its name, changed, removed.
	rel := must[*gitlab.ProtectedBranch](t, "ProtectRepositoryBranches")(mc.ProtectedBranches.ProtectRepositoryBranches(proj.ID,
		&gitlab.ProtectRepositoryBranchesOptions{Name: gitlab.Ptr("release/*"), PushAccessLevel: gitlab.Ptr(gitlab.DeveloperPermissions),
			MergeAccessLevel: gitlab.Ptr(gitlab.NoPermissions)}))
	if rel.Name != "release/*" || rel.PushAccessLevels[0].AccessLevel != gitlab.DeveloperPermissions || rel.MergeAccessLevels[0].AccessLevel != gitlab.NoPermissions {
		t.Errorf("ProtectRepositoryBranches: %+v", rel)
	}
	_, _, err = mc.ProtectedBranches.ProtectRepositoryBranches(proj.ID, &gitlab.ProtectRepositoryBranchesOptions{Name: gitlab.Ptr("release/*")})
	wantStatus(t, err, http.StatusConflict)
	got := must[*gitlab.ProtectedBranch](t, "GetProtectedBranch")(mc.ProtectedBranches.GetProtectedBranch(proj.ID, "release/*"))
	if got.Name != "release/*" || got.ID != rel.ID {
		t.Errorf("GetProtectedBranch: %+v", got)
	}
	upd := must[*gitlab.ProtectedBranch](t, "UpdateProtectedBranch")(mc.ProtectedBranches.UpdateProtectedBranch(proj.ID, "release/*",
		&gitlab.UpdateProtectedBranchOptions{AllowForcePush: gitlab.Ptr(true)}))
	if !upd.AllowForcePush {
		t.Errorf("UpdateProtectedBranch: allow_force_push still false")
	}
	if _, err := mc.ProtectedBranches.UnprotectRepositoryBranches(proj.ID, "release/*"); err != nil {
		t.Fatalf("UnprotectRepositoryBranches: %v", err)
	}
	_, _, err = mc.ProtectedBranches.GetProtectedBranch(proj.ID, "release/*")
	wantStatus(t, err, http.StatusNotFound)

	// Protected tags.
	tag := must[*gitlab.ProtectedTag](t, "ProtectRepositoryTags")(mc.ProtectedTags.ProtectRepositoryTags(proj.ID,
		&gitlab.ProtectRepositoryTagsOptions{Name: gitlab.Ptr("v*"), CreateAccessLevel: gitlab.Ptr(gitlab.MaintainerPermissions)}))
	if tag.Name != "v*" || len(tag.CreateAccessLevels) != 1 || tag.CreateAccessLevels[0].AccessLevel != gitlab.MaintainerPermissions {
		t.Errorf("ProtectRepositoryTags: %+v", tag)
	}
	tags := must[[]*gitlab.ProtectedTag](t, "ListProtectedTags")(mc.ProtectedTags.ListProtectedTags(proj.ID, nil))
	if len(tags) != 1 || tags[0].Name != "v*" {
		t.Errorf("ListProtectedTags: %+v", tags)
	}
	if g := must[*gitlab.ProtectedTag](t, "GetProtectedTag")(mc.ProtectedTags.GetProtectedTag(proj.ID, "v*")); g.Name != "v*" {
		t.Errorf("GetProtectedTag: %+v", g)
	}
	_, _, err = mc.ProtectedTags.ProtectRepositoryTags(proj.ID, &gitlab.ProtectRepositoryTagsOptions{Name: gitlab.Ptr("v*")})
	wantStatus(t, err, http.StatusUnprocessableEntity)

	// Pushes: a Developer's to main is refused, a Maintainer's accepted; a
	// Developer creates a feature branch and may not create tag v1.
	_, tok := s.CreateRunner(t, nil)
	rc := s.NewRunnerClient(tok)
	ci := map[string]string{".gitlab-ci.yml": "job:\n  script: [env]\n"}
	g := testserver.NewGit(t)
	dw := g.Init(t, s.GitURL(dev.Username, dev.Token, proj.PathWithNamespace))
	g.Commit(t, dw, "dev", ci)
	stderr := g.Fail(t, dw, "push", "origin", "HEAD:refs/heads/main")
	if !strings.Contains(stderr, "remote: You are not allowed to create protected branches on this project.") ||
		!strings.Contains(stderr, "[remote rejected] HEAD -> main (pre-receive hook declined)") {
		t.Errorf("developer creating main: git says\n%s", stderr)
	}
	mw := g.Init(t, s.GitURL(maint.Username, maint.Token, proj.PathWithNamespace))
	g.Commit(t, mw, "maint", ci)
	g.Run(t, mw, "push", "--quiet", "origin", "HEAD:refs/heads/main")
	wantRefProtected(t, rc.TakeJob(t), "main", "true")
	dw = g.Clone(t, s.GitURL(dev.Username, dev.Token, proj.PathWithNamespace))
	g.Commit(t, dw, "dev", map[string]string{"dev.txt": "dev\n"})
	stderr = g.Fail(t, dw, "push", "origin", "HEAD:refs/heads/main")
	if !strings.Contains(stderr, "remote: You are not allowed to push code to protected branches on this project.") ||
		!strings.Contains(stderr, "[remote rejected] HEAD -> main (pre-receive hook declined)") {
		t.Errorf("developer's push to main: git says\n%s", stderr)
	}
	g.Run(t, dw, "push", "--quiet", "origin", "HEAD:refs/heads/feature")
	wantRefProtected(t, rc.TakeJob(t), "feature", "false")
	// The branches API tells protected branches, and who may push.
	for _, b := range must[[]*gitlab.Branch](t, "ListBranches")(dc.Branches.ListBranches(proj.ID, nil)) {
		want := b.Name == "main"
		if b.Protected != want || b.CanPush == want || b.DevelopersCanPush == want || b.DevelopersCanMerge == want {
			t.Errorf("branch %s as a Developer: protected=%v can_push=%v developers_can_push=%v developers_can_merge=%v",
				b.Name, b.Protected, b.CanPush, b.DevelopersCanPush, b.DevelopersCanMerge)
		}
	}
	if b := must[[]*gitlab.Branch](t, "ListBranches")(mc.Branches.ListBranches(proj.ID, &gitlab.ListBranchesOptions{Search: gitlab.Ptr("main")})); len(b) != 1 || !b[0].CanPush {
		t.Errorf("main as a Maintainer: %+v", b)
	}
	g.Run(t, dw, "tag", "v1")
	stderr = g.Fail(t, dw, "push", "origin", "v1")
	if !strings.Contains(stderr, "remote: You are not allowed to create this tag as it is protected.") {
		t.Errorf("developer's protected tag: git says\n%s", stderr)
	}

	// Running a pipeline on main needs the right to push or merge to it.
	_, _, err = dc.Pipelines.CreatePipeline(proj.ID, &gitlab.CreatePipelineOptions{Ref: gitlab.Ptr("main")})
	wantStatus(t, err, http.StatusBadRequest)
	r := s.Expect(t, "POST", api+"/projects/"+testserver.Itoa(int64(proj.ID))+"/pipeline", dev.Token, map[string]any{"ref": "main"}, http.StatusBadRequest)
	checkJSON(t, r, `{"message":{"base":["Insufficient permissions for protected ref 'main'"]}}`)
	// A protected masked variable reaches the job on main, not the one on
	// feature (issue 16.5).
	const deploySecret = "Deploy-Key_0123456789"
	s.Remember(deploySecret)
	s.Expect(t, "POST", api+"/projects/"+testserver.Itoa(int64(proj.ID))+"/variables", s.RootToken,
		map[string]any{"key": "DEPLOY_KEY", "value": deploySecret, "masked": true, "protected": true}, http.StatusCreated)
	must[*gitlab.Pipeline](t, "CreatePipeline on feature by a Developer")(dc.Pipelines.CreatePipeline(proj.ID, &gitlab.CreatePipelineOptions{Ref: gitlab.Ptr("feature")}))
	j := rc.TakeJob(t)
	wantRefProtected(t, j, "feature", "false")
	wantVariable(t, j, "DEPLOY_KEY", "")
	must[*gitlab.Pipeline](t, "CreatePipeline on main by a Maintainer")(mc.Pipelines.CreatePipeline(proj.ID, &gitlab.CreatePipelineOptions{Ref: gitlab.Ptr("main")}))
	j = rc.TakeJob(t)
	wantRefProtected(t, j, "main", "true")
	wantVariable(t, j, "DEPLOY_KEY", deploySecret)
	j.FinishOK(t, "failed")
	// Nor retry a job of main.
	_, _, err = dc.Jobs.RetryJob(proj.ID, j.ID)
	wantStatus(t, err, http.StatusForbidden)
	must[*gitlab.Job](t, "RetryJob by a Maintainer")(mc.Jobs.RetryJob(proj.ID, j.ID))
}

// wantRefProtected checks a job's ref and its CI_COMMIT_REF_PROTECTED.
func wantRefProtected(t *testing.T, j *testserver.RunningJob, ref, want string) {
	t.Helper()
	vars := map[string]string{}
	for _, v := range j.Payload.Variables {
		vars[v.Key] = v.Value
	}
	if vars["CI_COMMIT_REF_NAME"] != ref || vars["CI_COMMIT_REF_PROTECTED"] != want {
		t.Errorf("job on %s: CI_COMMIT_REF_NAME=%q CI_COMMIT_REF_PROTECTED=%q, want %q", ref, vars["CI_COMMIT_REF_NAME"], vars["CI_COMMIT_REF_PROTECTED"], want)
	}
	j.Start(t)
}

// wantVariable checks the value of a masked variable in a job's payload
// ("": the job has no such variable).
func wantVariable(t *testing.T, j *testserver.RunningJob, key, want string) {
	t.Helper()
	for _, v := range j.Payload.Variables {
		if v.Key == key {
			if v.Value != want || !v.Masked {
				t.Errorf("job %d: %s=%q masked %v, want %q masked", j.ID, key, v.Value, v.Masked, want)
			}
			return
		}
	}
	if want != "" {
		t.Errorf("job %d has no %s, want %q", j.ID, key, want)
	}
}

// TestProtectedRefsJobTokenPush (issue 16.4, gitlab-compat.md §4.7): with
// the project allowing job-token pushes, a job's token pushes as the
// job's user, and main's protection (Maintainers only) holds for it: git
// as gitlab-ci-token with a Developer's job's token is refused main with
// GitLab's words but may push a feature branch; a Maintainer's job's
// token pushes main.
func TestProtectedRefsJobTokenPush(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *testserver.Server) {
		root := newClient(t, s, s.RootToken)
		proj := must[*gitlab.Project](t, "CreateProject")(root.Projects.CreateProject(&gitlab.CreateProjectOptions{Name: gitlab.Ptr("guarded")}))
		pid := int64(proj.ID)
		dev, maint := s.CreateUser(t, "dev"), s.CreateUser(t, "maint")
		s.AddMember(t, "projects", pid, dev.ID, 30)
		s.AddMember(t, "projects", pid, maint.ID, 40)
		s.Expect(t, "PUT", api+"/projects/"+testserver.Itoa(pid), s.RootToken,
			map[string]any{"ci_push_repository_for_job_token_allowed": true}, http.StatusOK)
		_, tok := s.CreateRunner(t, nil)
		rc := s.NewRunnerClient(tok)

		// A Maintainer's pipeline on main, a Developer's on feature: their
		// jobs' tokens are theirs.
		g := testserver.NewGit(t)
		mw := g.Init(t, s.GitURL(maint.Username, maint.Token, proj.PathWithNamespace))
		g.Commit(t, mw, "maint", map[string]string{".gitlab-ci.yml": "job:\n  script: [env]\n"})
		g.Run(t, mw, "push", "--quiet", "origin", "HEAD:refs/heads/main")
		maintJob := rc.TakeJob(t)
		dw := g.Clone(t, s.GitURL(dev.Username, dev.Token, proj.PathWithNamespace))
		g.Run(t, dw, "push", "--quiet", "origin", "HEAD:refs/heads/feature")
		devJob := rc.TakeJob(t)
		if maintJob.Payload.JobInfo.UserID != maint.ID || devJob.Payload.JobInfo.UserID != dev.ID {
			t.Fatalf("the jobs run as users %d and %d, want %d (maint) and %d (dev)",
				maintJob.Payload.JobInfo.UserID, devJob.Payload.JobInfo.UserID, maint.ID, dev.ID)
		}

		jw := g.Clone(t, s.GitURL("gitlab-ci-token", devJob.Token, proj.PathWithNamespace))
		g.Commit(t, jw, "from a job", map[string]string{"job.txt": "dev's job\n"})
		stderr := g.Fail(t, jw, "push", "origin", "HEAD:refs/heads/main")
		if !strings.Contains(stderr, "remote: You are not allowed to push code to protected branches on this project.") ||
			!strings.Contains(stderr, "[remote rejected] HEAD -> main (pre-receive hook declined)") {
			t.Errorf("a Developer's job token pushing main: git says\n%s", stderr)
		}
		g.Run(t, jw, "push", "--quiet", "origin", "HEAD:refs/heads/from-job")

		mjw := g.Clone(t, s.GitURL("gitlab-ci-token", maintJob.Token, proj.PathWithNamespace))
		g.Commit(t, mjw, "from a job", map[string]string{"job.txt": "maint's job\n"})
		g.Run(t, mjw, "push", "--quiet", "origin", "HEAD:refs/heads/main")
		bs := must[[]*gitlab.Branch](t, "ListBranches")(root.Branches.ListBranches(proj.ID, &gitlab.ListBranchesOptions{Search: gitlab.Ptr("main")}))
		if len(bs) != 1 || bs[0].Commit == nil || bs[0].Commit.Title != "from a job" {
			t.Errorf("main after the Maintainer's job pushed: %+v", bs)
		}
	})
}
