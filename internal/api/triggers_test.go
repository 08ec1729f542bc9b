package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// triggerTargetCI runs only for pipelines nothing pushed, so that pushing
// it queues nothing, and says where each came from.
const triggerTargetCI = `deploy:
  script: [echo deploy]
  rules:
    - if: $CI_PIPELINE_SOURCE != "push"
`

// jobVar is the value of key among a job payload's variables.
func jobVar(j *testserver.RunningJob, key string) (string, bool) {
	for _, v := range j.Payload.Variables {
		if v.Key == key {
			return v.Value, true
		}
	}
	return "", false
}

// downstreamProject is down/svc, private, whose CI is triggerTargetCI,
// where team's dev has role and whose allowlist admits team's project.
func (e *env) downstreamProject(t *testing.T, team *testserver.TeamCI, role int) testserver.Project {
	t.Helper()
	target := e.CreateProject(t, e.CreateGroup(t, "down", 0, "private"), "svc", "private")
	e.AddMember(t, "projects", target.ID, team.Dev.ID, role)
	e.AllowJobTokens(t, target.ID, team.Project.ID)
	e.PushCI(t, target.Path, team.Dev, map[string]string{".gitlab-ci.yml": triggerTargetCI})
	return target
}

// protectMain protects a project's main: only Maintainers push or merge.
func (e *env) protectMain(t *testing.T, projectID int64) {
	t.Helper()
	wantStatus(t, e.Do(t, "POST", testserver.API+"/projects/"+testserver.Itoa(projectID)+"/protected_branches", e.RootToken,
		url.Values{"name": {"main"}, "push_access_level": {"40"}, "merge_access_level": {"40"}}), http.StatusCreated)
}

// newTrigger creates a trigger token of a project, as token's user, and
// returns its secret (which the harness then watches for in logs).
func (e *env) newTrigger(t *testing.T, projectID int64, token string) string {
	t.Helper()
	created := wantStatus(t, e.Do(t, "POST", testserver.API+"/projects/"+testserver.Itoa(projectID)+"/triggers", token,
		url.Values{"description": {"hook"}}), http.StatusCreated).(map[string]any)
	secret, _ := created["token"].(string)
	e.Remember(secret)
	return secret
}

func triggerPath(projectID int64) string {
	return testserver.API + "/projects/" + testserver.Itoa(projectID) + "/trigger/pipeline"
}

// TestTriggerWithJobToken: POST /projects/:id/trigger/pipeline with a job
// token runs the job's full decision, in the order and words of
// gitlab-compat.md §3.5 and §3.1, and makes a pipeline as the job's user,
// source pipeline, downstream of the job.
func TestTriggerWithJobToken(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		team := e.NewTeamCI(t, "build:\n  script: [make]\n")
		owner := e.CreateUser(t, "owner")
		down := e.CreateGroup(t, "down", 0, "private")
		target := e.CreateProject(t, down, "svc", "private")
		e.AddMember(t, "projects", target.ID, owner.ID, 40)
		e.PushCI(t, target.Path, owner, map[string]string{".gitlab-ci.yml": triggerTargetCI})
		job := team.Take(t, "build")
		form := func(token, ref string, extra url.Values) url.Values {
			v := url.Values{"token": {token}, "ref": {ref}}
			for k, vs := range extra {
				v[k] = vs
			}
			return v
		}
		call := func(body url.Values) *testserver.Resp {
			return e.Do(t, "POST", triggerPath(target.ID), "", body)
		}

		// The job's user (dev) cannot see down/svc: the seed's 404.
		wantJSON(t, call(form(job.Token, "main", nil)), http.StatusNotFound, `{"message":"404 Not Found"}`)
		// A project that does not exist answers the same.
		wantJSON(t, e.Do(t, "POST", triggerPath(99999), "", form(job.Token, "main", nil)), http.StatusNotFound, `{"message":"404 Not Found"}`)
		// No token, or a PRIVATE-TOKEN (which the trigger API does not
		// read): unauthenticated.
		wantJSON(t, e.Do(t, "POST", triggerPath(target.ID), owner.Token, url.Values{"ref": {"main"}}), http.StatusUnauthorized, `{"message":"401 Unauthorized"}`)
		// A job token in JOB-TOKEN is not the trigger API's transport.
		wantJSON(t, e.Call(t, "POST", triggerPath(target.ID), testserver.JobToken(job.Token), url.Values{"ref": {"main"}}), http.StatusUnauthorized, `{"message":"401 Unauthorized"}`)

		// A Reporter, but down/svc's allowlist (on by default) does not
		// list grp/app: the scope's 403 comes before the role.
		e.AddMember(t, "projects", target.ID, team.Dev.ID, 20)
		wantJSON(t, call(form(job.Token, "main", nil)), http.StatusForbidden,
			`{"message":"Authentication by CI/CD job token not allowed from grp/app to down/svc."}`)
		e.AllowJobTokens(t, target.ID, team.Project.ID)
		// Allowlisted, a Reporter: GitLab's pipeline creation refuses the role.
		wantJSON(t, call(form(job.Token, "main", nil)), http.StatusBadRequest, `{"message":{"base":["Insufficient permissions to create a new pipeline"]}}`)
		e.Expect(t, "PUT", testserver.API+"/projects/"+testserver.Itoa(target.ID)+"/members/"+testserver.Itoa(team.Dev.ID), e.RootToken,
			url.Values{"access_level": {"30"}}, http.StatusOK)

		// Unknown ref: GitLab's 400, nothing created.
		wantJSON(t, call(form(job.Token, "nope", nil)), http.StatusBadRequest, `{"message":{"base":["Reference not found"]}}`)
		// A bad variable name: 400.
		wantJSON(t, call(form(job.Token, "main", url.Values{"variables[1A]": {"x"}})), http.StatusBadRequest, `{"error":"variables is invalid"}`)
		if n := e.total(t, testserver.API+"/projects/"+testserver.Itoa(target.ID)+"/pipelines?private_token="+owner.Token); n != 0 {
			t.Fatalf("refused triggers left %d pipelines", n)
		}

		// Allowed: the pipeline runs as dev, source pipeline, with the
		// variables given, downstream of the job.
		r := call(form(job.Token, "main", url.Values{"variables[FOO]": {"bar"}, "variables[CI_PIPELINE_SOURCE]": {"spoofed"}}))
		p := wantStatus(t, r, http.StatusCreated).(map[string]any)
		if p["source"] != "pipeline" || p["ref"] != "main" || p["project_id"] != float64(target.ID) {
			t.Errorf("triggered pipeline: %s", r.Body)
		}
		if u, _ := field(p, "user.username"); u != "dev" {
			t.Errorf("triggered pipeline's user %v, want dev", u)
		}
		pid := int64(p["id"].(float64))
		// The upstream link, for whoever may read grp/app's pipelines.
		got := e.Expect(t, "GET", testserver.API+"/projects/"+testserver.Itoa(target.ID)+"/pipelines/"+testserver.Itoa(pid), e.RootToken, nil, http.StatusOK)
		for path, want := range map[string]any{"triggered_by.project_id": float64(team.Project.ID), "triggered_by.source_job.id": float64(job.ID),
			"triggered_by.source_job.name": "build", "triggered_by.id": float64(job.Payload.JobInfo.PipelineID)} {
			if v, _ := field(decode(t, got), path); v != want {
				t.Errorf("%s = %v, want %v; body %s", path, v, want, got.Body)
			}
		}
		// owner cannot see grp/app: no link to it.
		got = e.Expect(t, "GET", testserver.API+"/projects/"+testserver.Itoa(target.ID)+"/pipelines/"+testserver.Itoa(pid), owner.Token, nil, http.StatusOK)
		if strings.Contains(string(got.Body), "triggered_by") {
			t.Errorf("a link to a project the caller cannot see: %s", got.Body)
		}
		// Its job sees where the pipeline came from; the run's variables
		// beat everything, the predefined source too (GitLab's order).
		_, rtok := e.CreateRunner(t, nil)
		dj := e.NewRunnerClient(rtok).TakeJob(t)
		if dj.Payload.JobInfo.Name != "deploy" || dj.Payload.JobInfo.ProjectID != target.ID {
			t.Fatalf("took %s of project %d", dj.Payload.JobInfo.Name, dj.Payload.JobInfo.ProjectID)
		}
		if v, _ := jobVar(dj, "FOO"); v != "bar" {
			t.Errorf("FOO = %q, want bar", v)
		}
		if _, ok := jobVar(dj, "CI_PIPELINE_TRIGGERED"); ok {
			t.Errorf("CI_PIPELINE_TRIGGERED set for a job-token trigger")
		}
		// The downstream job's token is dev's: it reads grp/app (dev is a
		// Developer there, its allowlist admitting down/svc) and not a
		// project only owner belongs to.
		if u, _ := field(decode(t, e.GetJob(t, dj.Token)), "user.username"); u != "dev" {
			t.Errorf("downstream GET /job: user %v, want dev", u)
		}
		ownersOnly := e.CreateProject(t, down, "owners", "private")
		e.AddMember(t, "projects", ownersOnly.ID, owner.ID, 40)
		e.AllowJobTokens(t, ownersOnly.ID, target.ID)
		e.AllowJobTokens(t, team.Project.ID, target.ID)
		wantJSON(t, e.Call(t, "GET", testserver.API+"/projects/"+testserver.Itoa(team.Project.ID)+"/packages", testserver.JobToken(dj.Token), nil),
			http.StatusOK, `[]`)
		wantJSON(t, e.Call(t, "GET", testserver.API+"/projects/"+testserver.Itoa(ownersOnly.ID)+"/packages", testserver.JobToken(dj.Token), nil),
			http.StatusNotFound, `{"message":"404 Project Not Found"}`)

		// JSON, and the webhook form with the token in the query.
		r = e.Do(t, "POST", triggerPath(target.ID), "", map[string]any{"token": job.Token, "ref": "main", "variables": map[string]string{"A": "1"}})
		wantField(t, r, http.StatusCreated, "source", `"pipeline"`)
		r = e.Do(t, "POST", testserver.API+"/projects/"+testserver.Itoa(target.ID)+"/ref/main/trigger/pipeline?token="+url.QueryEscape(job.Token), "", nil)
		wantField(t, r, http.StatusCreated, "source", `"pipeline"`)
		wantJSON(t, e.Do(t, "POST", testserver.API+"/projects/"+testserver.Itoa(target.ID)+"/ref/nope/trigger/pipeline?token="+url.QueryEscape(job.Token), "", nil),
			http.StatusBadRequest, `{"message":{"base":["Reference not found"]}}`)
		// Variables that are not a hash: 400.
		wantJSON(t, e.Do(t, "POST", triggerPath(target.ID), "", map[string]any{"token": job.Token, "ref": "main", "variables": []string{"A"}}),
			http.StatusBadRequest, `{"error":"variables is invalid"}`)

		// The entry narrowed to read_jobs: admin_pipelines is missing.
		e.Expect(t, "PUT", testserver.API+"/projects/"+testserver.Itoa(target.ID)+"/job_token_scope/allowlist/"+testserver.Itoa(team.Project.ID), e.RootToken,
			map[string]any{"default_permissions": false, "job_token_policies": []string{"read_jobs"}}, http.StatusOK)
		wantJSON(t, call(form(job.Token, "main", nil)), http.StatusForbidden,
			`{"message":"Insufficient permissions to access this resource in project down/svc. The following token permission is required: admin_pipelines."}`)
		ex := e.Expect(t, "GET", testserver.API+"/projects/"+testserver.Itoa(target.ID)+"/job_token_scope/explain?job_id="+testserver.Itoa(job.ID)+"&permission=admin_pipelines",
			e.RootToken, nil, http.StatusOK)
		if v, _ := field(decode(t, ex), "failed_check"); v != "entry_policy" {
			t.Errorf("explain: %s", ex.Body)
		}
		e.Expect(t, "PUT", testserver.API+"/projects/"+testserver.Itoa(target.ID)+"/job_token_scope/allowlist/"+testserver.Itoa(team.Project.ID), e.RootToken,
			map[string]any{"default_permissions": false, "job_token_policies": []string{"admin_pipelines"}}, http.StatusOK)
		wantField(t, call(form(job.Token, "main", nil)), http.StatusCreated, "source", `"pipeline"`)

		// The authentication log has every decision on the trigger row
		// (those a handler then refused, for a bad ref or variables,
		// passed the decision), by the trigger's policy.
		var row map[string]any
		for _, r := range e.Expect(t, "GET", testserver.API+"/projects/"+testserver.Itoa(target.ID)+"/job_token_scope/authorizations", e.RootToken, nil, http.StatusOK).List(t) {
			if testserver.Num(t, r, "origin_project_id") == team.Project.ID {
				row = r
			}
		}
		if row == nil || testserver.Num(t, row, "allowed_count") != 8 || testserver.Num(t, row, "denied_count") != 3 || row["last_policy"] != "admin_pipelines" {
			t.Errorf("authentication log row for grp/app: %v", row)
		}

		// The job ends: its token is dead, 401.
		job.FinishOK(t, "success")
		wantJSON(t, call(form(job.Token, "main", nil)), http.StatusUnauthorized, `{"message":"401 Unauthorized"}`)
	})
}

// TestTriggerTokens: the trigger tokens API (Maintainers; the token whole
// only on creation, stored as a digest) and pipelines made with a trigger
// token: as its owner, source trigger, CI_PIPELINE_TRIGGERED; refused
// once the owner may no longer create pipelines there.
func TestTriggerTokens(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		team := e.NewTeamCI(t, triggerTargetCI)
		other := e.CreateProject(t, e.CreateGroup(t, "other", 0, "private"), "x", "private")
		e.AddMember(t, "projects", other.ID, team.Maint.ID, 40)
		base := testserver.API + "/projects/" + testserver.Itoa(team.Project.ID) + "/triggers"

		// Only Maintainers manage triggers; others get GitLab's 403, and
		// those who cannot see the project 404.
		wantJSON(t, e.Do(t, "GET", base, team.Dev.Token, nil), http.StatusForbidden, `{"message":"403 Forbidden"}`)
		wantJSON(t, e.Do(t, "POST", base, team.Dev.Token, url.Values{"description": {"x"}}), http.StatusForbidden, `{"message":"403 Forbidden"}`)
		wantJSON(t, e.Do(t, "GET", base, team.Outsider.Token, nil), http.StatusNotFound, `{"message":"404 Project Not Found"}`)
		wantJSON(t, e.Do(t, "POST", base, team.Maint.Token, url.Values{}), http.StatusBadRequest, `{"error":"description is missing"}`)
		wantJSON(t, e.Do(t, "POST", base, team.Maint.Token, url.Values{"description": {strings.Repeat("d", 256)}}), http.StatusBadRequest,
			`{"message":{"description":["is too long (maximum is 255 characters)"]}}`)

		created := wantStatus(t, e.Do(t, "POST", base, team.Maint.Token, url.Values{"description": {"deploy hook"}}), http.StatusCreated).(map[string]any)
		secret, _ := created["token"].(string)
		e.Remember(secret)
		if !strings.HasPrefix(secret, "glptt-") || len(secret) != len("glptt-")+49 || created["description"] != "deploy hook" ||
			created["last_used"] != nil {
			t.Fatalf("created trigger: %v", created)
		}
		if u, _ := field(created, "owner.username"); u != "maint" {
			t.Errorf("trigger owner %v, want maint", u)
		}
		id := testserver.Itoa(int64(created["id"].(float64)))
		short := secret[len("glptt-") : len("glptt-")+4]
		// Afterwards: four characters, for everyone (the whole token is
		// kept nowhere).
		list := e.Expect(t, "GET", base, team.Maint.Token, nil, http.StatusOK).List(t)
		if len(list) != 1 || list[0]["token"] != short {
			t.Errorf("listed triggers: %v", list)
		}
		wantField(t, e.Do(t, "GET", base+"/"+id, team.Maint.Token, nil), http.StatusOK, "token", `"`+short+`"`)
		wantField(t, e.Do(t, "PUT", base+"/"+id, team.Maint.Token, url.Values{"description": {"renamed"}}), http.StatusOK, "description", `"renamed"`)
		wantJSON(t, e.Do(t, "GET", base+"/999", team.Maint.Token, nil), http.StatusNotFound, `{"message":"404 Not Found"}`)
		wantJSON(t, e.Do(t, "GET", testserver.API+"/projects/"+testserver.Itoa(other.ID)+"/triggers/"+id, team.Maint.Token, nil),
			http.StatusNotFound, `{"message":"404 Not Found"}`)

		// A pipeline with the trigger token: as maint, source trigger.
		trig := func(project int64, token string) *testserver.Resp {
			return e.Do(t, "POST", triggerPath(project), "", url.Values{"token": {token}, "ref": {"main"}, "variables[DEPLOY]": {"yes"}})
		}
		r := trig(team.Project.ID, secret)
		p := wantStatus(t, r, http.StatusCreated).(map[string]any)
		if u, _ := field(p, "user.username"); p["source"] != "trigger" || u != "maint" {
			t.Errorf("triggered pipeline: %s", r.Body)
		}
		j := team.Take(t, "deploy")
		if v, _ := jobVar(j, "CI_PIPELINE_TRIGGERED"); v != "true" {
			t.Errorf("CI_PIPELINE_TRIGGERED = %q", v)
		}
		if v, _ := jobVar(j, "CI_PIPELINE_SOURCE"); v != "trigger" {
			t.Errorf("CI_PIPELINE_SOURCE = %q", v)
		}
		if v, _ := jobVar(j, "DEPLOY"); v != "yes" {
			t.Errorf("DEPLOY = %q", v)
		}
		// The trigger owner's job token reads exactly what maint can:
		// other/x, where maint is a Maintainer and dev nothing.
		e.AllowJobTokens(t, other.ID, team.Project.ID)
		otherPath := testserver.API + "/projects/" + testserver.Itoa(other.ID)
		if u, _ := field(decode(t, e.GetJob(t, j.Token)), "user.username"); u != "maint" {
			t.Errorf("GET /job: user %v, want maint", u)
		}
		wantJSON(t, e.Call(t, "GET", otherPath+"/packages", testserver.JobToken(j.Token), nil), http.StatusOK, `[]`)
		j.FinishOK(t, "success")
		if v, _ := field(decode(t, e.Expect(t, "GET", base+"/"+id, team.Maint.Token, nil, http.StatusOK)), "last_used"); v == nil {
			t.Errorf("last_used not recorded")
		}

		// Refusals: another project's trigger, or no trigger at all: 404.
		wantJSON(t, trig(other.ID, secret), http.StatusNotFound, `{"message":"404 Not Found"}`)
		wantJSON(t, trig(team.Project.ID, "glptt-nothing"), http.StatusNotFound, `{"message":"404 Not Found"}`)
		wantJSON(t, trig(team.Project.ID, "plain"), http.StatusNotFound, `{"message":"404 Not Found"}`)
		// The owner demoted to Reporter: GitLab's pipeline refusal.
		e.Expect(t, "PUT", testserver.API+"/projects/"+testserver.Itoa(team.Project.ID)+"/members/"+testserver.Itoa(team.Maint.ID), e.RootToken,
			url.Values{"access_level": {"20"}}, http.StatusOK)
		wantJSON(t, trig(team.Project.ID, secret), http.StatusBadRequest, `{"message":{"base":["Insufficient permissions to create a new pipeline"]}}`)
		// Removed from the project: it is invisible to them, 404.
		e.Expect(t, "DELETE", testserver.API+"/projects/"+testserver.Itoa(team.Project.ID)+"/members/"+testserver.Itoa(team.Maint.ID), e.RootToken,
			nil, http.StatusNoContent)
		wantJSON(t, trig(team.Project.ID, secret), http.StatusNotFound, `{"message":"404 Not Found"}`)
		// Back as Maintainer, then blocked: 404 as well.
		e.AddMember(t, "projects", team.Project.ID, team.Maint.ID, 40)
		wantField(t, trig(team.Project.ID, secret), http.StatusCreated, "source", `"trigger"`)
		e.Expect(t, "POST", testserver.API+"/users/"+testserver.Itoa(team.Maint.ID)+"/block", e.RootToken, nil, http.StatusCreated)
		wantJSON(t, trig(team.Project.ID, secret), http.StatusNotFound, `{"message":"404 Not Found"}`)

		// Deleted: gone.
		e.Expect(t, "DELETE", base+"/"+id, e.RootToken, nil, http.StatusNoContent)
		wantJSON(t, e.Do(t, "DELETE", base+"/"+id, e.RootToken, nil), http.StatusNotFound, `{"message":"404 Not Found"}`)
		wantJSON(t, trig(team.Project.ID, secret), http.StatusNotFound, `{"message":"404 Not Found"}`)
	})
}

// TestTriggerBurst: 1,000 trigger calls from one job, 8 at a time, make
// exactly ci.MaxDownstreamPerJob pipelines and refuse the rest with a
// 400; no 5xx (the harness checks the log).
func TestTriggerBurst(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		team := e.NewTeamCI(t, "build:\n  script: [make]\n")
		job := team.Take(t, "build")
		const calls, workers = 1000, 8
		statuses := make(chan int, calls)
		bodies := make(chan string, calls)
		next := make(chan int, calls)
		for i := range calls {
			next <- i
		}
		close(next)
		done := make(chan struct{})
		for range workers {
			go func() {
				defer func() { done <- struct{}{} }()
				for range next {
					req := e.NewRequest(t, "POST", triggerPath(team.Project.ID), "", url.Values{"token": {job.Token}, "ref": {"main"}})
					r, err := e.Try(req)
					if err != nil {
						bodies <- err.Error()
						statuses <- 0
						continue
					}
					if r.Status != http.StatusCreated {
						bodies <- string(r.Body)
					}
					statuses <- r.Status
				}
			}()
		}
		for range workers {
			<-done
		}
		close(statuses)
		close(bodies)
		count := map[int]int{}
		for st := range statuses {
			count[st]++
		}
		if count[http.StatusCreated] != 100 || count[http.StatusBadRequest] != calls-100 || len(count) != 2 {
			t.Errorf("answers: %v, want 100 × 201 and %d × 400", count, calls-100)
		}
		want := `{"message":{"base":["This job has already triggered 100 pipelines, the most one job may trigger"]}}`
		for b := range bodies {
			if strings.TrimSpace(b) != want {
				t.Errorf("refusal body %s, want %s", b, want)
				break
			}
		}
		if n := e.total(t, testserver.API+"/projects/"+testserver.Itoa(team.Project.ID)+"/pipelines?source=pipeline&private_token="+team.Maint.Token); n != 100 {
			t.Errorf("%d downstream pipelines, want 100", n)
		}
	})
}

// bridges lists a pipeline's bridges as root sees them.
func bridges(t *testing.T, e *env, projectID, pipelineID int64) []map[string]any {
	t.Helper()
	return e.Expect(t, "GET", testserver.API+"/projects/"+testserver.Itoa(projectID)+"/pipelines/"+testserver.Itoa(pipelineID)+"/bridges",
		e.RootToken, nil, http.StatusOK).List(t)
}

// latestPipeline is the project's newest pipeline of a push.
func latestPipeline(t *testing.T, e *env, projectID int64) map[string]any {
	t.Helper()
	ps := e.Expect(t, "GET", testserver.API+"/projects/"+testserver.Itoa(projectID)+"/pipelines?source=push", e.RootToken, nil, http.StatusOK).List(t)
	if len(ps) == 0 {
		t.Fatalf("project %d has no pipeline", projectID)
	}
	return ps[0]
}

// TestBridges: trigger: in .gitlab-ci.yml. A multi-project bridge with
// strategy: depend creates its downstream as the pipeline's user once it
// is pending and mirrors its end; an unknown and an invisible project fail
// the bridge alike; a child pipeline (trigger: include) runs with source
// parent_pipeline; a loop is cut at ci.MaxPipelineDepth.
func TestBridges(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		team := e.NewTeamCI(t, "")
		down := e.CreateGroup(t, "down", 0, "private")
		target := e.CreateProject(t, down, "svc", "private")
		hidden := e.CreateProject(t, down, "hidden", "private")
		e.AddMember(t, "projects", target.ID, team.Dev.ID, 30)
		e.AllowJobTokens(t, target.ID, team.Project.ID)
		e.PushCI(t, target.Path, team.Dev, map[string]string{".gitlab-ci.yml": triggerTargetCI})
		_ = hidden

		// 1. Multi-project, strategy: depend.
		team.Repo, _ = e.PushCI(t, team.Project.Path, team.Dev, map[string]string{".gitlab-ci.yml": `stages: [build, deploy]
build:
  stage: build
  script: [make]
ship:
  stage: deploy
  variables:
    UPVAR: "from upstream"
  trigger:
    project: down/svc
    branch: main
    strategy: depend
`})
		up := testserver.Num(t, latestPipeline(t, e, team.Project.ID), "id")
		if bs := bridges(t, e, team.Project.ID, up); len(bs) != 1 || bs[0]["status"] != "created" || bs[0]["downstream_pipeline"] != nil {
			t.Fatalf("bridges before build ran: %v", bs)
		}
		team.Take(t, "build").FinishOK(t, "success")
		bs := bridges(t, e, team.Project.ID, up)
		if len(bs) != 1 || bs[0]["name"] != "ship" || bs[0]["status"] != "running" || bs[0]["downstream_pipeline"] == nil {
			t.Fatalf("bridges after build: %v", bs)
		}
		dp := bs[0]["downstream_pipeline"].(map[string]any)
		if dp["project_id"] != float64(target.ID) || dp["source"] != "pipeline" || dp["ref"] != "main" {
			t.Errorf("downstream pipeline: %v", dp)
		}
		d := e.Expect(t, "GET", testserver.API+"/projects/"+testserver.Itoa(target.ID)+"/pipelines/"+testserver.Itoa(testserver.Num(t, dp, "id")),
			e.RootToken, nil, http.StatusOK).Object(t)
		if u, _ := field(d, "user.username"); u != "dev" {
			t.Errorf("downstream user %v, want dev", u)
		}
		if v, _ := field(d, "triggered_by.source_job.name"); v != "ship" {
			t.Errorf("downstream triggered_by: %v", d["triggered_by"])
		}
		dj := team.Take(t, "deploy")
		if v, _ := jobVar(dj, "UPVAR"); v != "from upstream" {
			t.Errorf("UPVAR forwarded as %q", v)
		}
		if v, _ := jobVar(dj, "CI_PIPELINE_SOURCE"); v != "pipeline" {
			t.Errorf("downstream CI_PIPELINE_SOURCE = %q", v)
		}
		dj.FinishOK(t, "failed")
		bs = bridges(t, e, team.Project.ID, up)
		if bs[0]["status"] != "failed" || bs[0]["failure_reason"] != "downstream_pipeline_failed" {
			t.Errorf("depend bridge after its downstream failed: %v", bs[0])
		}
		if st := latestPipeline(t, e, team.Project.ID)["status"]; st != "failed" {
			t.Errorf("upstream pipeline %v, want failed", st)
		}
		team.Runner.ExpectNoJob(t) // the bridge never reached the runner

		// 2. An unknown project and one dev cannot see fail alike.
		for _, path := range []string{"down/nothing", "down/hidden"} {
			team.Repo.CommitPush(t, "to "+path, map[string]string{".gitlab-ci.yml": "ship:\n  trigger: " + path + "\n"})
			p := latestPipeline(t, e, team.Project.ID)
			bs := bridges(t, e, team.Project.ID, testserver.Num(t, p, "id"))
			if len(bs) != 1 || bs[0]["status"] != "failed" || bs[0]["failure_reason"] != "downstream_bridge_project_not_found" || p["status"] != "failed" {
				t.Errorf("bridge to %s: %v; pipeline %v", path, bs, p["status"])
			}
		}
		// 3. A project dev sees but may not trigger in (Reporter):
		e.Expect(t, "PUT", testserver.API+"/projects/"+testserver.Itoa(target.ID)+"/members/"+testserver.Itoa(team.Dev.ID), e.RootToken,
			url.Values{"access_level": {"20"}}, http.StatusOK)
		team.Repo.CommitPush(t, "reporter", map[string]string{".gitlab-ci.yml": "ship:\n  trigger: down/svc\n"})
		p := latestPipeline(t, e, team.Project.ID)
		if bs := bridges(t, e, team.Project.ID, testserver.Num(t, p, "id")); bs[0]["failure_reason"] != "insufficient_bridge_permissions" {
			t.Errorf("bridge without the role: %v", bs)
		}

		// 4. A child pipeline, without depend: the bridge succeeds once
		// the child exists.
		team.Repo.CommitPush(t, "child", map[string]string{
			".gitlab-ci.yml": "kid:\n  trigger:\n    include: child.yml\n",
			"child.yml":      "inner:\n  script: [echo child]\n  rules:\n    - if: $CI_PIPELINE_SOURCE == \"parent_pipeline\"\n",
		})
		parent := latestPipeline(t, e, team.Project.ID)
		bs = bridges(t, e, team.Project.ID, testserver.Num(t, parent, "id"))
		if len(bs) != 1 || bs[0]["status"] != "success" || bs[0]["downstream_pipeline"] == nil {
			t.Fatalf("child bridge: %v", bs)
		}
		if dp := bs[0]["downstream_pipeline"].(map[string]any); dp["source"] != "parent_pipeline" || dp["project_id"] != float64(team.Project.ID) ||
			dp["sha"] != parent["sha"] {
			t.Errorf("child pipeline: %v", dp)
		}
		kid := team.Take(t, "inner")
		if v, _ := jobVar(kid, "CI_PIPELINE_SOURCE"); v != "parent_pipeline" {
			t.Errorf("child CI_PIPELINE_SOURCE = %q", v)
		}
		kid.FinishOK(t, "success")

		// 4b. A dynamic child pipeline: its configuration is an artifact
		// of an earlier job; a missing one fails the bridge.
		team.Repo.CommitPush(t, "dynamic", map[string]string{".gitlab-ci.yml": `stages: [gen, run]
gen:
  stage: gen
  script: [./generate]
  artifacts:
    paths: [gen/]
dyn:
  stage: run
  trigger:
    include:
      - artifact: gen/child.yml
        job: gen
    strategy: depend
missing:
  stage: run
  trigger:
    include:
      - artifact: gen/none.yml
        job: gen
`})
		dynParent := latestPipeline(t, e, team.Project.ID)
		gen := team.Take(t, "gen")
		testserver.WantStatus(t, e.UploadArtifact(t, gen.ID, gen.Token, "artifact_format=zip&artifact_type=archive",
			testserver.Zip(t, map[string]string{"gen/child.yml": "generated:\n  script: [echo generated]\n"}), false), http.StatusCreated)
		gen.FinishOK(t, "success")
		byName := map[string]map[string]any{}
		for _, b := range bridges(t, e, team.Project.ID, testserver.Num(t, dynParent, "id")) {
			byName[b["name"].(string)] = b
		}
		if b := byName["missing"]; b == nil || b["status"] != "failed" || b["failure_reason"] != "downstream_pipeline_creation_failed" {
			t.Errorf("bridge to a missing artifact: %v", b)
		}
		if b := byName["dyn"]; b == nil || b["status"] != "running" || b["downstream_pipeline"] == nil {
			t.Fatalf("dynamic child bridge: %v", b)
		}
		team.Take(t, "generated").FinishOK(t, "success")
		for _, b := range bridges(t, e, team.Project.ID, testserver.Num(t, dynParent, "id")) {
			if b["name"] == "dyn" && b["status"] != "success" {
				t.Errorf("dynamic child bridge after its child succeeded: %v", b)
			}
		}

		// 4c. A child fetches its parent's artifacts: needs: pipeline:
		// $PARENT_PIPELINE_ID, forwarded from the bridge, expanded upstream.
		team.Repo.CommitPush(t, "parent artifacts", map[string]string{".gitlab-ci.yml": `stages: [gen, run]
gen:
  stage: gen
  script: [./generate]
  artifacts:
    paths: [out/]
kid:
  stage: run
  variables:
    PARENT_PIPELINE_ID: $CI_PIPELINE_ID
  trigger:
    include: child2.yml
`, "child2.yml": `use:
  script: [cat out/x]
  needs:
    - pipeline: $PARENT_PIPELINE_ID
      job: gen
`})
		withArts := latestPipeline(t, e, team.Project.ID)
		gen = team.Take(t, "gen")
		testserver.WantStatus(t, e.UploadArtifact(t, gen.ID, gen.Token, "artifact_format=zip&artifact_type=archive",
			testserver.Zip(t, map[string]string{"out/x": "x\n"}), false), http.StatusCreated)
		gen.FinishOK(t, "success")
		use := team.Take(t, "use")
		if v, _ := jobVar(use, "PARENT_PIPELINE_ID"); v != testserver.Itoa(testserver.Num(t, withArts, "id")) {
			t.Errorf("PARENT_PIPELINE_ID in the child = %q, want %v", v, withArts["id"])
		}
		if deps := use.Payload.Dependencies; len(deps) != 1 || deps[0].ID != gen.ID || deps[0].ArtifactsFile.Filename == "" {
			t.Errorf("the child's dependencies: %+v, want the parent's gen (%d) with its archive", deps, gen.ID)
		}
		use.FinishOK(t, "success")

		// 5. A loop: the project triggers itself; the chain stops at the
		// depth limit, with GitLab's reason.
		before := e.total(t, testserver.API+"/projects/"+testserver.Itoa(team.Project.ID)+"/pipelines?private_token="+e.RootToken)
		team.Repo.CommitPush(t, "loop", map[string]string{".gitlab-ci.yml": "again:\n  trigger: grp/app\n"})
		after := e.total(t, testserver.API+"/projects/"+testserver.Itoa(team.Project.ID)+"/pipelines?private_token="+e.RootToken)
		if after-before != 5 {
			t.Errorf("the loop made %d pipelines, want 5 (the push's and 4 downstream)", after-before)
		}
		last := e.Expect(t, "GET", testserver.API+"/projects/"+testserver.Itoa(team.Project.ID)+"/pipelines", e.RootToken, nil, http.StatusOK).List(t)[0]
		if last["source"] != "pipeline" || last["status"] != "failed" {
			t.Errorf("the deepest pipeline: %v", last)
		}
		if bs := bridges(t, e, team.Project.ID, testserver.Num(t, last, "id")); len(bs) != 1 || bs[0]["failure_reason"] != "reached_max_descendant_pipelines_depth" {
			t.Errorf("the deepest bridge: %v", bs)
		}
	})
}

// TestTriggerOnProtectedRef: the trigger API runs a pipeline on a
// protected ref only for a caller who may push or merge to it, as every
// other way of running a pipeline (GitLab's rule): a trigger whose owner
// was lowered to Developer is refused as GitLab's pipeline validation.
func TestTriggerOnProtectedRef(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		team := e.NewTeamCI(t, triggerTargetCI)
		project := testserver.API + "/projects/" + testserver.Itoa(team.Project.ID)
		secret := e.newTrigger(t, team.Project.ID, team.Maint.Token)
		e.protectMain(t, team.Project.ID)
		trig := func() *testserver.Resp {
			return e.Do(t, "POST", triggerPath(team.Project.ID), "", url.Values{"token": {secret}, "ref": {"main"}})
		}
		wantStatus(t, trig(), http.StatusCreated)
		wantStatus(t, e.Do(t, "PUT", project+"/members/"+testserver.Itoa(team.Maint.ID), e.RootToken,
			url.Values{"access_level": {"30"}}), http.StatusOK)
		wantJSON(t, trig(), http.StatusBadRequest, `{"message":{"base":["Insufficient permissions for protected ref 'main'"]}}`)
	})
}

// jobPayloadVar finds key among a job payload's variables, with its file
// flag.
func jobPayloadVar(t *testing.T, j *testserver.RunningJob, key string) (value string, file bool) {
	t.Helper()
	for _, v := range j.Payload.Variables {
		if v.Key == key {
			return v.Value, v.File
		}
	}
	t.Fatalf("job %s has no variable %s", j.Payload.JobInfo.Name, key)
	return "", false
}

// TestBridgeOnProtectedRef: a multi-project bridge to a protected branch
// is decided as the trigger API's call is (trigger_pipeline_on_ref): the
// pipeline's user must be allowed to push or merge there, or the bridge
// fails with GitLab's insufficient_bridge_permissions and nothing is
// created downstream. Bridges are listed under .../bridges only, never
// among a pipeline's or a project's jobs. The downstream's jobs see
// CI_UPSTREAM_PIPELINE_ID, _PROJECT_ID and _JOB_ID.
func TestBridgeOnProtectedRef(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		team := e.NewTeamCI(t, "")
		target := e.downstreamProject(t, team, 30)
		targetAPI := testserver.API + "/projects/" + testserver.Itoa(target.ID)
		appAPI := testserver.API + "/projects/" + testserver.Itoa(team.Project.ID)
		e.protectMain(t, target.ID)
		const ci = "build:\n  script: [make]\n  when: manual\nship:\n  trigger:\n    project: down/svc\n    branch: main\n"

		// dev is a Developer of down/svc, whose main only Maintainers
		// update: the bridge fails, nothing runs downstream.
		team.Repo, _ = e.PushCI(t, team.Project.Path, team.Dev, map[string]string{".gitlab-ci.yml": ci})
		up := testserver.Num(t, latestPipeline(t, e, team.Project.ID), "id")
		bs := bridges(t, e, team.Project.ID, up)
		if len(bs) != 1 || bs[0]["status"] != "failed" || bs[0]["failure_reason"] != "insufficient_bridge_permissions" || bs[0]["downstream_pipeline"] != nil {
			t.Fatalf("bridge to protected main: %v", bs)
		}
		if n := e.total(t, targetAPI+"/pipelines"); n != 0 {
			t.Errorf("a refused bridge made %d pipelines downstream", n)
		}

		// The jobs listings leave the bridge out (GitLab lists bridges
		// apart), totals included.
		for _, path := range []string{appAPI + "/pipelines/" + testserver.Itoa(up) + "/jobs", appAPI + "/jobs"} {
			list := e.Expect(t, "GET", path, e.RootToken, nil, http.StatusOK).List(t)
			if len(list) != 1 || list[0]["name"] != "build" {
				t.Errorf("GET %s: %v, want build alone", path, list)
			}
			if n := e.total(t, path); n != 1 {
				t.Errorf("GET %s: X-Total %d, want 1", path, n)
			}
		}
		// A bridge is not a job of the jobs API either.
		bridgeID := testserver.Num(t, bs[0], "id")
		if st := e.Do(t, "GET", appAPI+"/jobs?scope[]=failed", e.RootToken, nil); len(decode(t, st).([]any)) != 0 {
			t.Errorf("failed jobs: %s, want none (the failed bridge is not a job)", st.Body)
		}

		// dev made a Maintainer of down/svc: the bridge runs, and the
		// downstream's job sees where it came from.
		e.Expect(t, "PUT", targetAPI+"/members/"+testserver.Itoa(team.Dev.ID), e.RootToken, url.Values{"access_level": {"40"}}, http.StatusOK)
		team.Repo.CommitPush(t, "again", map[string]string{".gitlab-ci.yml": ci + "# again\n"})
		up2 := testserver.Num(t, latestPipeline(t, e, team.Project.ID), "id")
		bs = bridges(t, e, team.Project.ID, up2)
		if len(bs) != 1 || bs[0]["status"] != "success" || bs[0]["downstream_pipeline"] == nil {
			t.Fatalf("bridge as a Maintainer of down/svc: %v", bs)
		}
		dj := team.Take(t, "deploy")
		for key, want := range map[string]string{"CI_UPSTREAM_PIPELINE_ID": testserver.Itoa(up2), "CI_UPSTREAM_PROJECT_ID": testserver.Itoa(team.Project.ID),
			"CI_UPSTREAM_JOB_ID": testserver.Itoa(testserver.Num(t, bs[0], "id")), "CI_COMMIT_REF_PROTECTED": "true"} {
			if v, _ := jobVar(dj, key); v != want {
				t.Errorf("downstream %s = %q, want %q", key, v, want)
			}
		}
		if bridgeID == testserver.Num(t, bs[0], "id") {
			t.Errorf("the second pipeline's bridge has the first's ID")
		}
		dj.FinishOK(t, "success")
	})
}

// TestTriggerPayload: a pipeline made by the trigger API has the call's
// parameters, its token left out, in the file variable TRIGGER_PAYLOAD
// (GitLab's, for webhooks), whether a trigger token or a job token called;
// a job token's pipeline also has CI_UPSTREAM_* naming the job.
func TestTriggerPayload(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		team := e.NewTeamCI(t, triggerTargetCI)
		project := testserver.API + "/projects/" + testserver.Itoa(team.Project.ID)
		secret := e.newTrigger(t, team.Project.ID, team.Maint.Token)
		payload := func(j *testserver.RunningJob) map[string]any {
			t.Helper()
			v, file := jobPayloadVar(t, j, "TRIGGER_PAYLOAD")
			if !file || strings.Contains(v, secret) || strings.Contains(v, `"token"`) {
				t.Errorf("TRIGGER_PAYLOAD (file %v): %s", file, v)
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(v), &m); err != nil {
				t.Fatalf("TRIGGER_PAYLOAD is not JSON: %v: %s", err, v)
			}
			return m
		}

		// A webhook's JSON body on the webhook form: the body, the path's
		// ref and id; the token (query) left out.
		hook := map[string]any{"object_kind": "push", "commits": []any{map[string]any{"id": "abc"}}, "variables": map[string]string{"ENV": "prod"}}
		wantField(t, e.Do(t, "POST", project+"/ref/main/trigger/pipeline?token="+url.QueryEscape(secret), "", hook),
			http.StatusCreated, "source", `"trigger"`)
		j := team.Take(t, "deploy")
		m := payload(j)
		if m["object_kind"] != "push" || m["ref"] != "main" || m["id"] != testserver.Itoa(team.Project.ID) {
			t.Errorf("TRIGGER_PAYLOAD: %v", m)
		}
		if c, _ := m["commits"].([]any); len(c) != 1 {
			t.Errorf("TRIGGER_PAYLOAD's commits: %v", m["commits"])
		}
		if v, _ := jobVar(j, "ENV"); v != "prod" {
			t.Errorf("ENV = %q, want prod", v)
		}
		if _, ok := jobVar(j, "CI_UPSTREAM_PIPELINE_ID"); ok {
			t.Errorf("a trigger token's pipeline has CI_UPSTREAM_PIPELINE_ID")
		}

		// A form with this job's token: variables nest as Rack nests
		// them, and the job is the new pipeline's upstream.
		wantField(t, e.Do(t, "POST", triggerPath(team.Project.ID), "", url.Values{"token": {j.Token}, "ref": {"main"}, "variables[X]": {"1"}}),
			http.StatusCreated, "source", `"pipeline"`)
		j.FinishOK(t, "success")
		dj := team.Take(t, "deploy")
		m = payload(dj)
		if v, _ := field(m, "variables.X"); v != "1" || m["ref"] != "main" || strings.Contains(fmt.Sprint(m), j.Token) {
			t.Errorf("TRIGGER_PAYLOAD of a job token's call: %v", m)
		}
		for key, want := range map[string]string{"CI_UPSTREAM_PIPELINE_ID": testserver.Itoa(j.Payload.JobInfo.PipelineID),
			"CI_UPSTREAM_PROJECT_ID": testserver.Itoa(team.Project.ID), "CI_UPSTREAM_JOB_ID": testserver.Itoa(j.ID), "CI_PIPELINE_SOURCE": "pipeline"} {
			if v, _ := jobVar(dj, key); v != want {
				t.Errorf("%s = %q, want %q", key, v, want)
			}
		}
		dj.FinishOK(t, "success")
	})
}
