package e2e

import (
	"encoding/base64"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// TestBuiltinRunnerJobToken is the first job that uses CI_JOB_TOKEN: the
// server runs two built-in runner workers; a job reads its own job over the
// API with its token and clones another private project the pipeline's
// user can read; the pipeline succeeds; the stored log holds neither the
// token nor its base64; and once the job has finished, the same token is
// refused by the API and by git.
func TestBuiltinRunnerJobToken(t *testing.T) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			s := start(t, testserver.Options{Dialect: dialect, Args: []string{"--runners", "2", "--runner-long-poll", "2s"}})
			testBuiltinRunnerJobToken(t, s)
		})
	}
}

func testBuiltinRunnerJobToken(t *testing.T, s *testserver.Server) {
	alice := s.CreateUser(t, "alice")
	group := s.CreateGroup(t, "team", 0, "private")
	s.AddMember(t, "groups", group, alice.ID, 30)
	otherID, otherPath := s.CreateProject(t, group, "other", "private").IDPath()
	appID, appPath := s.CreateProject(t, group, "app", "private").IDPath()
	// other lets app's jobs in (its allowlist is on, as for every new
	// project).
	s.AllowJobTokens(t, otherID, appID)

	g := testserver.NewGit(t)
	other := g.Init(t, s.GitURL("alice", alice.Token, otherPath))
	g.Commit(t, other, "data", map[string]string{"f.txt": "secretdata\n"})
	g.Run(t, other, "push", "--quiet", "origin", "HEAD:main")

	cloneURL := strings.Replace(s.URL, "http://", "http://gitlab-ci-token:${CI_JOB_TOKEN}@", 1) + "/" + otherPath + ".git"
	ci := `workflow:
  rules:
    - if: $CI_PIPELINE_SOURCE == "api"
job:
  script:
    - 'curl -sf -H "JOB-TOKEN: $CI_JOB_TOKEN" "$CI_API_V4_URL/job" | grep -o "\"name\":\"job\""'
    - git clone -q "` + cloneURL + `" other && cat other/f.txt
    - echo "raw $CI_JOB_TOKEN"
    - echo -n "$CI_JOB_TOKEN" | base64 -w0; echo
    - echo -n "xy$CI_JOB_TOKEN" | base64 -w0; echo
    - python3 -c 'import os, urllib.parse; print(urllib.parse.quote("=" + os.environ["CI_JOB_TOKEN"] + "/", safe=""))'
    - echo "https://gitlab-ci-token:$CI_JOB_TOKEN@example.com/group/project.git"
    - echo "$CI_API_V4_URL/job?job_token=$CI_JOB_TOKEN&x=1"
    - printf '%s' "${CI_JOB_TOKEN:0:20}"; sleep 1; printf '%s\n' "${CI_JOB_TOKEN:20}"
    - for ((i=0; i<${#CI_JOB_TOKEN}; i++)); do printf '%s' "${CI_JOB_TOKEN:i:1}"; done; echo
    - printf '%s' "$CI_JOB_TOKEN" > "$TOKEN_FILE"
`
	app := g.Init(t, s.GitURL("alice", alice.Token, appPath))
	g.Commit(t, app, "ci", map[string]string{".gitlab-ci.yml": ci})
	g.Run(t, app, "push", "--quiet", "origin", "HEAD:main")

	tokenFile := filepath.Join(t.TempDir(), "token")
	p := s.Expect(t, "POST", api+"/projects/"+testserver.Itoa(appID)+"/pipeline", alice.Token, map[string]any{
		"ref": "main", "variables": []map[string]string{{"key": "TOKEN_FILE", "value": tokenFile}},
	}, 201).Object(t)
	pid := testserver.Itoa(testserver.Num(t, p, "id"))

	status := ""
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		status = testserver.Str(t, s.Expect(t, "GET", api+"/projects/"+testserver.Itoa(appID)+"/pipelines/"+pid, alice.Token, nil, 200).Object(t), "status")
		if status == "success" || status == "failed" || status == "canceled" {
			break
		}
	}
	jobs := s.Expect(t, "GET", api+"/projects/"+testserver.Itoa(appID)+"/pipelines/"+pid+"/jobs", alice.Token, nil, 200).List(t)
	if len(jobs) != 1 {
		t.Fatalf("%d jobs, want 1", len(jobs))
	}
	jobID := testserver.Itoa(testserver.Num(t, jobs[0], "id"))
	trace := string(s.Expect(t, "GET", api+"/projects/"+testserver.Itoa(appID)+"/jobs/"+jobID+"/trace", alice.Token, nil, 200).Body)
	if status != "success" {
		t.Fatalf("pipeline %s, want success; trace:\n%s", status, trace)
	}
	for _, want := range []string{`"name":"job"`, "secretdata", "raw [MASKED]"} {
		if !strings.Contains(trace, want) {
			t.Errorf("trace lacks %q:\n%s", want, trace)
		}
	}
	b, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatalf("the job did not leave its token for the test: %v", err)
	}
	token := string(b)
	s.Remember(token)
	if !strings.HasPrefix(token, "cwjob-") {
		t.Fatalf("token %q... lacks the cwjob- prefix", token[:min(len(token), 8)])
	}
	// Raw, base64 at two alignments, percent-encoded, and the long inner
	// runs of each: none may survive, however the job wrote them.
	leaks := []string{token, base64.StdEncoding.EncodeToString([]byte(token)),
		base64.StdEncoding.EncodeToString([]byte("xy" + token)), url.QueryEscape(token), token[6:26], token[20:]}
	for _, leak := range leaks {
		if strings.Contains(trace, leak) {
			t.Errorf("the stored trace contains the token or an encoding of it (%q...):\n%s", leak[:8], trace)
		}
	}
	if n := strings.Count(trace, "[MASKED]"); n < 8 {
		t.Errorf("only %d [MASKED] in the trace, want one per way the job printed the token:\n%s", n, trace)
	}

	// The job has finished: its token is dead, for the API and for git.
	req := s.NewRequest(t, "GET", api+"/job", "", nil)
	req.Header.Set("JOB-TOKEN", token)
	if r := s.Send(t, req); r.Status != 401 {
		t.Errorf("GET /job with the finished job's token: %d, want 401", r.Status)
	}
	r := s.GitHTTP(t, "GET", "/"+otherPath+".git/info/refs?service=git-upload-pack", "gitlab-ci-token", token)
	checkGitAnswer(t, r, 401, "HTTP Basic: Access denied")
}
