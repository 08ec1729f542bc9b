package runnerapi_test

// Runner protocol conformance, written from runner-protocol.md (§2, §3, §5
// to §9, §16) and not from ciwarden's own runner: the test plays
// gitlab-runner with raw HTTP and decodes every reply into Go types that
// mirror gitlab-runner's (common/network.go, common/spec/spec.go).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// ---- gitlab-runner's types (the job payload's are testserver's) ----

// registerResponse mirrors common.RegisterRunnerResponse and
// common.VerifyRunnerResponse: token_expires_at is a time.Time, so it
// must be null or RFC 3339.
type registerResponse struct {
	ID             int64     `json:"id"`
	Token          string    `json:"token"`
	TokenExpiresAt time.Time `json:"token_expires_at"`
}

// hostOf is host:port of a URL.
func hostOf(t testing.TB, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := net.SplitHostPort(u.Host); err != nil {
		t.Fatalf("%s has no port", raw)
	}
	return u.Host
}

// ---- checks on raw JSON ----

// isJSON is how the runner recognises a JSON reply.
func isJSON(h http.Header) bool {
	mt, _, err := mime.ParseMediaType(h.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

// lastVars indexes variables by key; the last duplicate wins (§6.1).
func lastVars(vs []testserver.JobVariable) map[string]testserver.JobVariable {
	m := map[string]testserver.JobVariable{}
	for _, v := range vs {
		m[v.Key] = v
	}
	return m
}

// TestRunMirror proves the run-field mirror rejects what gitlab-runner
// rejects, so that the payload checks mean something.
func TestRunMirror(t *testing.T) {
	for body, ok := range map[string]bool{
		`{"id":1,"token":"x","run":null}`:                  false,
		`{"id":1,"token":"x","run":""}`:                    false,
		`{"id":1,"token":"x","run":[]}`:                    false,
		`{"id":1,"token":"x","run":"[]"}`:                  true,
		`{"id":1,"token":"x"}`:                             true,
		`{"id":1,"image":{"executor_opts":{"docker":{}}}}`: true,
		`{"id":1,"image":{"executor_opts":{"nope":{}}}}`:   false,
	} {
		var j testserver.JobResponse
		if err := json.Unmarshal([]byte(body), &j); (err == nil) != ok {
			t.Errorf("decode %s: err %v, want ok=%v", body, err, ok)
		}
	}
	var r registerResponse
	if err := json.Unmarshal([]byte(`{"id":1,"token":"glrt-x","token_expires_at":""}`), &r); err == nil {
		t.Errorf(`token_expires_at "" decoded; the mirror must refuse it as the runner does`)
	}
}

// conformanceCI: two jobs in build (one with before/after_script), one in
// test.
const conformanceCI = `stages: [build, test]
variables:
  GLOBAL_VAR: global-value
build:
  stage: build
  before_script:
    - echo before
  script:
    - echo build
    - echo second line
  after_script:
    - echo after
other:
  stage: build
  script: echo other
test:
  stage: test
  script:
    - echo test
  after_script:
    - echo cleanup
`

// TestRunnerConformance walks gitlab-runner's conversation (§2) against a
// real server: verify, idle polls and long polling, the job payload, the
// trace and the final update, cancellation, and registration.
func TestRunnerConformance(t *testing.T) { testserver.ForEachDialect(t, testRunnerConformance) }

func testRunnerConformance(t *testing.T, dialect string) {
	// Long enough that a push on a loaded 2-core machine (CI runs every
	// package at once) still lands inside the hold.
	const longPoll = 12 * time.Second
	s := testserver.New(t, testserver.Options{Dialect: dialect, LongPoll: longPoll})
	group := s.CreateGroup(t, "proto", 0, "private")
	p := s.CreateProject(t, group, "app", "private")
	dev := s.CreateUser(t, "dev")
	s.AddMember(t, "projects", p.ID, dev.ID, 40)
	runnerID, runnerToken := s.CreateRunner(t, map[string]any{"description": "conformance"})
	rc := s.NewRunnerClient(runnerToken)

	t.Run("verify", func(t *testing.T) {
		req := s.RunnerCall(t, "POST", "/runners/verify", map[string]any{"token": runnerToken, "system_id": rc.SystemID, "info": testserver.RunnerInfoBody()}, true)
		req.Header.Set("RUNNER-TOKEN", runnerToken)
		r := s.Send(t, req)
		if r.Status != http.StatusOK || !isJSON(r.Header) {
			t.Fatalf("verify: %s, Content-Type %q; want 200 application/json", r, r.Header.Get("Content-Type"))
		}
		var v registerResponse
		r.JSON(t, &v)
		if v.ID == 0 || v.ID != runnerID {
			t.Errorf("verify: id %d, want the runner's id %d (non-zero)", v.ID, runnerID)
		}
		for _, tok := range []string{"glrt-unknown-token", ""} {
			req := s.RunnerCall(t, "POST", "/runners/verify", map[string]any{"token": tok, "system_id": rc.SystemID}, true)
			if tok != "" {
				req.Header.Set("RUNNER-TOKEN", tok)
			}
			if r := s.Send(t, req); r.Status != http.StatusForbidden {
				t.Errorf("verify with token %q: %s, want 403", tok, r)
			}
		}
	})

	t.Run("idle request", func(t *testing.T) {
		r := rc.Request(t)
		if r.Status != http.StatusNoContent || r.Header.Get("X-GitLab-Last-Update") == "" || len(r.Body) != 0 {
			t.Fatalf("idle POST /jobs/request: %s, X-GitLab-Last-Update %q; want 204, the header, no body", r, r.Header.Get("X-GitLab-Last-Update"))
		}
		// The token is accepted in the body alone and in RUNNER-TOKEN alone.
		req := s.RunnerCall(t, "POST", "/jobs/request", map[string]any{"token": runnerToken, "info": testserver.RunnerInfoBody()}, true)
		if r := s.Send(t, req); r.Status != http.StatusNoContent {
			t.Errorf("token only in the body: %s, want 204", r)
		}
		req = s.RunnerCall(t, "POST", "/jobs/request", map[string]any{"info": testserver.RunnerInfoBody()}, true)
		req.Header.Set("RUNNER-TOKEN", runnerToken)
		if r := s.Send(t, req); r.Status != http.StatusNoContent {
			t.Errorf("token only in RUNNER-TOKEN: %s, want 204", r)
		}
		bad := s.NewRunnerClient("glrt-not-a-runner-token")
		if r := bad.Request(t); r.Status != http.StatusForbidden {
			t.Errorf("unknown runner token: %s, want 403", r)
		}
		req = s.RunnerCall(t, "POST", "/jobs/request", map[string]any{"info": testserver.RunnerInfoBody()}, true)
		if r := s.Send(t, req); r.Status != http.StatusForbidden {
			t.Errorf("no runner token: %s, want 403", r)
		}
	})

	t.Run("long poll holds", func(t *testing.T) {
		last := rc.LastUpdate
		r := rc.RequestWith(t, last)
		if r.Status != http.StatusNoContent {
			t.Fatalf("long poll with nothing queued: %s, want 204", r)
		}
		if r.Elapsed < longPoll*8/10 || r.Elapsed > longPoll+3*time.Second {
			t.Errorf("long poll with last_update = the current version answered after %v; want it held about %v", r.Elapsed, longPoll)
		}
		if r.Header.Get("X-GitLab-Last-Update") == "" {
			t.Errorf("held request answered 204 without X-GitLab-Last-Update")
		}
		for _, stale := range []string{"", "stale-value", last + "x"} {
			r := rc.RequestWith(t, stale)
			if r.Status != http.StatusNoContent || r.Elapsed > longPoll/2 {
				t.Errorf("last_update %q: %s after %v; want 204 at once", stale, r, r.Elapsed)
			}
		}
	})

	// The held request is answered by the push that queues a job.
	var build *testserver.RunningJob
	var sha string
	var pipelineID int64
	t.Run("long poll wakes on a new pipeline", func(t *testing.T) {
		rc.Request(t) // make rc.LastUpdate current
		req := rc.BuildRequest(t, rc.LastUpdate)
		type result struct {
			r   *testserver.Resp
			err error
			at  time.Time
		}
		ch := make(chan result, 1)
		sent := time.Now()
		go func() {
			r, err := s.Try(req)
			ch <- result{r, err, time.Now()}
		}()
		time.Sleep(300 * time.Millisecond)
		_, sha = s.PushCI(t, p.Path, dev, map[string]string{".gitlab-ci.yml": conformanceCI})
		pushed := time.Now()
		var res result
		select {
		case res = <-ch:
		case <-time.After(longPoll + 30*time.Second):
			t.Fatalf("the held job request never returned")
		}
		if res.err != nil {
			t.Fatalf("held job request: %v", res.err)
		}
		if res.r.Status != http.StatusCreated {
			t.Fatalf("held job request after a push: %s, want 201", res.r)
		}
		if held := res.at.Sub(sent); held >= longPoll*8/10 {
			t.Errorf("the held request answered %v after it was sent (the push finished after %v): it was not woken by the new job, it timed out (long poll %v)",
				held, pushed.Sub(sent), longPoll)
		}
		if !isJSON(res.r.Header) {
			t.Errorf("job payload Content-Type %q, want application/json", res.r.Header.Get("Content-Type"))
		}
		build = rc.DecodeJob(t, res.r)
		pipelines := s.Expect(t, "GET", testserver.API+"/projects/"+testserver.Itoa(p.ID)+"/pipelines", s.RootToken, nil, http.StatusOK)
		var list []map[string]any
		pipelines.JSON(t, &list)
		if len(list) != 1 {
			t.Fatalf("%d pipelines after one push, want 1", len(list))
		}
		pipelineID = testserver.Num(t, list[0], "id")
	})
	if build == nil {
		t.Fatal("no job to continue with")
	}

	t.Run("payload", func(t *testing.T) {
		testserver.CheckRawPayload(t, build.Raw)
		j := build.Payload
		if j.Run.Set {
			t.Errorf("payload sets run: %v", j.Run.Steps)
		}
		if !strings.HasPrefix(j.Token, "cwjob-") {
			t.Errorf("job token %q…: want the cwjob- prefix", j.Token[:min(10, len(j.Token))])
		}
		if ji := j.JobInfo; ji.Name != "build" || ji.Stage != "build" || ji.ProjectID != p.ID || ji.ProjectName != "app" ||
			ji.PipelineID != pipelineID || ji.ProjectFullPath != p.Path {
			t.Errorf("job_info %+v; want build/build, project %d app %s, pipeline %d", ji, p.ID, p.Path, pipelineID)
		}
		g := j.GitInfo
		u, err := url.Parse(g.RepoURL)
		if err != nil || !u.IsAbs() || u.Host != hostOf(t, s.URL) || u.Scheme != "http" {
			t.Errorf("repo_url %q: want an absolute URL on %s", testserver.RedactArgs([]string{g.RepoURL}), s.URL)
		} else {
			pw, _ := u.User.Password()
			if u.User.Username() != "gitlab-ci-token" || pw != j.Token {
				t.Errorf("repo_url %s: want gitlab-ci-token:<job token>@", testserver.RedactArgs([]string{g.RepoURL}))
			}
			if u.Path != "/"+p.Path+".git" {
				t.Errorf("repo_url path %q, want /%s.git", u.Path, p.Path)
			}
		}
		wantRefspec := fmt.Sprintf("+refs/pipelines/%d:refs/pipelines/%d", pipelineID, pipelineID)
		if !slices.Contains(g.Refspecs, wantRefspec) {
			t.Errorf("refspecs %q lack %q", g.Refspecs, wantRefspec)
		} else if g.Refspecs[0] != wantRefspec {
			t.Errorf("refspecs %q: GitLab sends the pipeline ref first", g.Refspecs)
		}
		if g.Ref != "main" || g.Sha != sha || g.RefType != "branch" || len(g.BeforeSha) != 40 {
			t.Errorf("git_info ref %q sha %q ref_type %q before_sha %q; want main, %s, branch, 40 hex", g.Ref, g.Sha, g.RefType, g.BeforeSha, sha)
		}
		if j.RunnerInfo.Timeout <= 0 {
			t.Errorf("runner_info.timeout %d, want the job timeout", j.RunnerInfo.Timeout)
		}
		// Steps: script = before_script + script, then after_script.
		if len(j.Steps) != 2 {
			t.Fatalf("steps %+v, want script and after_script", j.Steps)
		}
		s0, s1 := j.Steps[0], j.Steps[1]
		if s0.Name != "script" || !slices.Equal(s0.Script, []string{"echo before", "echo build", "echo second line"}) ||
			s0.When != "on_success" || s0.AllowFailure || s0.Timeout <= 0 {
			t.Errorf("first step %+v; want script [echo before, echo build, echo second line], on_success", s0)
		}
		if s1.Name != "after_script" || !slices.Equal(s1.Script, []string{"echo after"}) || s1.When != "always" || !s1.AllowFailure {
			t.Errorf("second step %+v; want after_script [echo after], always, allow_failure", s1)
		}
		vars := lastVars(j.Variables)
		for _, k := range []string{"CI_JOB_TOKEN", "CI_REGISTRY_PASSWORD", "CI_DEPENDENCY_PROXY_PASSWORD"} {
			v, ok := vars[k]
			if !ok || v.Value != j.Token || !v.Masked || v.Public {
				t.Errorf("%s: present %v, value is the token %v, masked %v, public %v; want the token, masked, not public", k, ok, v.Value == j.Token, v.Masked, v.Public)
			}
		}
		if v := vars["CI_REPOSITORY_URL"]; v.Value != g.RepoURL || v.Public {
			t.Errorf("CI_REPOSITORY_URL: equals repo_url %v, public %v; want repo_url, not public", v.Value == g.RepoURL, v.Public)
		}
		for _, v := range j.Variables {
			if v.Masked && len(v.Value) < 8 {
				t.Errorf("masked variable %s is shorter than 8 characters", v.Key)
			}
			if strings.Contains(v.Value, j.Token) && v.Public {
				t.Errorf("variable %s carries the job token but is public", v.Key)
			}
		}
		want := map[string]string{
			"CI_REGISTRY_USER":   "gitlab-ci-token",
			"CI_SERVER_URL":      s.URL,
			"CI_API_V4_URL":      s.URL + "/api/v4",
			"CI_PROJECT_ID":      testserver.Itoa(p.ID),
			"CI_PROJECT_PATH":    p.Path,
			"CI_PIPELINE_ID":     testserver.Itoa(pipelineID),
			"CI_PIPELINE_SOURCE": "push",
			"CI_COMMIT_SHA":      sha,
			"CI_COMMIT_REF_NAME": "main",
			"CI_COMMIT_BRANCH":   "main",
			"CI_JOB_ID":          testserver.Itoa(j.ID),
			"CI_JOB_NAME":        "build",
			"CI_JOB_STAGE":       "build",
			"GITLAB_USER_LOGIN":  dev.Username,
			"GLOBAL_VAR":         "global-value",
			"CI":                 "true",
			"GITLAB_CI":          "true",
		}
		for k, w := range want {
			if v, ok := vars[k]; !ok || v.Value != w {
				t.Errorf("variable %s = %q (present %v), want %q", k, v.Value, ok, w)
			}
		}
		f := j.Features
		if !slices.Contains(f.TokenMaskPrefixes, "cwjob-") || !f.TraceSections || !slices.Contains(f.FailureReasons, "script_failure") {
			t.Errorf("features %+v; want token_mask_prefixes with cwjob-, trace_sections, failure_reasons", f)
		}
		if len(f.TokenMaskPrefixes) > 15 {
			t.Errorf("%d token_mask_prefixes; the runner takes at most 15 in total", len(f.TokenMaskPrefixes))
		}
		// The refspecs reach sha: fetch as the runner does, then check out.
		g2 := testserver.NewGit(t)
		dir := filepath.Join(t.TempDir(), "build")
		g2.Run(t, "", "init", "--quiet", dir)
		g2.Run(t, dir, "remote", "add", "origin", g.RepoURL)
		args := append([]string{"fetch", "--quiet", "origin", "--no-recurse-submodules"}, g.Refspecs...)
		if g.Depth > 0 {
			args = append(args, "--depth", strconv.Itoa(g.Depth))
		}
		g2.Run(t, dir, args...)
		g2.Run(t, dir, "checkout", "-f", "-q", g.Sha)
		if head := g2.Run(t, dir, "rev-parse", "HEAD"); head != sha {
			t.Errorf("checked out %s, want %s", head, sha)
		}
	})

	// other: the second job of the build stage, taken by the same runner.
	other := rc.TakeJob(t)
	if other.Payload.JobInfo.Name != "other" {
		t.Fatalf("second job %q, want other", other.Payload.JobInfo.Name)
	}

	t.Run("job updates and trace", func(t *testing.T) {
		r := build.Update(t, map[string]any{"state": "running"})
		if r.Status != http.StatusOK || r.Header.Get("Job-Status") != "running" {
			t.Fatalf("first PUT state=running: %s, Job-Status %q; want 200 running", r, r.Header.Get("Job-Status"))
		}
		other.Start(t)
		// A job token authenticates its own job only.
		if r := s.UpdateJob(t, other.ID, build.Token, map[string]any{"state": "running"}); r.Status != http.StatusForbidden {
			t.Errorf("PUT /jobs/<other> with build's token: %s, want 403", r)
		}
		if r := s.UpdateJob(t, other.ID, build.Token, map[string]any{"state": "success"}); r.Status != http.StatusForbidden {
			t.Errorf("final PUT /jobs/<other> with build's token: %s, want 403", r)
		}
		if r := s.PatchTrace(t, other.ID, build.Token, 0, []byte("intruder\n")); r.Status != http.StatusForbidden {
			t.Errorf("PATCH /jobs/<other>/trace with build's token: %s, want 403", r)
		}
		if st := s.Job(t, p.ID, other.ID); st["status"] != "running" {
			t.Errorf("other after foreign calls: status %v, want running", st["status"])
		}

		chunk1 := "\x1b[0KRunning with gitlab-runner 19.4.0\nsection_start:1700000000:step_script\r\x1b[0Kline one\n"
		r = build.AppendTrace(t, chunk1)
		if got, want := r.Header.Get("Range"), fmt.Sprintf("0-%d", len(chunk1)); got != want {
			t.Errorf("PATCH 202: Range %q, want %q", got, want)
		}
		if r.Header.Get("Job-Status") != "running" {
			t.Errorf("PATCH 202: Job-Status %q, want running", r.Header.Get("Job-Status"))
		}
		if n, err := strconv.Atoi(r.Header.Get("X-GitLab-Trace-Update-Interval")); err != nil || n <= 0 {
			t.Errorf("PATCH 202: X-GitLab-Trace-Update-Interval %q, want seconds", r.Header.Get("X-GitLab-Trace-Update-Interval"))
		}
		// Wrong offsets: 416 with the stored size, then resume from there.
		for _, off := range []int{3, len(chunk1) + 10, 0} {
			r := s.PatchTrace(t, build.ID, build.Token, off, []byte("bogus"))
			if r.Status != http.StatusRequestedRangeNotSatisfiable || r.Header.Get("Range") != fmt.Sprintf("0-%d", len(chunk1)) {
				t.Errorf("PATCH at offset %d (stored %d): %s, Range %q; want 416 with Range 0-%d", off, len(chunk1), r, r.Header.Get("Range"), len(chunk1))
			}
		}
		chunk2 := "line two\nsection_end:1700000001:step_script\r\x1b[0K"
		r = build.AppendTrace(t, chunk2)
		if got, want := r.Header.Get("Range"), fmt.Sprintf("0-%d", len(chunk1)+len(chunk2)); got != want {
			t.Errorf("PATCH after resuming: Range %q, want %q", got, want)
		}
		// Content-Range is required.
		req := s.RunnerCall(t, "PATCH", "/jobs/"+testserver.Itoa(build.ID)+"/trace", []byte("x"), false)
		req.Header.Set("JOB-TOKEN", build.Token)
		req.Header.Set("Content-Type", "text/plain")
		if r := s.Send(t, req); r.Status != http.StatusBadRequest {
			t.Errorf("PATCH without Content-Range: %s, want 400", r)
		}
		// A keep-alive PUT while running.
		if r := build.Update(t, map[string]any{"state": "running"}); r.Status != http.StatusOK || r.Header.Get("Job-Status") != "running" {
			t.Errorf("keep-alive PUT: %s, Job-Status %q; want 200 running", r, r.Header.Get("Job-Status"))
		}
		chunk3 := "Job succeeded\n"
		build.AppendTrace(t, chunk3)

		r = build.Finish(t, "success")
		if r.Status != http.StatusOK {
			t.Fatalf("final PUT state=success: %s, want 200", r)
		}
		if r.Header.Get("Job-Status") != "success" {
			t.Errorf("final PUT: Job-Status %q, want success", r.Header.Get("Job-Status"))
		}
		if st := s.Job(t, p.ID, build.ID); st["status"] != "success" {
			t.Errorf("after the final PUT: status %v, want success", st["status"])
		}
		tr := s.Expect(t, "GET", testserver.API+"/projects/"+testserver.Itoa(p.ID)+"/jobs/"+testserver.Itoa(build.ID)+"/trace", s.RootToken, nil, http.StatusOK)
		if string(tr.Body) != string(build.Sent) {
			t.Errorf("stored trace %q, want what the runner sent %q", tr.Body, build.Sent)
		}
		// The runner repeats its final update until it sees 200.
		if r := build.Finish(t, "success"); r.Status != http.StatusOK {
			t.Errorf("repeated final PUT: %s, want 200", r)
		}
		// After the final update the token is refused.
		r = s.PatchTrace(t, build.ID, build.Token, len(build.Sent), []byte("late\n"))
		if r.Status != http.StatusForbidden {
			t.Errorf("PATCH after the final update: %s, want 403", r)
		} else if r.Header.Get("Job-Status") != "success" {
			t.Errorf("PATCH 403 after the end: Job-Status %q, want success", r.Header.Get("Job-Status"))
		}
		if r := build.Update(t, map[string]any{"state": "running"}); r.Status != http.StatusForbidden {
			t.Errorf("PUT state=running after the final update: %s, want 403", r)
		}
		if r := s.GetJob(t, build.Token); r.Status != http.StatusUnauthorized {
			t.Errorf("GET /job after the final update: %s, want 401", r)
		}
		other.AppendTrace(t, "other\n")
		other.FinishOK(t, "success")
	})

	t.Run("cancel", func(t *testing.T) {
		tj := rc.TakeJob(t) // test stage, queued once build and other succeeded
		if tj.Payload.JobInfo.Name != "test" {
			t.Fatalf("third job %q, want test", tj.Payload.JobInfo.Name)
		}
		tj.Start(t)
		tj.AppendTrace(t, "running tests\n")
		s.Expect(t, "POST", testserver.API+"/projects/"+testserver.Itoa(p.ID)+"/pipelines/"+testserver.Itoa(pipelineID)+"/cancel", dev.Token, nil, http.StatusCreated)
		r := tj.AppendTrace(t, "still running\n")
		if r.Header.Get("Job-Status") != "canceling" {
			t.Errorf("PATCH after cancel: Job-Status %q, want canceling", r.Header.Get("Job-Status"))
		}
		r = tj.Update(t, map[string]any{"state": "running"})
		if r.Status != http.StatusOK || r.Header.Get("Job-Status") != "canceling" {
			t.Errorf("PUT state=running after cancel: %s, Job-Status %q; want 200 canceling", r, r.Header.Get("Job-Status"))
		}
		// after_script may still use the token while canceling.
		s.WantLive(t, tj.Token, tj.ID, p.Path)
		// The after_script prints the token, split over two PATCHes; the
		// server masks it on ingest.
		half := len(tj.Token) / 2
		tj.AppendTrace(t, "after_script: "+tj.Token[:half])
		tj.AppendTrace(t, tj.Token[half:]+" done\n")
		tj.FinishOK(t, "failed")
		if st := s.Job(t, p.ID, tj.ID); st["status"] != "canceled" {
			t.Errorf("job finished as failed while canceling: status %v, want canceled", st["status"])
		}
		if pl := s.Expect(t, "GET", testserver.API+"/projects/"+testserver.Itoa(p.ID)+"/pipelines/"+testserver.Itoa(pipelineID), s.RootToken, nil, http.StatusOK).Object(t); pl["status"] != "canceled" {
			t.Errorf("pipeline after cancel: status %v, want canceled", pl["status"])
		}
		s.WantDead(t, tj.Token, p.Path)
		if r := tj.Finish(t, "failed"); r.Status != http.StatusOK {
			t.Errorf("repeated final PUT after cancel: %s, want 200", r)
		}
		if r := s.PatchTrace(t, tj.ID, tj.Token, len(tj.Sent), []byte("late\n")); r.Status != http.StatusForbidden {
			t.Errorf("PATCH after the final update of a canceled job: %s, want 403", r)
		}
		tr := s.Expect(t, "GET", testserver.API+"/projects/"+testserver.Itoa(p.ID)+"/jobs/"+testserver.Itoa(tj.ID)+"/trace", s.RootToken, nil, http.StatusOK)
		if bytes.Contains(tr.Body, []byte(tj.Token)) || bytes.Contains(tr.Body, []byte(tj.Token[6:])) {
			t.Errorf("the stored trace contains the job token: %q", tr.Body)
		}
		if !bytes.Contains(tr.Body, []byte("running tests\n")) || !bytes.Contains(tr.Body, []byte(" done\n")) {
			t.Errorf("stored trace %q lost the runner's text", tr.Body)
		}
	})

	t.Run("legacy registration disabled", func(t *testing.T) {
		for _, tok := range []string{"", "wrong-registration-token", runnerToken} {
			body := map[string]any{"description": "legacy", "info": testserver.RunnerInfoBody()}
			if tok != "" {
				body["token"] = tok
			}
			req := s.RunnerCall(t, "POST", "/runners", body, true)
			if tok != "" {
				req.Header.Set("RUNNER-TOKEN", tok)
			}
			if r := s.Send(t, req); r.Status != http.StatusForbidden {
				t.Errorf("POST /runners with token %q on a server without a registration token: %s, want 403", tok, r)
			}
		}
	})

	t.Run("registration and unregistration", func(t *testing.T) {
		regToken := "reg-" + testserver.RandHex(12)
		s2 := testserver.New(t, testserver.Options{Dialect: dialect, RegistrationToken: regToken})
		// gitlab-runner register sends JSON with tag_list as a
		// comma-separated string (§4.1).
		register := func(tok string, tags bool) *testserver.Resp {
			body := map[string]any{"token": tok, "description": "legacy runner", "run_untagged": false, "locked": true,
				"access_level": "not_protected", "maximum_timeout": 3600, "paused": false, "info": testserver.RunnerInfoBody()}
			if tags {
				body["tag_list"] = "docker,linux"
			}
			req := s2.RunnerCall(t, "POST", "/runners", body, true)
			req.Header.Set("RUNNER-TOKEN", tok)
			return s2.Send(t, req)
		}
		if r := register("wrong", true); r.Status != http.StatusForbidden {
			t.Errorf("POST /runners with a wrong registration token: %s, want 403", r)
		}
		r := register(regToken, true)
		tagged := r.Status == http.StatusCreated
		if !tagged {
			t.Errorf("POST /runners with tag_list \"docker,linux\" (a comma-separated string, as gitlab-runner sends it): %s, want 201", r)
			r = register(regToken, false) // go on without tags
		}
		if r.Status != http.StatusCreated || !isJSON(r.Header) {
			t.Fatalf("POST /runners: %s, Content-Type %q; want 201 application/json", r, r.Header.Get("Content-Type"))
		}
		var reg registerResponse
		r.JSON(t, &reg)
		s2.Remember(reg.Token)
		raw := r.Object(t)
		if v, ok := raw["token_expires_at"]; !ok || v != nil {
			t.Errorf("POST /runners: token_expires_at %v (present %v), want null", v, ok)
		}
		if reg.ID == 0 || !strings.HasPrefix(reg.Token, "glrt-") {
			t.Fatalf("POST /runners: %s; want a non-zero id and a glrt- token", r.Body)
		}
		if tagged {
			// The tags were split and kept.
			var list []map[string]any
			s2.Expect(t, "GET", testserver.API+"/runners/all?tag_list=docker,linux", s2.RootToken, nil, http.StatusOK).JSON(t, &list)
			if len(list) != 1 || testserver.Num(t, list[0], "id") != reg.ID {
				t.Errorf("runners tagged docker and linux: %v, want the registered one", list)
			}
		}

		rc2 := s2.NewRunnerClient(reg.Token)
		req := s2.RunnerCall(t, "POST", "/runners/verify", map[string]any{"token": reg.Token, "system_id": rc2.SystemID, "info": testserver.RunnerInfoBody()}, true)
		req.Header.Set("RUNNER-TOKEN", reg.Token)
		var v registerResponse
		if r := s2.Send(t, req); r.Status != http.StatusOK {
			t.Fatalf("verify the registered runner: %s, want 200", r)
		} else if r.JSON(t, &v); v.ID != reg.ID {
			t.Errorf("verify: id %d, want %d", v.ID, reg.ID)
		}
		rc2.ExpectNoJob(t)

		delManager := func() *testserver.Resp {
			req := s2.RunnerCall(t, "DELETE", "/runners/managers", map[string]any{"token": reg.Token, "system_id": rc2.SystemID}, false)
			req.Header.Set("RUNNER-TOKEN", reg.Token)
			return s2.Send(t, req)
		}
		if r := delManager(); r.Status != http.StatusNoContent {
			t.Errorf("DELETE /runners/managers: %s, want 204", r)
		}
		if r := delManager(); r.Status != http.StatusNotFound {
			t.Errorf("DELETE /runners/managers again: %s, want 404", r)
		}
		delRunner := func() *testserver.Resp {
			req := s2.RunnerCall(t, "DELETE", "/runners", map[string]any{"token": reg.Token}, false)
			req.Header.Set("RUNNER-TOKEN", reg.Token)
			return s2.Send(t, req)
		}
		if r := delRunner(); r.Status != http.StatusNoContent {
			t.Fatalf("DELETE /runners: %s, want 204", r)
		}
		if r := rc2.Request(t); r.Status != http.StatusForbidden {
			t.Errorf("job request with a deleted runner's token: %s, want 403", r)
		}
		req = s2.RunnerCall(t, "POST", "/runners/verify", map[string]any{"token": reg.Token, "system_id": rc2.SystemID}, true)
		req.Header.Set("RUNNER-TOKEN", reg.Token)
		if r := s2.Send(t, req); r.Status != http.StatusForbidden {
			t.Errorf("verify a deleted runner: %s, want 403", r)
		}
		if r := delRunner(); r.Status != http.StatusForbidden {
			t.Errorf("DELETE /runners again: %s, want 403", r)
		}
	})
}
