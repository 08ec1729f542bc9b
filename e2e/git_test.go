package e2e

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// GitLab's answers on the git transport, as the server must give them.
const (
	gitMsgAccessDenied = "HTTP Basic: Access denied"
	gitMsgNotFound     = "The project you were looking for could not be found or you don't have permission to view it."
	gitMsgCannotPush   = "You are not allowed to upload code."
)

// gitClient runs the system git with a private, empty HOME: no global or
// system configuration, no credential helper, never a prompt.
type gitClient struct {
	env []string
}

func newGitClient(t *testing.T) *gitClient {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatalf("git is not on PATH: %v", err)
	}
	home := t.TempDir()
	var env []string
	for _, kv := range cleanEnv() {
		switch {
		case strings.HasPrefix(kv, "GIT_"), strings.HasPrefix(kv, "HOME="), strings.HasPrefix(kv, "XDG_CONFIG_HOME="),
			strings.HasPrefix(kv, "SSH_ASKPASS="), strings.HasPrefix(kv, "LANG="), strings.HasPrefix(kv, "LC_"):
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
		"GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1", "LC_ALL=C")
	return &gitClient{env: env}
}

// gitResult is one git invocation's outcome.
type gitResult struct {
	args           []string
	stdout, stderr string
	err            error
}

// exec runs git in dir with extra environment variables.
func (g *gitClient) exec(dir string, extraEnv []string, args ...string) gitResult {
	full := append([]string{"-c", "user.name=E2E Tester", "-c", "user.email=e2e@example.com",
		"-c", "init.defaultBranch=main", "-c", "advice.detachedHead=false", "-c", "credential.helper="}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", full...)
	cmd.Dir = dir
	cmd.Env = append(append([]string{}, g.env...), extraEnv...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return gitResult{args: args, stdout: out.String(), stderr: errb.String(), err: err}
}

// Run runs git in dir and fails the test if it fails; it returns stdout,
// trimmed.
func (g *gitClient) Run(t testing.TB, dir string, args ...string) string {
	t.Helper()
	r := g.exec(dir, nil, args...)
	if r.err != nil {
		t.Fatalf("git %s: %v\nstdout:\n%s\nstderr:\n%s", redactArgs(args), r.err, r.stdout, r.stderr)
	}
	return strings.TrimSpace(r.stdout)
}

// Fail runs git in dir, fails the test if it succeeds, and returns its
// stderr.
func (g *gitClient) Fail(t testing.TB, dir string, args ...string) string {
	t.Helper()
	r := g.exec(dir, nil, args...)
	if r.err == nil {
		t.Errorf("git %s succeeded, want a failure\nstdout:\n%s\nstderr:\n%s", redactArgs(args), r.stdout, r.stderr)
	}
	return r.stderr
}

// redactArgs hides the token of a credentialed URL in a failure message.
func redactArgs(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if u, err := url.Parse(a); err == nil && u.User != nil {
			if _, ok := u.User.Password(); ok {
				u.User = url.UserPassword(u.User.Username(), "REDACTED")
			}
			a = u.String()
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}

// Clone clones url into a new directory and returns it.
func (g *gitClient) Clone(t testing.TB, url string, extra ...string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "clone")
	g.Run(t, "", append(append([]string{"clone", "--quiet"}, extra...), url, dir)...)
	return dir
}

// Init makes a new repository with origin set to url.
func (g *gitClient) Init(t testing.TB, url string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "work")
	g.Run(t, "", "init", "--quiet", dir)
	g.Run(t, dir, "remote", "add", "origin", url)
	return dir
}

// Commit writes files into dir, commits everything (removals included)
// and returns the new HEAD.
func (g *gitClient) Commit(t testing.TB, dir, msg string, files map[string]string) string {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	g.Run(t, dir, "add", "--all")
	g.Run(t, dir, "commit", "--quiet", "--allow-empty", "-m", msg)
	return g.Run(t, dir, "rev-parse", "HEAD")
}

// gitURL is the clone URL of a project; user "" leaves out credentials.
func gitURL(s *Server, user, token, fullPath string) string {
	u, err := url.Parse(s.URL + "/" + fullPath + ".git")
	if err != nil {
		panic(err)
	}
	if user != "" {
		u.User = url.UserPassword(user, token)
	}
	return u.String()
}

// gitHTTP sends one raw smart-HTTP request; user "" sends no credentials.
func gitHTTP(t testing.TB, s *Server, method, path, user, password string) *Resp {
	t.Helper()
	req := s.NewRequest(t, method, path, "", nil)
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	req.Header.Set("User-Agent", "git/2.39.5")
	return s.Send(t, req)
}

// checkGitAnswer checks a refusal on the git transport: status and plain
// text body, and for 401 GitLab's Basic challenge.
func checkGitAnswer(t testing.TB, r *Resp, status int, msg string) {
	t.Helper()
	if r.Status != status {
		t.Errorf("%s: status %d, want %d; body: %q", r.req, r.Status, status, r.Body)
		return
	}
	if got := strings.TrimSpace(string(r.Body)); got != msg {
		t.Errorf("%s: body %q, want %q", r.req, got, msg)
	}
	if status == http.StatusUnauthorized {
		if got := r.Header.Get("WWW-Authenticate"); got != `Basic realm="GitLab"` {
			t.Errorf("%s: WWW-Authenticate %q, want %q", r.req, got, `Basic realm="GitLab"`)
		}
	}
}

// revCount is `git rev-list --count HEAD` in dir.
func gitRevCount(t testing.TB, g *gitClient, dir string) int {
	t.Helper()
	n, err := strconv.Atoi(g.Run(t, dir, "rev-list", "--count", "HEAD"))
	if err != nil {
		t.Fatalf("rev-list --count: %v", err)
	}
	return n
}

func gitReadFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return string(b)
}

// TestGitAccess drives the real git client against every kind of caller
// on private, internal and public projects, and the repository API.
func TestGitAccess(t *testing.T) { forEachDialect(t, testGitAccess) }

func testGitAccess(t *testing.T, s *Server) {
	g := newGitClient(t)
	group := s.CreateGroup(t, "gitgrp", 0, "public")
	privID, priv := s.CreateProject(t, group, "secret", "private")
	_, internal := s.CreateProject(t, group, "inside", "internal")
	_, public := s.CreateProject(t, group, "open", "public")
	owner := s.CreateUser(t, "gitowner")
	dev := s.CreateUser(t, "gitdev")
	reporter := s.CreateUser(t, "gitreporter")
	guest := s.CreateUser(t, "gitguest")
	stranger := s.CreateUser(t, "gitstranger")
	s.AddMember(t, "groups", group, owner.ID, 50)
	s.AddMember(t, "projects", privID, dev.ID, 30)
	s.AddMember(t, "projects", privID, reporter.ID, 20)
	s.AddMember(t, "projects", privID, guest.ID, 10)

	const readme = "# secret\n"
	const guide = "Guide: ünïcode, tabs\tand no final newline"
	info := func(path, service string) string { return "/" + path + ".git/info/refs?service=" + service }

	// The owner pushes two commits to main of each project (the same
	// history, pushed once and then to the other remotes).
	work := g.Init(t, gitURL(s, owner.Username, owner.Token, priv))
	first := g.Commit(t, work, "Initial commit", map[string]string{"README.md": readme})
	second := g.Commit(t, work, "Add the guide\n\nLonger description.", map[string]string{"docs/guide.md": guide})
	g.Run(t, work, "tag", "v1.0", first)
	g.Run(t, work, "tag", "-a", "-m", "Release 2.0\n\nNotes.", "v2.0", second)
	tagObject := g.Run(t, work, "rev-parse", "refs/tags/v2.0")
	g.Run(t, work, "push", "--quiet", "origin", "main", "v1.0", "v2.0")
	for _, p := range []string{internal, public} {
		g.Run(t, work, "push", "--quiet", gitURL(s, owner.Username, owner.Token, p), "main")
	}
	head := second

	t.Run("owner", func(t *testing.T) {
		dir := g.Clone(t, gitURL(s, owner.Username, owner.Token, priv))
		if got := g.Run(t, dir, "rev-parse", "HEAD"); got != head {
			t.Errorf("cloned HEAD %s, want %s", got, head)
		}
		if n := gitRevCount(t, g, dir); n != 2 {
			t.Errorf("full clone has %d commits, want 2", n)
		}
		if got := gitReadFile(t, filepath.Join(dir, "docs", "guide.md")); got != guide {
			t.Errorf("docs/guide.md in the clone is %q, want %q", got, guide)
		}
		if got := g.Run(t, dir, "symbolic-ref", "--short", "HEAD"); got != "main" {
			t.Errorf("clone checked out %q, want main", got)
		}
		shallow := g.Clone(t, gitURL(s, owner.Username, owner.Token, priv), "--depth", "1")
		if n := gitRevCount(t, g, shallow); n != 1 {
			t.Errorf("--depth 1 clone has %d commits, want 1", n)
		}
		if got := g.Run(t, shallow, "rev-parse", "HEAD"); got != head {
			t.Errorf("shallow clone HEAD %s, want %s", got, head)
		}
	})

	t.Run("developer", func(t *testing.T) {
		url := gitURL(s, dev.Username, dev.Token, priv)
		dir := g.Clone(t, url)
		next := g.Commit(t, dir, "Developer's change", map[string]string{"dev.txt": "from the developer\n"})
		g.Run(t, dir, "push", "--quiet", "origin", "main")
		again := g.Clone(t, url)
		if got := g.Run(t, again, "rev-parse", "HEAD"); got != next {
			t.Errorf("after the developer's push, HEAD is %s, want %s", got, next)
		}
		if n := gitRevCount(t, g, again); n != 3 {
			t.Errorf("clone after the developer's push has %d commits, want 3", n)
		}
		head = next
	})

	t.Run("reporter", func(t *testing.T) {
		url := gitURL(s, reporter.Username, reporter.Token, priv)
		dir := g.Clone(t, url)
		g.Commit(t, dir, "Reporter's change", map[string]string{"rep.txt": "nope\n"})
		stderr := g.Fail(t, dir, "push", "origin", "main")
		if !strings.Contains(stderr, gitMsgCannotPush) {
			t.Errorf("the reporter's git push stderr lacks %q:\n%s", gitMsgCannotPush, stderr)
		}
		r := gitHTTP(t, s, "GET", info(priv, "git-receive-pack"), reporter.Username, reporter.Token)
		checkGitAnswer(t, r, http.StatusForbidden, gitMsgCannotPush)
		// The refused push changed nothing.
		if got := g.Run(t, "", "ls-remote", url, "refs/heads/main"); !strings.HasPrefix(got, head+"\t") {
			t.Errorf("main after the refused push: %q, want %s", got, head)
		}
		// A push straight to git-receive-pack (skipping the advertisement)
		// is refused as well.
		r = gitHTTP(t, s, "POST", "/"+priv+".git/git-receive-pack", reporter.Username, reporter.Token)
		checkGitAnswer(t, r, http.StatusForbidden, gitMsgCannotPush)
	})

	t.Run("non-member", func(t *testing.T) {
		r := gitHTTP(t, s, "GET", info(priv, "git-upload-pack"), stranger.Username, stranger.Token)
		checkGitAnswer(t, r, http.StatusNotFound, gitMsgNotFound)
		r = gitHTTP(t, s, "GET", info(priv, "git-receive-pack"), stranger.Username, stranger.Token)
		checkGitAnswer(t, r, http.StatusNotFound, gitMsgNotFound)
		// The same answer as for a project that does not exist.
		r = gitHTTP(t, s, "GET", info("gitgrp/nothing-here", "git-upload-pack"), stranger.Username, stranger.Token)
		checkGitAnswer(t, r, http.StatusNotFound, gitMsgNotFound)
		stderr := g.Fail(t, "", "clone", gitURL(s, stranger.Username, stranger.Token, priv), filepath.Join(t.TempDir(), "c"))
		if !strings.Contains(stderr, gitMsgNotFound) {
			t.Errorf("the non-member's git clone stderr lacks the server's message:\n%s", stderr)
		}
		// A guest sees the project but may not read its code.
		r = gitHTTP(t, s, "GET", info(priv, "git-upload-pack"), guest.Username, guest.Token)
		checkGitAnswer(t, r, http.StatusForbidden, "You are not allowed to download code from this project.")
		g.Fail(t, "", "clone", gitURL(s, guest.Username, guest.Token, priv), filepath.Join(t.TempDir(), "c"))
	})

	t.Run("anonymous", func(t *testing.T) {
		dir := g.Clone(t, gitURL(s, "", "", public))
		if got := g.Run(t, dir, "rev-parse", "HEAD"); got != second {
			t.Errorf("anonymous clone of the public project: HEAD %s, want %s", got, second)
		}
		g.Commit(t, dir, "Anonymous change", map[string]string{"anon.txt": "x\n"})
		g.Fail(t, dir, "push", "origin", "main")
		r := gitHTTP(t, s, "GET", info(public, "git-receive-pack"), "", "")
		checkGitAnswer(t, r, http.StatusUnauthorized, gitMsgAccessDenied)
		r = gitHTTP(t, s, "POST", "/"+public+".git/git-receive-pack", "", "")
		checkGitAnswer(t, r, http.StatusUnauthorized, gitMsgAccessDenied)

		// A private project asks for credentials and reveals nothing: the
		// same answer as for a project that does not exist.
		r = gitHTTP(t, s, "GET", info(priv, "git-upload-pack"), "", "")
		checkGitAnswer(t, r, http.StatusUnauthorized, gitMsgAccessDenied)
		r = gitHTTP(t, s, "GET", info("gitgrp/nothing-here", "git-upload-pack"), "", "")
		checkGitAnswer(t, r, http.StatusUnauthorized, gitMsgAccessDenied)
		g.Fail(t, "", "clone", gitURL(s, "", "", priv), filepath.Join(t.TempDir(), "c"))
	})

	t.Run("wrong password", func(t *testing.T) {
		r := gitHTTP(t, s, "GET", info(priv, "git-upload-pack"), owner.Username, "glpat-not-a-real-token")
		checkGitAnswer(t, r, http.StatusUnauthorized, gitMsgAccessDenied)
		// Even on a public project a bad password is refused, not ignored.
		r = gitHTTP(t, s, "GET", info(public, "git-upload-pack"), owner.Username, "glpat-not-a-real-token")
		checkGitAnswer(t, r, http.StatusUnauthorized, gitMsgAccessDenied)
		stderr := g.Fail(t, "", "ls-remote", gitURL(s, owner.Username, "glpat-not-a-real-token", priv))
		if !strings.Contains(stderr, gitMsgAccessDenied) && !strings.Contains(stderr, "Authentication failed") {
			t.Errorf("git ls-remote with a wrong password: stderr does not say why:\n%s", stderr)
		}
	})

	t.Run("internal", func(t *testing.T) {
		for _, u := range []User{stranger, reporter, guest} {
			dir := g.Clone(t, gitURL(s, u.Username, u.Token, internal))
			if got := g.Run(t, dir, "rev-parse", "HEAD"); got != second {
				t.Errorf("%s's clone of the internal project: HEAD %s, want %s", u.Username, got, second)
			}
		}
		r := gitHTTP(t, s, "GET", info(internal, "git-upload-pack"), "", "")
		checkGitAnswer(t, r, http.StatusUnauthorized, gitMsgAccessDenied)
		g.Fail(t, "", "clone", gitURL(s, "", "", internal), filepath.Join(t.TempDir(), "c"))
		// Signed in but not a member: reading, not pushing.
		r = gitHTTP(t, s, "GET", info(internal, "git-receive-pack"), stranger.Username, stranger.Token)
		checkGitAnswer(t, r, http.StatusForbidden, gitMsgCannotPush)
	})

	t.Run("protocol v2", func(t *testing.T) {
		url := gitURL(s, owner.Username, owner.Token, priv)
		r := g.exec("", []string{"GIT_TRACE_PACKET=1"}, "-c", "protocol.version=2", "ls-remote", url)
		if r.err != nil {
			t.Fatalf("git -c protocol.version=2 ls-remote: %v\n%s", r.err, r.stderr)
		}
		if !strings.Contains(r.stderr, "< version 2") {
			t.Errorf("the server did not speak protocol v2; packet trace:\n%.3000s", r.stderr)
		}
		want := map[string]string{"refs/heads/main": head, "refs/tags/v1.0": first, "refs/tags/v2.0": tagObject,
			"refs/tags/v2.0^{}": second, "HEAD": head}
		got := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
			sha, ref, _ := strings.Cut(line, "\t")
			got[ref] = sha
		}
		for ref, sha := range want {
			if got[ref] != sha {
				t.Errorf("ls-remote over v2: %s is %q, want %s (all: %v)", ref, got[ref], sha, got)
			}
		}
		// A v2 fetch works too.
		shallow := filepath.Join(t.TempDir(), "v2")
		g.Run(t, "", "-c", "protocol.version=2", "clone", "--quiet", "--depth", "1", url, shallow)
		if n := gitRevCount(t, g, shallow); n != 1 {
			t.Errorf("v2 shallow clone has %d commits, want 1", n)
		}
	})

	t.Run("without .git", func(t *testing.T) {
		url := strings.TrimSuffix(gitURL(s, owner.Username, owner.Token, priv), ".git")
		dir := g.Clone(t, url)
		if got := g.Run(t, dir, "rev-parse", "HEAD"); got != head {
			t.Errorf("clone without .git: HEAD %s, want %s", got, head)
		}
		r := gitHTTP(t, s, "GET", "/"+priv+"/info/refs?service=git-upload-pack", reporter.Username, reporter.Token)
		if r.Status != http.StatusOK || r.Header.Get("Content-Type") != "application/x-git-upload-pack-advertisement" {
			t.Errorf("%s: status %d, Content-Type %q; want 200 and the upload-pack advertisement", r.req, r.Status, r.Header.Get("Content-Type"))
		}
	})

	t.Run("repository API", func(t *testing.T) {
		p := api + "/projects/" + itoa(privID) + "/repository"

		branches := s.Expect(t, "GET", p+"/branches", reporter.Token, nil, http.StatusOK).List(t)
		if len(branches) != 1 || branches[0]["name"] != "main" || branches[0]["default"] != true {
			t.Fatalf("branches: %v, want main only, the default", branches)
		}
		if c, _ := branches[0]["commit"].(map[string]any); c == nil || c["id"] != head {
			t.Errorf("branch main's commit: %v, want %s", branches[0]["commit"], head)
		}

		tags := s.Expect(t, "GET", p+"/tags", reporter.Token, nil, http.StatusOK).List(t)
		byName := map[string]map[string]any{}
		for _, tag := range tags {
			byName[str(t, tag, "name")] = tag
		}
		if len(tags) != 2 || byName["v1.0"] == nil || byName["v2.0"] == nil {
			t.Fatalf("tags: %v, want v1.0 and v2.0", tags)
		}
		// A lightweight tag targets its commit; an annotated one its tag
		// object, and carries its message; both show the tagged commit.
		for _, c := range []struct{ name, target, commit, message string }{
			{"v1.0", first, first, ""},
			{"v2.0", tagObject, second, "Release 2.0\n\nNotes."},
		} {
			tag := byName[c.name]
			if tag["target"] != c.target {
				t.Errorf("tag %s: target %v, want %s", c.name, tag["target"], c.target)
			}
			if cm, _ := tag["commit"].(map[string]any); cm == nil || cm["id"] != c.commit {
				t.Errorf("tag %s: commit %v, want %s", c.name, tag["commit"], c.commit)
			}
			if got, _ := tag["message"].(string); strings.TrimSpace(got) != c.message {
				t.Errorf("tag %s: message %q, want %q", c.name, tag["message"], c.message)
			}
		}

		c := s.Expect(t, "GET", p+"/commits/"+second, reporter.Token, nil, http.StatusOK).Object(t)
		if str(t, c, "id") != second || str(t, c, "short_id") != second[:8] || str(t, c, "title") != "Add the guide" {
			t.Errorf("commit %s: id %v, short_id %v, title %q", second, c["id"], c["short_id"], c["title"])
		}
		if parents, _ := c["parent_ids"].([]any); len(parents) != 1 || parents[0] != first {
			t.Errorf("commit %s: parent_ids %v, want [%s]", second, c["parent_ids"], first)
		}
		c = s.Expect(t, "GET", p+"/commits/"+first, reporter.Token, nil, http.StatusOK).Object(t)
		if parents, ok := c["parent_ids"].([]any); !ok || len(parents) != 0 {
			t.Errorf("root commit: parent_ids %v, want []", c["parent_ids"])
		}
		// A branch name works as the sha.
		c = s.Expect(t, "GET", p+"/commits/main", reporter.Token, nil, http.StatusOK).Object(t)
		if c["id"] != head {
			t.Errorf("commits/main: id %v, want %s", c["id"], head)
		}
		r := s.Do(t, "GET", p+"/commits/"+strings.Repeat("0", 40), reporter.Token, nil)
		checkStatus(t, r, http.StatusNotFound, "Commit")

		r = s.Expect(t, "GET", p+"/files/"+url.PathEscape("docs/guide.md")+"/raw?ref=main", reporter.Token, nil, http.StatusOK)
		if string(r.Body) != guide {
			t.Errorf("raw docs/guide.md: %q, want %q", r.Body, guide)
		}
		r = s.Expect(t, "GET", p+"/files/README.md/raw?ref=v1.0", reporter.Token, nil, http.StatusOK)
		if string(r.Body) != readme {
			t.Errorf("raw README.md at v1.0: %q, want %q", r.Body, readme)
		}
		// docs/guide.md did not exist at v1.0.
		r = s.Do(t, "GET", p+"/files/"+url.PathEscape("docs/guide.md")+"/raw?ref=v1.0", reporter.Token, nil)
		checkStatus(t, r, http.StatusNotFound, "File")
		r = s.Do(t, "GET", p+"/files/"+url.PathEscape("docs/missing.md")+"/raw?ref=main", reporter.Token, nil)
		checkStatus(t, r, http.StatusNotFound, "File")

		// A guest sees the project but not its code; a non-member sees
		// nothing; anonymous neither.
		for _, ep := range []string{"/branches", "/tags", "/commits/" + second, "/files/README.md/raw?ref=main"} {
			checkStatus(t, s.Do(t, "GET", p+ep, guest.Token, nil), http.StatusForbidden, "")
			checkStatus(t, s.Do(t, "GET", p+ep, stranger.Token, nil), http.StatusNotFound, "Project")
			checkStatus(t, s.Do(t, "GET", p+ep, "", nil), http.StatusNotFound, "Project")
		}
	})

	// Last: it deletes a project.
	t.Run("pending deletion", func(t *testing.T) {
		goneID, gone := s.CreateProject(t, group, "doomed", "public")
		work := g.Init(t, gitURL(s, owner.Username, owner.Token, gone))
		g.Commit(t, work, "Doomed", map[string]string{"a.txt": "a\n"})
		g.Run(t, work, "push", "--quiet", "origin", "main")
		g.Clone(t, gitURL(s, "", "", gone))

		s.Expect(t, "DELETE", api+"/projects/"+itoa(goneID), owner.Token, nil, http.StatusAccepted)
		g.Fail(t, "", "clone", gitURL(s, owner.Username, owner.Token, gone), filepath.Join(t.TempDir(), "c"))
		g.Fail(t, "", "clone", gitURL(s, "", "", gone), filepath.Join(t.TempDir(), "c"))
		r := gitHTTP(t, s, "GET", info(gone, "git-upload-pack"), owner.Username, owner.Token)
		checkGitAnswer(t, r, http.StatusNotFound, gitMsgNotFound)
		r = gitHTTP(t, s, "GET", info(gone, "git-upload-pack"), "", "")
		checkGitAnswer(t, r, http.StatusUnauthorized, gitMsgAccessDenied)
		r = gitHTTP(t, s, "GET", info(gone, "git-receive-pack"), owner.Username, owner.Token)
		checkGitAnswer(t, r, http.StatusNotFound, gitMsgNotFound)
	})
}
