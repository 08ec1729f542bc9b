package runnerapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// TestJobRunnerAndEmptyRepo is issue 13 item 11 for an external runner:
// empty_repo turns false with the first branch; a job shows "runner": null
// until a runner takes it, then the runner as GitLab's Job entity does, in
// every job response; the payload carries CI_RUNNER_ID, _DESCRIPTION and
// _TAGS.
func TestJobRunnerAndEmptyRepo(t *testing.T) {
	testserver.ForEachDialect(t, func(t *testing.T, dialect string) {
		s := testserver.New(t, testserver.Options{Dialect: dialect})
		dev := s.CreateUser(t, "dev")
		p := s.CreateProject(t, s.CreateGroup(t, "grp", 0, "private"), "app", "private")
		s.AddMember(t, "projects", p.ID, dev.ID, 30)
		emptyRepo := func(step string, want bool) {
			t.Helper()
			if got := s.Expect(t, "GET", testserver.API+"/projects/"+testserver.Itoa(p.ID), dev.Token, nil, http.StatusOK).Object(t)["empty_repo"]; got != want {
				t.Errorf("%s: GET /projects/:id empty_repo %v, want %v", step, got, want)
			}
			var list []map[string]any
			s.Expect(t, "GET", testserver.API+"/projects?membership=true", dev.Token, nil, http.StatusOK).JSON(t, &list)
			if len(list) != 1 || list[0]["empty_repo"] != want {
				t.Errorf("%s: GET /projects: %v, want one project with empty_repo %v", step, list, want)
			}
		}
		emptyRepo("new project", true)

		runnerID, tok := s.CreateRunner(t, map[string]any{"description": "linux box", "tag_list": []string{"docker", "linux"}, "run_untagged": true})
		s.PushCI(t, p.Path, dev, map[string]string{".gitlab-ci.yml": "build:\n  script: [echo hi]\n"})
		emptyRepo("after a push of main", false)

		jobPath := func() string {
			var jobs []map[string]any
			s.Expect(t, "GET", testserver.API+"/projects/"+testserver.Itoa(p.ID)+"/jobs", dev.Token, nil, http.StatusOK).JSON(t, &jobs)
			if len(jobs) != 1 {
				t.Fatalf("%d jobs, want 1", len(jobs))
			}
			if jobs[0]["runner"] != nil {
				t.Errorf("a pending job shows runner %v, want null", jobs[0]["runner"])
			}
			return "/projects/" + testserver.Itoa(p.ID) + "/jobs/" + testserver.Itoa(testserver.Num(t, jobs[0], "id"))
		}()
		job := s.NewRunnerClient(tok).TakeJob(t)
		vars := map[string]string{}
		for _, v := range job.Payload.Variables {
			vars[v.Key] = v.Value
		}
		for k, want := range map[string]string{"CI_RUNNER_ID": testserver.Itoa(runnerID), "CI_RUNNER_DESCRIPTION": "linux box", "CI_RUNNER_TAGS": `["docker", "linux"]`} {
			if vars[k] != want {
				t.Errorf("payload %s = %q, want %q", k, vars[k], want)
			}
		}

		want := fmt.Sprintf(`{"id":%d,"description":"linux box","ip_address":null,"active":true,"paused":false,"is_shared":true,`+
			`"runner_type":"instance_type","name":"gitlab-runner","online":true,"status":"online"}`, runnerID)
		checkRunner := func(what string, r *testserver.Resp) {
			t.Helper()
			var body struct {
				Runner json.RawMessage `json:"runner"`
			}
			r.JSON(t, &body)
			var got, exp any
			json.Unmarshal(body.Runner, &got)
			json.Unmarshal([]byte(want), &exp)
			if !reflect.DeepEqual(got, exp) {
				t.Errorf("%s: runner %s, want %s", what, body.Runner, want)
			}
		}
		checkRunner("GET /projects/:id/jobs/:job_id", s.Expect(t, "GET", testserver.API+jobPath, dev.Token, nil, http.StatusOK))
		var list []json.RawMessage
		s.Expect(t, "GET", testserver.API+"/projects/"+testserver.Itoa(p.ID)+"/jobs", dev.Token, nil, http.StatusOK).JSON(t, &list)
		checkRunner("GET /projects/:id/jobs", &testserver.Resp{Req: "list", Body: list[0]})
		req := s.NewRequest(t, "GET", "/api/v4/job", "", nil)
		req.Header.Set("JOB-TOKEN", job.Token)
		checkRunner("GET /job", s.Send(t, req))
	})
}

// TestBuiltinRunnerVariables is issue 13 item 11 for the built-in runner:
// a job sees the server's CI_RUNNER_* and what gitlab-runner adds itself
// (its short token, version and architecture).
func TestBuiltinRunnerVariables(t *testing.T) {
	testserver.ForEachDialect(t, func(t *testing.T, dialect string) {
		s := testserver.New(t, testserver.Options{Dialect: dialect})
		dev := s.CreateUser(t, "dev")
		p := s.CreateProject(t, s.CreateGroup(t, "grp", 0, "private"), "app", "private")
		s.AddMember(t, "projects", p.ID, dev.ID, 30)
		id, tok := s.StartBuiltinRunner(t)
		s.PushCI(t, p.Path, dev, map[string]string{".gitlab-ci.yml": "show:\n  variables: {GIT_STRATEGY: none}\n  script:\n" +
			`    - echo "RUNNER=$CI_RUNNER_ID|$CI_RUNNER_DESCRIPTION|$CI_RUNNER_TAGS|$CI_RUNNER_SHORT_TOKEN|$CI_RUNNER_EXECUTABLE_ARCH|${CI_RUNNER_VERSION:+set}"` + "\n"})
		var pipelines []map[string]any
		s.Expect(t, "GET", testserver.API+"/projects/"+testserver.Itoa(p.ID)+"/pipelines", dev.Token, nil, http.StatusOK).JSON(t, &pipelines)
		if len(pipelines) != 1 {
			t.Fatalf("%d pipelines, want 1", len(pipelines))
		}
		status, jobs := waitPipeline(t, s, p, testserver.Num(t, pipelines[0], "id"))
		trace := s.Expect(t, "GET", testserver.API+"/projects/"+testserver.Itoa(p.ID)+"/jobs/"+testserver.Itoa(testserver.Num(t, jobs["show"], "id"))+"/trace", dev.Token, nil, http.StatusOK)
		want := fmt.Sprintf("RUNNER=%d|built-in|[]|%s|%s/%s|set\n", id, tok[len("glrt-"):len("glrt-")+9], runtime.GOOS, runtime.GOARCH)
		if status != "success" || !strings.Contains(string(trace.Body), "\n"+want) {
			t.Errorf("pipeline %s; the job's log lacks %q:\n%s", status, want, trace.Body)
		}
	})
}
