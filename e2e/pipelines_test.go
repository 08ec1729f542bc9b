package e2e

import (
	"net/http"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// pushCI is the .gitlab-ci.yml of TestPushPipelines. Which jobs a
// pipeline gets depends on the branch, the tag, the source and DEPLOY.
const pushCI = `stages: [build, test, deploy]

build:
  stage: build
  script: echo build
  rules:
    - if: $CI_COMMIT_BRANCH == "main"
    - if: $CI_COMMIT_TAG

flaky:
  stage: build
  script: exit 1
  allow_failure: true

unit:
  stage: test
  needs: [build]
  script: echo unit
  rules:
    - if: $CI_COMMIT_BRANCH == "main"
    - if: $CI_COMMIT_TAG

lint:
  stage: test
  needs: []
  script: echo lint
  rules:
    - if: $CI_PIPELINE_SOURCE == "push"

api-check:
  stage: test
  script: echo api
  rules:
    - if: $CI_PIPELINE_SOURCE == "api"

never:
  stage: test
  script: echo never
  rules:
    - if: $CI_COMMIT_BRANCH == "no-such-branch"
    - when: never

deploy:
  stage: deploy
  script: echo deploy
  rules:
    - if: $CI_COMMIT_BRANCH == "main"
      when: manual

release:
  stage: deploy
  script: echo release
  rules:
    - if: $CI_COMMIT_TAG

gated:
  stage: deploy
  script: echo gated
  rules:
    - if: $DEPLOY == "yes"
`

// ciJobSet is a pipeline's jobs as name -> "stage/status".
type ciJobSet map[string]string

// pipelineCIJobSet lists a pipeline's jobs (as token) and checks the names
// are unique.
func pipelineCIJobSet(t testing.TB, s *testserver.Server, projectID, pipelineID int64, token string) ciJobSet {
	t.Helper()
	jobs := s.Expect(t, "GET", api+"/projects/"+testserver.Itoa(projectID)+"/pipelines/"+testserver.Itoa(pipelineID)+"/jobs?per_page=100", token, nil, http.StatusOK).List(t)
	set := ciJobSet{}
	for _, j := range jobs {
		name := testserver.Str(t, j, "name")
		if _, dup := set[name]; dup {
			t.Errorf("pipeline %d lists job %q twice", pipelineID, name)
		}
		set[name] = testserver.Str(t, j, "stage") + "/" + testserver.Str(t, j, "status")
	}
	return set
}

func checkCIJobSet(t testing.TB, what string, got, want ciJobSet) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: jobs\n  got  %v\n  want %v", what, sortedCIJobSet(got), sortedCIJobSet(want))
	}
}

func sortedCIJobSet(s ciJobSet) []string {
	var out []string
	for k, v := range s {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// listProjectPipelines lists a project's pipelines, newest first.
func listProjectPipelines(t testing.TB, s *testserver.Server, projectID int64, token string) []map[string]any {
	t.Helper()
	return s.Expect(t, "GET", api+"/projects/"+testserver.Itoa(projectID)+"/pipelines?per_page=100", token, nil, http.StatusOK).List(t)
}

// onlyNewPipeline checks that exactly one pipeline appeared since before
// (a listing) and returns its detail.
func onlyNewPipeline(t testing.TB, s *testserver.Server, projectID int64, token string, before []map[string]any) map[string]any {
	t.Helper()
	after := listProjectPipelines(t, s, projectID, token)
	if len(after) != len(before)+1 {
		t.Fatalf("%d pipelines, want %d (one new): %v", len(after), len(before)+1, after)
	}
	id := testserver.Num(t, after[0], "id")
	for _, p := range before {
		if testserver.Num(t, p, "id") == id {
			t.Fatalf("the newest pipeline %d is not new", id)
		}
	}
	return s.Expect(t, "GET", api+"/projects/"+testserver.Itoa(projectID)+"/pipelines/"+testserver.Itoa(id), token, nil, http.StatusOK).Object(t)
}

func entityUsername(m map[string]any) any {
	u, _ := m["user"].(map[string]any)
	if u == nil {
		return nil
	}
	return u["username"]
}

// TestPushPipelines: pushes and POST /pipeline create pipelines whose jobs
// follow the rules; ref deletions and commits without .gitlab-ci.yml create
// none; an unusable file creates a failed pipeline that says where.
func TestPushPipelines(t *testing.T) { forEachDialect(t, testPushPipelines) }

func testPushPipelines(t *testing.T, s *testserver.Server) {
	g := testserver.NewGit(t)
	group := s.CreateGroup(t, "cigrp", 0, "private")
	pid, path := s.CreateProject(t, group, "app", "private").IDPath()
	owner := s.CreateUser(t, "ciowner")
	dev := s.CreateUser(t, "cidev")
	reporter := s.CreateUser(t, "cireporter")
	s.AddMember(t, "groups", group, owner.ID, 50)
	s.AddMember(t, "projects", pid, dev.ID, 30)
	s.AddMember(t, "projects", pid, reporter.ID, 20)
	base := api + "/projects/" + testserver.Itoa(pid)

	work := g.Init(t, s.GitURL(dev.Username, dev.Token, path))
	sha := g.Commit(t, work, "Add CI", map[string]string{".gitlab-ci.yml": pushCI, "README.md": "app\n"})
	g.Run(t, work, "push", "--quiet", "origin", "main")

	// After git push returns, the pipeline is there: no waiting.
	list := listProjectPipelines(t, s, pid, reporter.Token)
	if len(list) != 1 {
		t.Fatalf("after the first push: %d pipelines, want 1: %v", len(list), list)
	}
	if list[0]["source"] != "push" || list[0]["ref"] != "main" || list[0]["sha"] != sha {
		t.Errorf("push pipeline: source %v, ref %v, sha %v; want push, main, %s", list[0]["source"], list[0]["ref"], list[0]["sha"], sha)
	}
	mainID := testserver.Num(t, list[0], "id")
	p := s.Expect(t, "GET", base+"/pipelines/"+testserver.Itoa(mainID), reporter.Token, nil, http.StatusOK).Object(t)
	if entityUsername(p) != dev.Username {
		t.Errorf("push pipeline: user %v, want the pusher %s", entityUsername(p), dev.Username)
	}
	if p["tag"] != false || p["before_sha"] != strings.Repeat("0", 40) || p["yaml_errors"] != nil {
		t.Errorf("push pipeline of a new branch: tag %v, before_sha %v, yaml_errors %v", p["tag"], p["before_sha"], p["yaml_errors"])
	}
	if p["status"] != "pending" {
		t.Errorf("push pipeline: status %v, want pending", p["status"])
	}
	checkCIJobSet(t, "push to main", pipelineCIJobSet(t, s, pid, mainID, reporter.Token), ciJobSet{
		"build":  "build/pending",
		"flaky":  "build/pending",
		"unit":   "test/created", // needs build
		"lint":   "test/pending", // needs: []
		"deploy": "deploy/created",
	})

	t.Run("tag", func(t *testing.T) {
		before := listProjectPipelines(t, s, pid, reporter.Token)
		g.Run(t, work, "tag", "-a", "-m", "Release 1.0", "v1.0")
		g.Run(t, work, "push", "--quiet", "origin", "v1.0")
		p := onlyNewPipeline(t, s, pid, reporter.Token, before)
		// An annotated tag: the pipeline's sha is the tagged commit, not the
		// tag object.
		if p["ref"] != "v1.0" || p["tag"] != true || p["sha"] != sha || p["source"] != "push" || entityUsername(p) != dev.Username {
			t.Errorf("tag pipeline: ref %v, tag %v, sha %v, source %v, user %v; want v1.0, true, %s (the tagged commit), push, %s",
				p["ref"], p["tag"], p["sha"], p["source"], entityUsername(p), sha, dev.Username)
		}
		checkCIJobSet(t, "push of tag v1.0", pipelineCIJobSet(t, s, pid, testserver.Num(t, p, "id"), reporter.Token), ciJobSet{
			"build":   "build/pending",
			"flaky":   "build/pending",
			"unit":    "test/created",
			"lint":    "test/pending",
			"release": "deploy/created",
		})
	})

	t.Run("delete a branch", func(t *testing.T) {
		before := listProjectPipelines(t, s, pid, reporter.Token)
		g.Run(t, work, "push", "--quiet", "origin", "HEAD:refs/heads/feature")
		p := onlyNewPipeline(t, s, pid, reporter.Token, before)
		if p["ref"] != "feature" {
			t.Errorf("feature pipeline: ref %v", p["ref"])
		}
		checkCIJobSet(t, "push to feature", pipelineCIJobSet(t, s, pid, testserver.Num(t, p, "id"), reporter.Token), ciJobSet{
			"flaky": "build/pending",
			"lint":  "test/pending",
		})
		before = listProjectPipelines(t, s, pid, reporter.Token)
		g.Run(t, work, "push", "--quiet", "origin", "--delete", "feature")
		if ls := g.Run(t, "", "ls-remote", s.GitURL(dev.Username, dev.Token, path), "refs/heads/feature"); ls != "" {
			t.Fatalf("feature still exists after the delete: %q", ls)
		}
		if after := listProjectPipelines(t, s, pid, reporter.Token); len(after) != len(before) {
			t.Errorf("deleting a branch created a pipeline: %d pipelines, want %d", len(after), len(before))
		}
		// Deleting a tag neither.
		g.Run(t, work, "tag", "doomed")
		g.Run(t, work, "push", "--quiet", "origin", "doomed")
		before = listProjectPipelines(t, s, pid, reporter.Token)
		g.Run(t, work, "push", "--quiet", "origin", "--delete", "refs/tags/doomed")
		if after := listProjectPipelines(t, s, pid, reporter.Token); len(after) != len(before) {
			t.Errorf("deleting a tag created a pipeline: %d pipelines, want %d", len(after), len(before))
		}
	})

	t.Run("several refs", func(t *testing.T) {
		// One push of two branches: a pipeline for each.
		before := listProjectPipelines(t, s, pid, reporter.Token)
		g.Run(t, work, "push", "--quiet", "origin", "HEAD:refs/heads/one", "HEAD:refs/heads/two")
		after := listProjectPipelines(t, s, pid, reporter.Token)
		if len(after) != len(before)+2 {
			t.Fatalf("pushing two branches: %d pipelines, want %d", len(after), len(before)+2)
		}
		refs := map[any]bool{after[0]["ref"]: true, after[1]["ref"]: true}
		if !refs["one"] || !refs["two"] || after[0]["sha"] != sha || after[1]["sha"] != sha {
			t.Errorf("pipelines of the two branches: %v", after[:2])
		}
		g.Run(t, work, "push", "--quiet", "origin", "--delete", "one", "two")
		if n := len(listProjectPipelines(t, s, pid, reporter.Token)); n != len(after) {
			t.Errorf("deleting two branches created pipelines: %d, want %d", n, len(after))
		}
	})

	t.Run("api", func(t *testing.T) {
		r := s.Expect(t, "POST", base+"/pipeline", dev.Token, map[string]any{"ref": "main"}, http.StatusCreated)
		p := r.Object(t)
		if p["source"] != "api" || p["ref"] != "main" || p["sha"] != sha || p["tag"] != false || entityUsername(p) != dev.Username {
			t.Errorf("API pipeline: source %v, ref %v, sha %v, tag %v, user %v", p["source"], p["ref"], p["sha"], p["tag"], entityUsername(p))
		}
		checkCIJobSet(t, "POST /pipeline ref=main", pipelineCIJobSet(t, s, pid, testserver.Num(t, p, "id"), dev.Token), ciJobSet{
			"build":     "build/pending",
			"flaky":     "build/pending",
			"unit":      "test/created",
			"api-check": "test/created",
			"deploy":    "deploy/created",
		})

		r = s.Expect(t, "POST", base+"/pipeline", dev.Token, map[string]any{
			"ref": "main", "variables": []map[string]string{{"key": "DEPLOY", "value": "yes"}},
		}, http.StatusCreated)
		p = r.Object(t)
		checkCIJobSet(t, "POST /pipeline with DEPLOY=yes", pipelineCIJobSet(t, s, pid, testserver.Num(t, p, "id"), dev.Token), ciJobSet{
			"build":     "build/pending",
			"flaky":     "build/pending",
			"unit":      "test/created",
			"api-check": "test/created",
			"deploy":    "deploy/created",
			"gated":     "deploy/created",
		})
		// A form works too, and the tag is found out.
		r = s.Expect(t, "POST", base+"/pipeline", dev.Token, url.Values{"ref": {"v1.0"}}, http.StatusCreated)
		// v1.0 is an annotated tag: the pipeline runs the commit it tags.
		if p = r.Object(t); p["tag"] != true || p["ref"] != "v1.0" || p["sha"] != sha {
			t.Errorf("API pipeline for tag v1.0: tag %v, ref %v, sha %v; want true, v1.0, the tagged commit %s", p["tag"], p["ref"], p["sha"], sha)
		}
		checkCIJobSet(t, "POST /pipeline ref=v1.0", pipelineCIJobSet(t, s, pid, testserver.Num(t, p, "id"), dev.Token), ciJobSet{
			"build":     "build/pending",
			"flaky":     "build/pending",
			"unit":      "test/created",
			"api-check": "test/created",
			"release":   "deploy/created",
		})

		r = s.Expect(t, "POST", base+"/pipeline", dev.Token, map[string]any{"ref": "no-such-ref"}, http.StatusBadRequest)
		checkJSON(t, r, `{"message":{"base":["Reference not found"]}}`)

		// A branch whose rules select nothing for the API.
		g.Run(t, work, "checkout", "--quiet", "-b", "quiet")
		g.Commit(t, work, "Push-only CI", map[string]string{".gitlab-ci.yml": "only-push:\n  script: echo\n  rules:\n    - if: $CI_PIPELINE_SOURCE == \"push\"\n"})
		g.Run(t, work, "push", "--quiet", "origin", "quiet")
		g.Run(t, work, "checkout", "--quiet", "main")
		before := listProjectPipelines(t, s, pid, dev.Token)
		r = s.Expect(t, "POST", base+"/pipeline", dev.Token, map[string]any{"ref": "quiet"}, http.StatusBadRequest)
		checkJSON(t, r, `{"message":{"base":["Pipeline will not run for the selected trigger. The rules configuration prevented any jobs from being added to the pipeline."]}}`)

		checkStatus(t, s.Do(t, "POST", base+"/pipeline", reporter.Token, map[string]any{"ref": "main"}), http.StatusForbidden, "")
		checkStatus(t, s.Do(t, "POST", base+"/pipeline", "", map[string]any{"ref": "main"}), http.StatusUnauthorized, "")
		if after := listProjectPipelines(t, s, pid, dev.Token); len(after) != len(before) {
			t.Errorf("refused POST /pipeline calls created pipelines: %d, want %d", len(after), len(before))
		}
	})

	t.Run("invalid config", func(t *testing.T) {
		before := listProjectPipelines(t, s, pid, dev.Token)
		badKey := "stages: [build]\n\nbuild:\n  stage: build\n  script: echo hi\n  scirpt: typo\n"
		bad := g.Commit(t, work, "Typo in CI", map[string]string{".gitlab-ci.yml": badKey})
		g.Run(t, work, "push", "--quiet", "origin", "main")
		p := onlyNewPipeline(t, s, pid, dev.Token, before)
		ye, _ := p["yaml_errors"].(string)
		if p["status"] != "failed" || p["sha"] != bad || p["source"] != "push" {
			t.Errorf("pipeline of an unknown keyword: status %v, sha %v, source %v; want failed, %s, push", p["status"], p["sha"], p["source"], bad)
		}
		if p["before_sha"] != sha {
			t.Errorf("pipeline of a push to main: before_sha %v, want the previous head %s", p["before_sha"], sha)
		}
		if !strings.Contains(ye, "line 6") || !strings.Contains(ye, "scirpt") {
			t.Errorf("yaml_errors %q, want the unknown keyword scirpt at line 6", ye)
		}
		checkCIJobSet(t, "unknown keyword", pipelineCIJobSet(t, s, pid, testserver.Num(t, p, "id"), dev.Token), ciJobSet{})

		before = listProjectPipelines(t, s, pid, dev.Token)
		broken := "build:\n  script: echo hi\n   stage: build\n"
		g.Commit(t, work, "Broken YAML", map[string]string{".gitlab-ci.yml": broken})
		g.Run(t, work, "push", "--quiet", "origin", "main")
		p = onlyNewPipeline(t, s, pid, dev.Token, before)
		ye, _ = p["yaml_errors"].(string)
		if p["status"] != "failed" || !strings.Contains(ye, "line 3") {
			t.Errorf("pipeline of broken YAML: status %v, yaml_errors %q; want failed at line 3", p["status"], ye)
		}
		checkCIJobSet(t, "broken YAML", pipelineCIJobSet(t, s, pid, testserver.Num(t, p, "id"), dev.Token), ciJobSet{})
		// The API refuses it and saves nothing (GitLab: save_on_errors:
		// false, 400 with the error on base).
		before = listProjectPipelines(t, s, pid, dev.Token)
		r := s.Expect(t, "POST", base+"/pipeline", dev.Token, map[string]any{"ref": "main"}, http.StatusBadRequest)
		checkJSON(t, r, `{"message":{"base":["line 3: invalid YAML: mapping values are not allowed in this context"]}}`)
		if after := listProjectPipelines(t, s, pid, dev.Token); len(after) != len(before) {
			t.Errorf("POST /pipeline on broken YAML saved a pipeline: %d pipelines, want %d", len(after), len(before))
		}
	})

	t.Run("no config", func(t *testing.T) {
		before := listProjectPipelines(t, s, pid, dev.Token)
		g.Run(t, work, "rm", "--quiet", ".gitlab-ci.yml")
		g.Commit(t, work, "No CI", nil)
		g.Run(t, work, "push", "--quiet", "origin", "main")
		if after := listProjectPipelines(t, s, pid, dev.Token); len(after) != len(before) {
			t.Errorf("a push without .gitlab-ci.yml created a pipeline: %d pipelines, want %d", len(after), len(before))
		}
		r := s.Expect(t, "POST", base+"/pipeline", dev.Token, map[string]any{"ref": "main"}, http.StatusBadRequest)
		checkJSON(t, r, `{"message":{"base":["Missing CI config file"]}}`)
	})
}

// actionsCI is the .gitlab-ci.yml of TestJobActions: pipelines only from
// the API.
const actionsCI = `workflow:
  rules:
    - if: $CI_PIPELINE_SOURCE == "api"

stages: [build, test, deploy]

build:
  stage: build
  script: echo build

test:
  stage: test
  script: echo test

manual-first:
  stage: build
  script: echo manual
  when: manual

manual-dag:
  stage: deploy
  needs: []
  script: echo manual
  when: manual

delayed:
  stage: build
  script: echo later
  rules:
    - if: $DELAYED == "yes"
      when: delayed
      start_in: 1 second
`

// TestJobActions drives jobs through the API: cancel, retry, play, erase,
// delete, and the project boundary.
func TestJobActions(t *testing.T) { forEachDialect(t, testJobActions) }

func testJobActions(t *testing.T, s *testserver.Server) {
	g := testserver.NewGit(t)
	group := s.CreateGroup(t, "actgrp", 0, "private")
	pid, path := s.CreateProject(t, group, "app", "private").IDPath()
	otherID, otherPath := s.CreateProject(t, group, "other", "private").IDPath()
	owner := s.CreateUser(t, "actowner")
	maint := s.CreateUser(t, "actmaint")
	dev := s.CreateUser(t, "actdev")
	dev2 := s.CreateUser(t, "actdev2")
	reporter := s.CreateUser(t, "actreporter")
	s.AddMember(t, "groups", group, owner.ID, 50)
	s.AddMember(t, "projects", pid, maint.ID, 40)
	s.AddMember(t, "projects", pid, dev.ID, 30)
	s.AddMember(t, "projects", pid, dev2.ID, 30)
	s.AddMember(t, "projects", pid, reporter.ID, 20)
	base := api + "/projects/" + testserver.Itoa(pid)

	work := g.Init(t, s.GitURL(owner.Username, owner.Token, path))
	g.Commit(t, work, "CI", map[string]string{".gitlab-ci.yml": actionsCI})
	g.Run(t, work, "push", "--quiet", "origin", "main")
	g.Run(t, work, "push", "--quiet", s.GitURL(owner.Username, owner.Token, otherPath), "main")
	if l := listProjectPipelines(t, s, pid, dev.Token); len(l) != 0 {
		t.Fatalf("workflow rules allow only API pipelines, yet the push created %d", len(l))
	}

	// jobs maps a pipeline's job names to their IDs and statuses.
	type job struct {
		id     int64
		status string
	}
	jobs := func(t *testing.T, projectID, pipelineID int64, token string, query string) map[string][]job {
		t.Helper()
		out := map[string][]job{}
		l := s.Expect(t, "GET", api+"/projects/"+testserver.Itoa(projectID)+"/pipelines/"+testserver.Itoa(pipelineID)+"/jobs?per_page=100"+query, token, nil, http.StatusOK).List(t)
		for _, j := range l {
			out[testserver.Str(t, j, "name")] = append(out[testserver.Str(t, j, "name")], job{testserver.Num(t, j, "id"), testserver.Str(t, j, "status")})
		}
		return out
	}
	create := func(t *testing.T, body map[string]any) int64 {
		t.Helper()
		p := s.Expect(t, "POST", base+"/pipeline", dev.Token, body, http.StatusCreated).Object(t)
		return testserver.Num(t, p, "id")
	}

	pl := create(t, map[string]any{"ref": "main"})
	checkCIJobSet(t, "API pipeline", pipelineCIJobSet(t, s, pid, pl, dev.Token), ciJobSet{
		"build":        "build/pending",
		"manual-first": "build/manual",
		"test":         "test/created",
		"manual-dag":   "deploy/manual",
	})
	js := jobs(t, pid, pl, dev.Token, "")
	id := func(name string) string { return testserver.Itoa(js[name][0].id) }

	t.Run("play", func(t *testing.T) {
		r := s.Expect(t, "POST", base+"/jobs/"+id("build")+"/play", dev.Token, nil, http.StatusBadRequest)
		checkJSON(t, r, `{"message":"400 Bad request - Unplayable Job"}`)
		checkStatus(t, s.Do(t, "POST", base+"/jobs/"+id("manual-first")+"/play", reporter.Token, nil), http.StatusForbidden, "")

		for _, name := range []string{"manual-first", "manual-dag"} {
			j := s.Expect(t, "POST", base+"/jobs/"+id(name)+"/play", dev.Token, nil, http.StatusOK).Object(t)
			if testserver.Num(t, j, "id") != js[name][0].id || j["status"] != "pending" || entityUsername(j) != dev.Username {
				t.Errorf("play %s: id %v, status %v, user %v; want the same job, pending, %s", name, j["id"], j["status"], entityUsername(j), dev.Username)
			}
			// Once played it is no longer playable.
			r := s.Expect(t, "POST", base+"/jobs/"+id(name)+"/play", dev.Token, nil, http.StatusBadRequest)
			checkJSON(t, r, `{"message":"400 Bad request - Unplayable Job"}`)
		}
		checkCIJobSet(t, "after play", pipelineCIJobSet(t, s, pid, pl, dev.Token), ciJobSet{
			"build":        "build/pending",
			"manual-first": "build/pending",
			"test":         "test/created",
			"manual-dag":   "deploy/pending",
		})
	})

	t.Run("erase unfinished", func(t *testing.T) {
		r := s.Expect(t, "POST", base+"/jobs/"+id("build")+"/erase", maint.Token, nil, http.StatusForbidden)
		checkJSON(t, r, `{"message":"403 Forbidden - Job is not erasable!"}`)
		r = s.Expect(t, "POST", base+"/jobs/"+id("test")+"/erase", maint.Token, nil, http.StatusForbidden)
		checkJSON(t, r, `{"message":"403 Forbidden - Job is not erasable!"}`)
	})

	t.Run("cancel", func(t *testing.T) {
		checkStatus(t, s.Do(t, "POST", base+"/pipelines/"+testserver.Itoa(pl)+"/cancel", reporter.Token, nil), http.StatusForbidden, "")
		p := s.Expect(t, "POST", base+"/pipelines/"+testserver.Itoa(pl)+"/cancel", dev.Token, nil, http.StatusCreated).Object(t)
		if p["status"] != "canceled" || testserver.Num(t, p, "id") != pl {
			t.Errorf("cancel: answered pipeline %v with status %v, want %d canceled", p["id"], p["status"], pl)
		}
		p = s.Expect(t, "GET", base+"/pipelines/"+testserver.Itoa(pl), dev.Token, nil, http.StatusOK).Object(t)
		if p["status"] != "canceled" || p["finished_at"] == nil {
			t.Errorf("canceled pipeline: status %v, finished_at %v", p["status"], p["finished_at"])
		}
		checkCIJobSet(t, "after cancel", pipelineCIJobSet(t, s, pid, pl, dev.Token), ciJobSet{
			"build":        "build/canceled",
			"manual-first": "build/canceled",
			"test":         "test/canceled",
			"manual-dag":   "deploy/canceled",
		})
	})

	t.Run("retry", func(t *testing.T) {
		old := js["build"][0].id
		n := s.Expect(t, "POST", base+"/jobs/"+testserver.Itoa(old)+"/retry", dev.Token, nil, http.StatusCreated).Object(t)
		newID := testserver.Num(t, n, "id")
		if newID == old || n["name"] != "build" {
			t.Errorf("retry: answered job %d %v, want a new build job (old %d)", newID, n["name"], old)
		}
		// The answer is the job as it is: a first-stage job is queued at
		// once, and a GET right after the answer says so.
		cur := s.Expect(t, "GET", base+"/jobs/"+testserver.Itoa(newID), dev.Token, nil, http.StatusOK).Object(t)
		if cur["status"] != "pending" {
			t.Errorf("the new build job: status %v, want pending", cur["status"])
		}
		if n["status"] != cur["status"] {
			t.Errorf("retry answered the new job with status %v, but it is %v", n["status"], cur["status"])
		}
		o := s.Expect(t, "GET", base+"/jobs/"+testserver.Itoa(old), dev.Token, nil, http.StatusOK).Object(t)
		if testserver.Num(t, o, "id") != old || o["status"] != "canceled" || o["retried"] != true {
			t.Errorf("the retried job: id %v, status %v, retried %v; want %d, canceled, true", o["id"], o["status"], o["retried"], old)
		}
		latest := jobs(t, pid, pl, dev.Token, "")
		if got := latest["build"]; len(got) != 1 || got[0].id != newID {
			t.Errorf("jobs without include_retried: build %v, want only %d", got, newID)
		}
		all := jobs(t, pid, pl, dev.Token, "&include_retried=true")
		ids := map[int64]string{}
		for _, j := range all["build"] {
			ids[j.id] = j.status
		}
		if len(all["build"]) != 2 || ids[old] != "canceled" || ids[newID] != "pending" {
			t.Errorf("jobs with include_retried=true: build %v, want %d canceled and %d pending", all["build"], old, newID)
		}
		// The retried one cannot be retried again.
		s.Expect(t, "POST", base+"/jobs/"+testserver.Itoa(old)+"/retry", dev.Token, nil, http.StatusForbidden)
		// The pipeline runs again.
		p := s.Expect(t, "GET", base+"/pipelines/"+testserver.Itoa(pl), dev.Token, nil, http.StatusOK).Object(t)
		if p["status"] == "canceled" {
			t.Errorf("after a retry the pipeline is still canceled")
		}
		// A pending job is not erasable either.
		r := s.Expect(t, "POST", base+"/jobs/"+testserver.Itoa(newID)+"/erase", maint.Token, nil, http.StatusForbidden)
		checkJSON(t, r, `{"message":"403 Forbidden - Job is not erasable!"}`)
	})

	t.Run("erase", func(t *testing.T) {
		// Another developer may not erase dev's job; a maintainer may.
		checkStatus(t, s.Do(t, "POST", base+"/jobs/"+id("test")+"/erase", dev2.Token, nil), http.StatusForbidden, "")
		j := s.Expect(t, "POST", base+"/jobs/"+id("test")+"/erase", maint.Token, nil, http.StatusCreated).Object(t)
		if testserver.Num(t, j, "id") != js["test"][0].id || j["erased_at"] == nil || j["status"] != "canceled" {
			t.Errorf("erase: id %v, erased_at %v, status %v", j["id"], j["erased_at"], j["status"])
		}
		j = s.Expect(t, "GET", base+"/jobs/"+id("test"), dev.Token, nil, http.StatusOK).Object(t)
		if j["erased_at"] == nil {
			t.Errorf("GET of the erased job: erased_at is null")
		}
		r := s.Expect(t, "POST", base+"/jobs/"+id("test")+"/erase", maint.Token, nil, http.StatusForbidden)
		checkJSON(t, r, `{"message":"403 Forbidden - Job is not erasable!"}`)
		// The developer who ran a job may erase it.
		s.Expect(t, "POST", base+"/jobs/"+id("manual-dag")+"/erase", dev.Token, nil, http.StatusCreated)
	})

	t.Run("other project", func(t *testing.T) {
		op := s.Expect(t, "POST", api+"/projects/"+testserver.Itoa(otherID)+"/pipeline", owner.Token, map[string]any{"ref": "main"}, http.StatusCreated).Object(t)
		opID := testserver.Num(t, op, "id")
		ojs := jobs(t, otherID, opID, owner.Token, "")
		oj := testserver.Itoa(ojs["build"][0].id)
		for _, ep := range []string{"/jobs/" + oj, "/pipelines/" + testserver.Itoa(opID), "/pipelines/" + testserver.Itoa(opID) + "/jobs"} {
			checkStatus(t, s.Do(t, "GET", base+ep, owner.Token, nil), http.StatusNotFound, "")
		}
		for _, ep := range []string{"/jobs/" + oj + "/cancel", "/jobs/" + oj + "/retry", "/jobs/" + oj + "/play", "/jobs/" + oj + "/erase", "/pipelines/" + testserver.Itoa(opID) + "/cancel"} {
			checkStatus(t, s.Do(t, "POST", base+ep, owner.Token, nil), http.StatusNotFound, "")
		}
		checkStatus(t, s.Do(t, "DELETE", base+"/pipelines/"+testserver.Itoa(opID), owner.Token, nil), http.StatusNotFound, "")
		// Untouched.
		checkCIJobSet(t, "the other project's pipeline", pipelineCIJobSet(t, s, otherID, opID, owner.Token), ciJobSet{
			"build":        "build/pending",
			"manual-first": "build/manual",
			"test":         "test/created",
			"manual-dag":   "deploy/manual",
		})
	})

	t.Run("delete", func(t *testing.T) {
		checkStatus(t, s.Do(t, "DELETE", base+"/pipelines/"+testserver.Itoa(pl), maint.Token, nil), http.StatusForbidden, "")
		s.Expect(t, "GET", base+"/pipelines/"+testserver.Itoa(pl), maint.Token, nil, http.StatusOK)
		r := s.Expect(t, "DELETE", base+"/pipelines/"+testserver.Itoa(pl), owner.Token, nil, http.StatusNoContent)
		if len(r.Body) != 0 {
			t.Errorf("DELETE pipeline: 204 with a body %q", r.Body)
		}
		checkStatus(t, s.Do(t, "GET", base+"/pipelines/"+testserver.Itoa(pl), owner.Token, nil), http.StatusNotFound, "")
		checkStatus(t, s.Do(t, "GET", base+"/pipelines/"+testserver.Itoa(pl)+"/jobs", owner.Token, nil), http.StatusNotFound, "")
		checkStatus(t, s.Do(t, "GET", base+"/jobs/"+id("build"), owner.Token, nil), http.StatusNotFound, "")
		checkStatus(t, s.Do(t, "DELETE", base+"/pipelines/"+testserver.Itoa(pl), owner.Token, nil), http.StatusNotFound, "")
		if l := listProjectPipelines(t, s, pid, owner.Token); len(l) != 0 {
			t.Errorf("pipelines after the delete: %v", l)
		}
		if l := s.Expect(t, "GET", base+"/jobs", owner.Token, nil, http.StatusOK).List(t); len(l) != 0 {
			t.Errorf("jobs of the project after the delete: %d", len(l))
		}
	})

	t.Run("delayed", func(t *testing.T) {
		begin := time.Now()
		dp := create(t, map[string]any{"ref": "main", "variables": []map[string]string{{"key": "DELAYED", "value": "yes"}}})
		got := pipelineCIJobSet(t, s, pid, dp, dev.Token)
		elapsed := time.Since(begin)
		want := ciJobSet{
			"build":        "build/pending",
			"manual-first": "build/manual",
			"delayed":      "build/scheduled",
			"test":         "test/created",
			"manual-dag":   "deploy/manual",
		}
		if got["delayed"] == "build/pending" && elapsed >= time.Second {
			// The machine was slow enough for start_in to pass.
			t.Logf("creating and listing took %v: the delayed job had already started", elapsed)
			want["delayed"] = "build/pending"
		}
		checkCIJobSet(t, "pipeline with a delayed job", got, want)
		j := jobs(t, pid, dp, dev.Token, "")["delayed"]
		d := s.Expect(t, "GET", base+"/jobs/"+testserver.Itoa(j[0].id), dev.Token, nil, http.StatusOK).Object(t)
		if d["when"] != "delayed" {
			t.Errorf("delayed job: when %v", d["when"])
		}
		// Once start_in has passed, the scheduler queues it.
		deadline := time.Now().Add(15 * time.Second)
		for {
			d = s.Expect(t, "GET", base+"/jobs/"+testserver.Itoa(j[0].id), dev.Token, nil, http.StatusOK).Object(t)
			if d["status"] == "pending" {
				break
			}
			if d["status"] != "scheduled" || time.Now().After(deadline) {
				t.Fatalf("delayed job: status %v, want pending within 15s of start_in", d["status"])
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}
