package e2e

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// startOnAnyPort starts `ciwarden serve --listen 127.0.0.1:0` on dataDir
// (SQLite in it) with env added to a clean environment, and waits for the
// log line that names the bound address. The process is a server of the
// harness, stopped and checked when the test ends; its URL is the
// external URL the server advertises. rootToken is what the caller knows
// root's token to be.
func startOnAnyPort(t *testing.T, dataDir, rootToken string, env []string, args ...string) *testserver.Server {
	t.Helper()
	return launchListening(t, dataDir, dataDir, rootToken, env, append([]string{"serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir}, args...))
}

// launchListening runs the binary with args in dir and adopts it as
// startOnAnyPort does; args (or env) must make it listen on port 0.
func launchListening(t *testing.T, dir, dataDir, rootToken string, env, args []string) *testserver.Server {
	t.Helper()
	return testserver.New(t, testserver.Options{Process: true, DefaultDB: true, DataDir: dataDir, Dir: dir,
		Command: args, Env: env, RootToken: rootToken, NoInitialRootToken: true})
}

// generatedRootToken reads the token a first start printed.
func generatedRootToken(t *testing.T, stderr string) string {
	t.Helper()
	m := regexp.MustCompile(`Created the admin user root\. Its personal access token, shown only this once:\s+(\S+)`).FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("the first start printed no root token:\n%s", stderr)
	}
	return m[1]
}

// tokenHint is what a start says when root holds no usable token.
const tokenHint = "ciwarden admin token create --user root"

// TestListenPortZero: with --listen 127.0.0.1:0 the server advertises the
// port it bound, not 0, in every URL it builds: web and clone URLs,
// pagination links, and the CI variables a runner gets.
func TestListenPortZero(t *testing.T) {
	root := "e2e-root-" + testserver.RandHex(16)
	s := startOnAnyPort(t, t.TempDir(), root, []string{"CIWARDEN_INITIAL_ROOT_TOKEN=" + root})
	u, err := url.Parse(s.URL)
	if err != nil || u.Hostname() != "127.0.0.1" || u.Port() == "" || u.Port() == "0" {
		t.Fatalf("external URL %q, want http://127.0.0.1:<bound port>", s.URL)
	}
	s.Expect(t, "GET", "/-/readiness", "", nil, http.StatusOK)

	group := s.CreateGroup(t, "g", 0, "private")
	projectID, path := s.CreateProject(t, group, "app", "private").IDPath()
	s.CreateProject(t, group, "other", "private")
	p := s.Expect(t, "GET", api+"/projects/"+testserver.Itoa(projectID), s.RootToken, nil, http.StatusOK).Object(t)
	for field, want := range map[string]string{
		"web_url":          s.URL + "/" + path,
		"http_url_to_repo": s.URL + "/" + path + ".git",
	} {
		if got := testserver.Str(t, p, field); got != want {
			t.Errorf("%s = %q, want %q", field, got, want)
		}
	}
	r := s.Expect(t, "GET", api+"/groups/"+testserver.Itoa(group)+"/projects?per_page=1", s.RootToken, nil, http.StatusOK)
	if link := r.Header.Get("Link"); !strings.Contains(link, "<"+s.URL+api+"/groups/") {
		t.Errorf("Link header %q does not point at %s", link, s.URL)
	}

	// A job's variables: push a CI file and take the job as a runner.
	g := testserver.NewGit(t)
	dir := g.Init(t, s.GitURL("root", s.RootToken, path))
	g.Commit(t, dir, "ci", map[string]string{".gitlab-ci.yml": "job:\n  script: [echo hi]\n"})
	g.Run(t, dir, "push", "--quiet", "origin", "HEAD:main")
	runnerToken := testserver.Str(t, s.Expect(t, "POST", api+"/user/runners", s.RootToken, map[string]any{"runner_type": "instance_type"}, 201).Object(t), "token")
	s.Remember(runnerToken)
	var job struct {
		Token     string `json:"token"`
		Variables []struct {
			Key, Value string
		} `json:"variables"`
		GitInfo struct {
			RepoURL string `json:"repo_url"`
		} `json:"git_info"`
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		r := s.Do(t, "POST", api+"/jobs/request", "", map[string]any{"token": runnerToken})
		if r.Status == http.StatusCreated {
			r.JSON(t, &job)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no job handed out: %d %s", r.Status, r.Body)
		}
	}
	s.Remember(job.Token)
	vars := map[string]string{}
	for _, v := range job.Variables {
		vars[v.Key] = v.Value
	}
	for key, want := range map[string]string{"CI_SERVER_URL": s.URL, "CI_API_V4_URL": s.URL + api, "CI_PROJECT_URL": s.URL + "/" + path} {
		if vars[key] != want {
			t.Errorf("%s = %q, want %q", key, vars[key], want)
		}
	}
	if !strings.Contains(job.GitInfo.RepoURL, "@"+u.Host+"/"+path+".git") {
		t.Errorf("git_info.repo_url does not name %s", u.Host)
	}
}

// TestFirstStartPortInUse: a first start that cannot bind its port exits
// 1 before it creates root (no database is even written), so no one-time
// token is printed and lost; the next start, on a free port, creates root
// and prints the token, which works.
func TestFirstStartPortInUse(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dataDir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, testserver.Binary(t), "serve", "--listen", busy.Addr().String(), "--data-dir", dataDir)
	cmd.Dir, cmd.Env = dataDir, testserver.CleanEnv()
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	var exit *exec.ExitError
	if err := cmd.Run(); !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("serve on a port in use: %v, want exit status 1\n%s", err, stderr.String())
	}
	out := stderr.String()
	if !strings.Contains(out, busy.Addr().String()) || strings.Count(strings.TrimRight(out, "\n"), "\n") != 0 {
		t.Errorf("want one line naming %s, got:\n%s", busy.Addr(), out)
	}
	if strings.Contains(out, "Created the admin user root") {
		t.Errorf("root was created by a start that failed:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "ciwarden.db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the failed start wrote a database (stat: %v)", err)
	}

	s := startOnAnyPort(t, dataDir, "", nil)
	s.RootToken = generatedRootToken(t, s.Log())
	me := s.Expect(t, "GET", api+"/user", s.RootToken, nil, http.StatusOK).Object(t)
	if me["username"] != "root" || me["is_admin"] != true {
		t.Errorf("GET /user with the printed token: %v", me)
	}
	if strings.Contains(s.Log(), tokenHint) {
		t.Errorf("a start that printed root's token also says how to make one:\n%s", s.Log())
	}
}

// TestRootTokenHint: when root holds no usable token, a start says once
// how to make one. That is the case when the start that printed root's
// token died before the token was used (it may never have been copied),
// and when root's tokens are all revoked; not once the token was used.
func TestRootTokenHint(t *testing.T) {
	dataDir := t.TempDir()
	noInitial := []string{"CIWARDEN_INITIAL_ROOT_TOKEN="}
	s := startOnAnyPort(t, dataDir, "", noInitial)
	token := generatedRootToken(t, s.Log())
	s.Kill(t)

	hints := func(s *testserver.Server) int { return strings.Count(s.Log(), tokenHint) }
	s = startOnAnyPort(t, dataDir, token, noInitial)
	if n := hints(s); n != 1 {
		t.Errorf("after a first start that died, the restart says %d times how to make a token, want once:\n%s", n, s.Log())
	}
	if strings.Contains(s.Log(), "Created the admin user root") {
		t.Errorf("a second root token was printed")
	}

	// The token is used: it is known to be held.
	self := s.Expect(t, "GET", api+"/personal_access_tokens/self", token, nil, http.StatusOK).Object(t)
	s.Client().CloseIdleConnections()
	s.Terminate(t)
	s.Wait(t)
	s = startOnAnyPort(t, dataDir, token, noInitial)
	if n := hints(s); n != 0 {
		t.Errorf("root's token is in use, yet the start says how to make one:\n%s", s.Log())
	}

	// Revoked: root has no active token any more.
	s.Expect(t, "DELETE", api+"/personal_access_tokens/"+testserver.Itoa(testserver.Num(t, self, "id")), token, nil, http.StatusNoContent)
	s.Client().CloseIdleConnections()
	s.Terminate(t)
	s.Wait(t)
	s = startOnAnyPort(t, dataDir, "", noInitial)
	if n := hints(s); n != 1 {
		t.Errorf("root's only token is revoked; the start says %d times how to make one, want once:\n%s", n, s.Log())
	}

	// The hint works: the CLI makes a token that the server accepts.
	code, out, errOut := runCiwardenCLI(t, "admin", "token", "create", "--user", "root", "--data-dir", dataDir)
	if code != 0 {
		t.Fatalf("admin token create: exit %d: %s", code, errOut)
	}
	fresh := strings.TrimSpace(out)
	s.Remember(fresh)
	s.Expect(t, "GET", api+"/user", fresh, nil, http.StatusOK)
}
