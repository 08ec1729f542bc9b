package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	gitlab "gitlab.com/gitlab-org/api/client-go/v2"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// releaseCI is grp/app's pipeline: on tag v1.0 (the tags the test
// creates through the API start pipelines too), release_job creates the
// release with two links (release: keyword, run by the built-in runner
// through the API with its own token), and check reads it back with its
// own job's token; on a branch, hold waits for a runner tagged external
// (the test's, which lends its token to GitLab's Go client).
const releaseCI = `stages: [build, release, check]
build:
  stage: build
  rules: [{if: $CI_COMMIT_TAG == "v1.0"}]
  script: [echo building $CI_COMMIT_TAG]
release_job:
  stage: release
  rules: [{if: $CI_COMMIT_TAG == "v1.0"}]
  script: [echo releasing]
  release:
    tag_name: $CI_COMMIT_TAG
    name: 'Release $CI_COMMIT_TAG'
    description: 'Built by pipeline $CI_PIPELINE_ID'
    milestones: [m1]
    assets:
      links:
        - name: binary
          url: 'https://example.com/$CI_COMMIT_TAG/app'
          filepath: /bin/app
          link_type: package
        - name: docs
          url: https://example.com/docs
check:
  stage: check
  rules: [{if: $CI_COMMIT_TAG == "v1.0"}]
  script:
    - 'curl -sf -H "JOB-TOKEN: $CI_JOB_TOKEN" "$CI_API_V4_URL/projects/$CI_PROJECT_ID/releases/$CI_COMMIT_TAG" > rel.json'
    - grep -q '"name":"Release v1.0"' rel.json
    - grep -q '"direct_asset_url":"[^"]*/-/releases/v1.0/downloads/bin/app"' rel.json
hold:
  stage: build
  rules: [{if: $CI_COMMIT_BRANCH}]
  tags: [external]
  script: [sleep 1]
`

// probeCI is grp/other's pipeline: its job's token tries to create a
// release in grp/app, which has not listed grp/other.
const probeCI = `probe:
  script:
    - 'code=$(curl -s -o out.json -w "%{http_code}" -H "JOB-TOKEN: $CI_JOB_TOKEN" -H "Content-Type: application/json" -d "{\"tag_name\":\"evil\",\"ref\":\"main\"}" "$CI_API_V4_URL/projects/grp%2Fapp/releases")'
    - cat out.json; echo
    - test "$code" = 403
    - grep -qF '"message":"Authentication by CI/CD job token not allowed from grp/other to grp/app."' out.json
`

// TestReleases is issue 18's acceptance for releases: a tag push runs a
// pipeline whose release: job creates the release with two links; the
// release is readable with a PAT and with another job's token of the
// same project; a token of an unlisted project cannot create one (403
// with the scope message); a refused release fails its job with the API's
// message; GitLab's Go client drives Releases and ReleaseLinks with a PAT
// and with NewJobClient.
func TestReleases(t *testing.T) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			s := start(t, testserver.Options{Dialect: dialect, Args: []string{"--runners", "2", "--runner-long-poll", "2s"}})
			testReleases(t, s)
		})
	}
}

func testReleases(t *testing.T, s *testserver.Server) {
	dev := s.CreateUser(t, "dev")
	group := s.CreateGroup(t, "grp", 0, "private")
	s.AddMember(t, "groups", group, dev.ID, 40)
	appID, appPath := s.CreateProject(t, group, "app", "private").IDPath()
	otherID, otherPath := s.CreateProject(t, group, "other", "private").IDPath()
	project := api + "/projects/" + testserver.Itoa(appID)

	// grp/other's job is refused by grp/app's allowlist.
	g := testserver.NewGit(t)
	other := g.Init(t, s.GitURL("dev", dev.Token, otherPath))
	g.Commit(t, other, "ci", map[string]string{".gitlab-ci.yml": probeCI})
	g.Run(t, other, "push", "--quiet", "origin", "HEAD:main")
	pipelineEnds(t, s, otherID, waitPipelines(t, s, api+"/projects/"+testserver.Itoa(otherID), 1, 60*time.Second)[0], "success")

	// A branch push (hold waits for the test's runner), then the tag.
	app := g.Init(t, s.GitURL("dev", dev.Token, appPath))
	sha := g.Commit(t, app, "ci", map[string]string{".gitlab-ci.yml": releaseCI, "README.md": "app\n"})
	g.Run(t, app, "push", "--quiet", "origin", "HEAD:main")
	waitPipelines(t, s, project, 1, 60*time.Second)
	g.Run(t, app, "tag", "v1.0")
	g.Run(t, app, "push", "--quiet", "origin", "v1.0")
	ids := waitPipelines(t, s, project, 2, 60*time.Second)
	tagPipeline := ids[0] // newest first
	pipelineEnds(t, s, appID, tagPipeline, "success")

	// The release, with a personal access token.
	pat := newClient(t, s, dev.Token)
	rel := must[*gitlab.Release](t, "GetRelease")(pat.Releases.GetRelease(appPath, "v1.0"))
	if rel.Name != "Release v1.0" || rel.Description != "Built by pipeline "+testserver.Itoa(tagPipeline) || rel.Commit.ID != sha ||
		rel.Author.Username != "dev" || len(rel.Assets.Links) != 2 || len(rel.Assets.Sources) == 0 {
		t.Fatalf("release %+v", rel)
	}
	bin := rel.Assets.Links[0]
	if bin.Name != "binary" || bin.URL != "https://example.com/v1.0/app" || bin.LinkType != gitlab.PackageLinkType ||
		bin.DirectAssetURL != s.URL+"/grp/app/-/releases/v1.0/downloads/bin/app" {
		t.Errorf("link %+v", bin)
	}
	var releaseJob int64
	for _, j := range s.Expect(t, "GET", project+"/pipelines/"+testserver.Itoa(tagPipeline)+"/jobs", dev.Token, nil, http.StatusOK).List(t) {
		if j["name"] == "release_job" {
			releaseJob = testserver.Num(t, j, "id")
		}
	}
	trace := jobTrace(t, s, project, releaseJob)
	for _, want := range []string{"$ release-cli create --name \"Release $CI_COMMIT_TAG\"", "milestones are ignored", "release created successfully!"} {
		if !strings.Contains(trace, want) {
			t.Errorf("release job's log lacks %q:\n%s", want, trace)
		}
	}

	// Run again, the release exists: the job fails with the API's words.
	s.Expect(t, "POST", project+"/jobs/"+testserver.Itoa(releaseJob)+"/retry", dev.Token, nil, http.StatusCreated)
	waitPipeline(t, s, appID, dev.Token, tagPipeline)
	var retried map[string]any
	for _, j := range s.Expect(t, "GET", project+"/pipelines/"+testserver.Itoa(tagPipeline)+"/jobs", dev.Token, nil, http.StatusOK).List(t) {
		if j["name"] == "release_job" && testserver.Num(t, j, "id") != releaseJob {
			retried = j
		}
	}
	if retried == nil || retried["status"] != "failed" {
		t.Fatalf("retried release job: %v", retried)
	}
	if tr := jobTrace(t, s, project, testserver.Num(t, retried, "id")); !strings.Contains(tr, "API Error Response status_code: 409 message: Release already exists") {
		t.Errorf("retried release job's log:\n%s", tr)
	}

	// GitLab's Go client with a PAT: the whole API.
	created := must[*gitlab.Release](t, "CreateRelease")(pat.Releases.CreateRelease(appPath, &gitlab.CreateReleaseOptions{
		TagName: gitlab.Ptr("v2.0"), Ref: gitlab.Ptr("main"), Name: gitlab.Ptr("Two"), Description: gitlab.Ptr("*two*"),
		Assets: &gitlab.ReleaseAssetsOptions{Links: []*gitlab.ReleaseAssetLinkOptions{{Name: gitlab.Ptr("a"), URL: gitlab.Ptr("https://e.com/a")}}}}))
	if created.TagName != "v2.0" || created.ReleasedAt == nil || created.UpcomingRelease || len(created.Assets.Links) != 1 {
		t.Errorf("created %+v", created)
	}
	past := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	if r := must[*gitlab.Release](t, "UpdateRelease")(pat.Releases.UpdateRelease(appPath, "v1.0", &gitlab.UpdateReleaseOptions{ReleasedAt: &past})); r.ReleasedAt == nil || !r.ReleasedAt.Equal(past) {
		t.Errorf("released_at %v, want %v", r.ReleasedAt, past)
	}
	must[*gitlab.Release](t, "UpdateRelease")(pat.Releases.UpdateRelease(appPath, "v2.0", &gitlab.UpdateReleaseOptions{Name: gitlab.Ptr("Two!")}))
	list := must[[]*gitlab.Release](t, "ListReleases")(pat.Releases.ListReleases(appPath, &gitlab.ListReleasesOptions{}))
	if len(list) != 2 || list[0].Name != "Two!" {
		t.Errorf("list %+v", list)
	}
	if latest := must[*gitlab.Release](t, "GetLatestRelease")(pat.Releases.GetLatestRelease(appPath)); latest.TagName != "v2.0" {
		t.Errorf("latest %s", latest.TagName)
	}
	link := must[*gitlab.ReleaseLink](t, "CreateReleaseLink")(pat.ReleaseLinks.CreateReleaseLink(appPath, "v2.0", &gitlab.CreateReleaseLinkOptions{
		Name: gitlab.Ptr("img"), URL: gitlab.Ptr("https://e.com/i.png"), DirectAssetPath: gitlab.Ptr("/i.png"), LinkType: gitlab.Ptr(gitlab.ImageLinkType)}))
	must[*gitlab.ReleaseLink](t, "UpdateReleaseLink")(pat.ReleaseLinks.UpdateReleaseLink(appPath, "v2.0", link.ID, &gitlab.UpdateReleaseLinkOptions{Name: gitlab.Ptr("image")}))
	if l := must[*gitlab.ReleaseLink](t, "GetReleaseLink")(pat.ReleaseLinks.GetReleaseLink(appPath, "v2.0", link.ID)); l.Name != "image" || l.LinkType != gitlab.ImageLinkType {
		t.Errorf("link %+v", l)
	}
	if ls := must[[]*gitlab.ReleaseLink](t, "ListReleaseLinks")(pat.ReleaseLinks.ListReleaseLinks(appPath, "v2.0", nil)); len(ls) != 2 {
		t.Errorf("links %+v", ls)
	}
	must[*gitlab.ReleaseLink](t, "DeleteReleaseLink")(pat.ReleaseLinks.DeleteReleaseLink(appPath, "v2.0", link.ID))
	_, _, err := pat.Releases.CreateRelease(appPath, &gitlab.CreateReleaseOptions{TagName: gitlab.Ptr("v3.0")})
	wantStatus(t, err, http.StatusUnprocessableEntity)
	_, _, err = pat.Releases.CreateRelease(appPath, &gitlab.CreateReleaseOptions{TagName: gitlab.Ptr("bad tag"), Ref: gitlab.Ptr("main")})
	wantStatus(t, err, http.StatusBadRequest)

	// GitLab's Go client with a running job's token (the branch
	// pipeline's hold job, taken by the test's runner).
	_, runnerToken := s.CreateRunner(t, map[string]any{"tag_list": []string{"external"}})
	job := s.NewRunnerClient(runnerToken).TakeJob(t)
	job.Start(t)
	jc, err := gitlab.NewJobClient(job.Token, gitlab.WithBaseURL(s.URL+api), gitlab.WithoutRetries())
	if err != nil {
		t.Fatal(err)
	}
	if r := must[*gitlab.Release](t, "job GetRelease")(jc.Releases.GetRelease(appPath, "v1.0")); r.Name != "Release v1.0" {
		t.Errorf("job's read: %+v", r)
	}
	must[*gitlab.Release](t, "job CreateRelease")(jc.Releases.CreateRelease(appPath, &gitlab.CreateReleaseOptions{
		TagName: gitlab.Ptr("v4.0"), Ref: gitlab.Ptr(sha), Description: gitlab.Ptr("from a job")}))
	jl := must[*gitlab.ReleaseLink](t, "job CreateReleaseLink")(jc.ReleaseLinks.CreateReleaseLink(appPath, "v4.0", &gitlab.CreateReleaseLinkOptions{
		Name: gitlab.Ptr("x"), URL: gitlab.Ptr("https://e.com/x")}))
	if ls := must[[]*gitlab.ReleaseLink](t, "job ListReleaseLinks")(jc.ReleaseLinks.ListReleaseLinks(appPath, "v4.0", nil)); len(ls) != 1 || ls[0].ID != jl.ID {
		t.Errorf("job's links %+v", ls)
	}
	must[*gitlab.Release](t, "job DeleteRelease")(jc.Releases.DeleteRelease(appPath, "v4.0"))
	// The job's token holds its user's rights and nothing of another
	// project that has not listed it.
	_, _, err = jc.Releases.ListReleases(otherPath, nil)
	wantStatus(t, err, http.StatusForbidden)
	job.FinishOK(t, "success")
	_, _, err = jc.Releases.GetRelease(appPath, "v1.0")
	wantStatus(t, err, http.StatusUnauthorized)
	// The tag v4.0 stays, as in GitLab.
	if !strings.Contains(string(s.Expect(t, "GET", project+"/repository/tags", dev.Token, nil, http.StatusOK).Body), `"name":"v4.0"`) {
		t.Error("tag v4.0 is missing")
	}
}
