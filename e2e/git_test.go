package e2e

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// GitLab's answers on the git transport, as the server must give them.
const (
	gitMsgAccessDenied = "HTTP Basic: Access denied"
	gitMsgNotFound     = "The project you were looking for could not be found or you don't have permission to view it."
	gitMsgCannotPush   = "You are not allowed to upload code."
)

// checkGitAnswer checks a refusal on the git transport: status and plain
// text body, and for 401 GitLab's Basic challenge.
func checkGitAnswer(t testing.TB, r *testserver.Resp, status int, msg string) {
	t.Helper()
	if r.Status != status {
		t.Errorf("%s: status %d, want %d; body: %q", r.Req, r.Status, status, r.Body)
		return
	}
	if got := strings.TrimSpace(string(r.Body)); got != msg {
		t.Errorf("%s: body %q, want %q", r.Req, got, msg)
	}
	if status == http.StatusUnauthorized {
		if got := r.Header.Get("WWW-Authenticate"); got != `Basic realm="GitLab"` {
			t.Errorf("%s: WWW-Authenticate %q, want %q", r.Req, got, `Basic realm="GitLab"`)
		}
	}
}

// revCount is `git rev-list --count HEAD` in dir.
func gitRevCount(t testing.TB, g *testserver.Git, dir string) int {
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

func testGitAccess(t *testing.T, s *testserver.Server) {
	g := testserver.NewGit(t)
	group := s.CreateGroup(t, "gitgrp", 0, "public")
	privID, priv := s.CreateProject(t, group, "secret", "private").IDPath()
	_, internal := s.CreateProject(t, group, "inside", "internal").IDPath()
	_, public := s.CreateProject(t, group, "open", "public").IDPath()
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
	work := g.Init(t, s.GitURL(owner.Username, owner.Token, priv))
	first := g.Commit(t, work, "Initial commit", map[string]string{"README.md": readme})
	second := g.Commit(t, work, "Add the guide\n\nLonger description.", map[string]string{"docs/guide.md": guide})
	g.Run(t, work, "tag", "v1.0", first)
	g.Run(t, work, "tag", "-a", "-m", "Release 2.0\n\nNotes.", "v2.0", second)
	tagObject := g.Run(t, work, "rev-parse", "refs/tags/v2.0")
	g.Run(t, work, "push", "--quiet", "origin", "main", "v1.0", "v2.0")
	for _, p := range []string{internal, public} {
		g.Run(t, work, "push", "--quiet", s.GitURL(owner.Username, owner.Token, p), "main")
	}
	head := second

	t.Run("owner", func(t *testing.T) {
		dir := g.Clone(t, s.GitURL(owner.Username, owner.Token, priv))
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
		shallow := g.Clone(t, s.GitURL(owner.Username, owner.Token, priv), "--depth", "1")
		if n := gitRevCount(t, g, shallow); n != 1 {
			t.Errorf("--depth 1 clone has %d commits, want 1", n)
		}
		if got := g.Run(t, shallow, "rev-parse", "HEAD"); got != head {
			t.Errorf("shallow clone HEAD %s, want %s", got, head)
		}
	})

	t.Run("developer", func(t *testing.T) {
		url := s.GitURL(dev.Username, dev.Token, priv)
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
		url := s.GitURL(reporter.Username, reporter.Token, priv)
		dir := g.Clone(t, url)
		g.Commit(t, dir, "Reporter's change", map[string]string{"rep.txt": "nope\n"})
		stderr := g.Fail(t, dir, "push", "origin", "main")
		if !strings.Contains(stderr, gitMsgCannotPush) {
			t.Errorf("the reporter's git push stderr lacks %q:\n%s", gitMsgCannotPush, stderr)
		}
		r := s.GitHTTP(t, "GET", info(priv, "git-receive-pack"), reporter.Username, reporter.Token)
		checkGitAnswer(t, r, http.StatusForbidden, gitMsgCannotPush)
		// The refused push changed nothing.
		if got := g.Run(t, "", "ls-remote", url, "refs/heads/main"); !strings.HasPrefix(got, head+"\t") {
			t.Errorf("main after the refused push: %q, want %s", got, head)
		}
		// A push straight to git-receive-pack (skipping the advertisement)
		// is refused as well.
		r = s.GitHTTP(t, "POST", "/"+priv+".git/git-receive-pack", reporter.Username, reporter.Token)
		checkGitAnswer(t, r, http.StatusForbidden, gitMsgCannotPush)
	})

	t.Run("non-member", func(t *testing.T) {
		r := s.GitHTTP(t, "GET", info(priv, "git-upload-pack"), stranger.Username, stranger.Token)
		checkGitAnswer(t, r, http.StatusNotFound, gitMsgNotFound)
		r = s.GitHTTP(t, "GET", info(priv, "git-receive-pack"), stranger.Username, stranger.Token)
		checkGitAnswer(t, r, http.StatusNotFound, gitMsgNotFound)
		// The same answer as for a project that does not exist.
		r = s.GitHTTP(t, "GET", info("gitgrp/nothing-here", "git-upload-pack"), stranger.Username, stranger.Token)
		checkGitAnswer(t, r, http.StatusNotFound, gitMsgNotFound)
		stderr := g.Fail(t, "", "clone", s.GitURL(stranger.Username, stranger.Token, priv), filepath.Join(t.TempDir(), "c"))
		if !strings.Contains(stderr, gitMsgNotFound) {
			t.Errorf("the non-member's git clone stderr lacks the server's message:\n%s", stderr)
		}
		// A guest sees the project but may not read its code.
		r = s.GitHTTP(t, "GET", info(priv, "git-upload-pack"), guest.Username, guest.Token)
		checkGitAnswer(t, r, http.StatusForbidden, "You are not allowed to download code from this project.")
		g.Fail(t, "", "clone", s.GitURL(guest.Username, guest.Token, priv), filepath.Join(t.TempDir(), "c"))
	})

	t.Run("anonymous", func(t *testing.T) {
		dir := g.Clone(t, s.GitURL("", "", public))
		if got := g.Run(t, dir, "rev-parse", "HEAD"); got != second {
			t.Errorf("anonymous clone of the public project: HEAD %s, want %s", got, second)
		}
		g.Commit(t, dir, "Anonymous change", map[string]string{"anon.txt": "x\n"})
		g.Fail(t, dir, "push", "origin", "main")
		r := s.GitHTTP(t, "GET", info(public, "git-receive-pack"), "", "")
		checkGitAnswer(t, r, http.StatusUnauthorized, gitMsgAccessDenied)
		r = s.GitHTTP(t, "POST", "/"+public+".git/git-receive-pack", "", "")
		checkGitAnswer(t, r, http.StatusUnauthorized, gitMsgAccessDenied)

		// A private project asks for credentials and reveals nothing: the
		// same answer as for a project that does not exist.
		r = s.GitHTTP(t, "GET", info(priv, "git-upload-pack"), "", "")
		checkGitAnswer(t, r, http.StatusUnauthorized, gitMsgAccessDenied)
		r = s.GitHTTP(t, "GET", info("gitgrp/nothing-here", "git-upload-pack"), "", "")
		checkGitAnswer(t, r, http.StatusUnauthorized, gitMsgAccessDenied)
		g.Fail(t, "", "clone", s.GitURL("", "", priv), filepath.Join(t.TempDir(), "c"))
	})

	t.Run("wrong password", func(t *testing.T) {
		r := s.GitHTTP(t, "GET", info(priv, "git-upload-pack"), owner.Username, "glpat-not-a-real-token")
		checkGitAnswer(t, r, http.StatusUnauthorized, gitMsgAccessDenied)
		// Even on a public project a bad password is refused, not ignored.
		r = s.GitHTTP(t, "GET", info(public, "git-upload-pack"), owner.Username, "glpat-not-a-real-token")
		checkGitAnswer(t, r, http.StatusUnauthorized, gitMsgAccessDenied)
		stderr := g.Fail(t, "", "ls-remote", s.GitURL(owner.Username, "glpat-not-a-real-token", priv))
		if !strings.Contains(stderr, gitMsgAccessDenied) && !strings.Contains(stderr, "Authentication failed") {
			t.Errorf("git ls-remote with a wrong password: stderr does not say why:\n%s", stderr)
		}
	})

	t.Run("internal", func(t *testing.T) {
		for _, u := range []testserver.User{stranger, reporter, guest} {
			dir := g.Clone(t, s.GitURL(u.Username, u.Token, internal))
			if got := g.Run(t, dir, "rev-parse", "HEAD"); got != second {
				t.Errorf("%s's clone of the internal project: HEAD %s, want %s", u.Username, got, second)
			}
		}
		r := s.GitHTTP(t, "GET", info(internal, "git-upload-pack"), "", "")
		checkGitAnswer(t, r, http.StatusUnauthorized, gitMsgAccessDenied)
		g.Fail(t, "", "clone", s.GitURL("", "", internal), filepath.Join(t.TempDir(), "c"))
		// Signed in but not a member: reading, not pushing.
		r = s.GitHTTP(t, "GET", info(internal, "git-receive-pack"), stranger.Username, stranger.Token)
		checkGitAnswer(t, r, http.StatusForbidden, gitMsgCannotPush)
	})

	t.Run("protocol v2", func(t *testing.T) {
		url := s.GitURL(owner.Username, owner.Token, priv)
		r := g.Exec("", []string{"GIT_TRACE_PACKET=1"}, "-c", "protocol.version=2", "ls-remote", url)
		if r.Err != nil {
			t.Fatalf("git -c protocol.version=2 ls-remote: %v\n%s", r.Err, r.Stderr)
		}
		if !strings.Contains(r.Stderr, "< version 2") {
			t.Errorf("the server did not speak protocol v2; packet trace:\n%.3000s", r.Stderr)
		}
		want := map[string]string{"refs/heads/main": head, "refs/tags/v1.0": first, "refs/tags/v2.0": tagObject,
			"refs/tags/v2.0^{}": second, "HEAD": head}
		got := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
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
		url := strings.TrimSuffix(s.GitURL(owner.Username, owner.Token, priv), ".git")
		dir := g.Clone(t, url)
		if got := g.Run(t, dir, "rev-parse", "HEAD"); got != head {
			t.Errorf("clone without .git: HEAD %s, want %s", got, head)
		}
		r := s.GitHTTP(t, "GET", "/"+priv+"/info/refs?service=git-upload-pack", reporter.Username, reporter.Token)
		if r.Status != http.StatusOK || r.Header.Get("Content-Type") != "application/x-git-upload-pack-advertisement" {
			t.Errorf("%s: status %d, Content-Type %q; want 200 and the upload-pack advertisement", r.Req, r.Status, r.Header.Get("Content-Type"))
		}
	})

	t.Run("repository API", func(t *testing.T) {
		p := api + "/projects/" + testserver.Itoa(privID) + "/repository"

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
			byName[testserver.Str(t, tag, "name")] = tag
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
		if testserver.Str(t, c, "id") != second || testserver.Str(t, c, "short_id") != second[:8] || testserver.Str(t, c, "title") != "Add the guide" {
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
		goneID, gone := s.CreateProject(t, group, "doomed", "public").IDPath()
		work := g.Init(t, s.GitURL(owner.Username, owner.Token, gone))
		g.Commit(t, work, "Doomed", map[string]string{"a.txt": "a\n"})
		g.Run(t, work, "push", "--quiet", "origin", "main")
		g.Clone(t, s.GitURL("", "", gone))

		s.Expect(t, "DELETE", api+"/projects/"+testserver.Itoa(goneID), owner.Token, nil, http.StatusAccepted)
		g.Fail(t, "", "clone", s.GitURL(owner.Username, owner.Token, gone), filepath.Join(t.TempDir(), "c"))
		g.Fail(t, "", "clone", s.GitURL("", "", gone), filepath.Join(t.TempDir(), "c"))
		r := s.GitHTTP(t, "GET", info(gone, "git-upload-pack"), owner.Username, owner.Token)
		checkGitAnswer(t, r, http.StatusNotFound, gitMsgNotFound)
		r = s.GitHTTP(t, "GET", info(gone, "git-upload-pack"), "", "")
		checkGitAnswer(t, r, http.StatusUnauthorized, gitMsgAccessDenied)
		r = s.GitHTTP(t, "GET", info(gone, "git-receive-pack"), owner.Username, owner.Token)
		checkGitAnswer(t, r, http.StatusNotFound, gitMsgNotFound)
	})
}
