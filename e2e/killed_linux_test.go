package e2e

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/testdb"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// markedProcesses lists the live processes whose environment holds
// MARKER=marker: every process a job started has its variables.
func markedProcesses(t *testing.T, marker string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	want := []byte("MARKER=" + marker + "\x00")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil { // gone meanwhile; a zombie's environment is empty
			continue
		}
		if bytes.HasPrefix(env, want) || bytes.Contains(env, append([]byte{0}, want...)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestKilledServerJobs: kill -9 of `serve --runners 1` while a job's
// script sleeps (in the foreground and in the background) takes the
// script's processes with it at once, and the restart fails the job with
// runner_system_failure, so its token answers 401 at once rather than
// living until the job's timeout.
func TestKilledServerJobs(t *testing.T) {
	for _, dialect := range testdb.Dialects {
		t.Run(dialect, func(t *testing.T) {
			s := start(t, testserver.Options{Dialect: dialect, Args: []string{"--runners", "1", "--runner-long-poll", "2s"}})
			group := s.CreateGroup(t, "grp", 0, "private")
			projectID, projectPath := s.CreateProject(t, group, "app", "private").IDPath()
			g := testserver.NewGit(t)
			dir := g.Init(t, s.GitURL("root", s.RootToken, projectPath))
			g.Commit(t, dir, "ci", map[string]string{".gitlab-ci.yml": `workflow:
  rules:
    - if: $CI_PIPELINE_SOURCE == "api"
sleeper:
  script:
    - printf '%s' "$CI_JOB_TOKEN" > "$TOKEN_FILE.tmp" && mv "$TOKEN_FILE.tmp" "$TOKEN_FILE"
    - sleep 300 & sleep 301
`})
			g.Run(t, dir, "push", "--quiet", "origin", "HEAD:main")

			marker := "e2e-" + testserver.RandHex(8)
			tokenFile := filepath.Join(t.TempDir(), "token")
			project := api + "/projects/" + testserver.Itoa(projectID)
			p := s.Expect(t, "POST", project+"/pipeline", s.RootToken, map[string]any{"ref": "main", "variables": []map[string]string{
				{"key": "TOKEN_FILE", "value": tokenFile}, {"key": "MARKER", "value": marker}}}, http.StatusCreated).Object(t)
			pipeline := project + "/pipelines/" + testserver.Itoa(testserver.Num(t, p, "id"))
			var token string
			for deadline := time.Now().Add(60 * time.Second); token == "" || len(markedProcesses(t, marker)) < 3; time.Sleep(50 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("the job's script is not sleeping (processes %v)", markedProcesses(t, marker))
				}
				if b, err := os.ReadFile(tokenFile); err == nil {
					token = string(b)
				}
			}
			s.Remember(token)
			jobs := s.Expect(t, "GET", pipeline+"/jobs", s.RootToken, nil, http.StatusOK).List(t)
			if len(jobs) != 1 || jobs[0]["status"] != "running" {
				t.Fatalf("jobs before the kill: %v", jobs)
			}
			job := project + "/jobs/" + testserver.Itoa(testserver.Num(t, jobs[0], "id"))

			s.Kill(t)
			// bash, its foreground sleep and the background one: all die
			// with the server, before anything restarts it.
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				left := markedProcesses(t, marker)
				if len(left) == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("processes %v of the job outlived the killed server", left)
				}
			}

			s = s.Restart(t)
			j := s.Expect(t, "GET", job, s.RootToken, nil, http.StatusOK).Object(t)
			if j["status"] != "failed" || j["failure_reason"] != "runner_system_failure" {
				t.Errorf("the job after the restart: status %v, failure_reason %v; want failed, runner_system_failure", j["status"], j["failure_reason"])
			}
			if st := testserver.Str(t, s.Expect(t, "GET", pipeline, s.RootToken, nil, http.StatusOK).Object(t), "status"); st != "failed" {
				t.Errorf("the pipeline after the restart: %s, want failed", st)
			}
			req := s.NewRequest(t, "GET", api+"/job", "", nil)
			req.Header.Set("JOB-TOKEN", token)
			if r := s.Send(t, req); r.Status != http.StatusUnauthorized {
				t.Errorf("GET /job with the dead job's token: %d %s, want 401", r.Status, r.Body)
			}
		})
	}
}
