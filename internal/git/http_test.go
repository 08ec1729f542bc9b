package git_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/access"
	"github.com/ciwarden/ciwarden/internal/accounts"
	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/gate"
	"github.com/ciwarden/ciwarden/internal/git"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/projects"
	"github.com/ciwarden/ciwarden/internal/store"
	"github.com/ciwarden/ciwarden/internal/testdb"
)

// gitCLI runs the git command line, isolated from the user's and the
// system's configuration.
type gitCLI struct {
	t    *testing.T
	home string
}

func newGitCLI(t *testing.T) *gitCLI {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	return &gitCLI{t: t, home: t.TempDir()}
}

func (c *gitCLI) try(dir string, stdin io.Reader, args ...string) (string, string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Stdin = stdin
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + c.home, "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0", "LC_ALL=C",
		"GIT_ASKPASS=", "SSH_ASKPASS=",
		"GIT_AUTHOR_NAME=Alice", "GIT_AUTHOR_EMAIL=alice@example.com",
		"GIT_COMMITTER_NAME=Alice", "GIT_COMMITTER_EMAIL=alice@example.com",
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return strings.TrimSpace(stdout.String()), stderr.String(), err
}

func (c *gitCLI) run(dir string, args ...string) string {
	c.t.Helper()
	out, stderr, err := c.try(dir, nil, args...)
	if err != nil {
		c.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return out
}

// commit writes files and commits them, returning the new SHA.
func (c *gitCLI) commit(dir, msg string, files map[string]string) string {
	c.t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			c.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			c.t.Fatal(err)
		}
	}
	c.run(dir, "add", "-A")
	c.run(dir, "commit", "--quiet", "--allow-empty", "-m", msg)
	return c.run(dir, "rev-parse", "HEAD")
}

// pushRecorder is an OnPush that keeps every call.
type pushRecorder struct {
	mu     sync.Mutex
	pushes []git.Push
	errs   []string
}

func (r *pushRecorder) OnPush(ctx context.Context, p git.Push) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ctx.Err() != nil {
		r.errs = append(r.errs, "OnPush called with a done context: "+ctx.Err().Error())
	}
	if _, ok := ctx.Deadline(); !ok {
		r.errs = append(r.errs, "OnPush context has no deadline")
	}
	r.pushes = append(r.pushes, p)
}

// take returns the pushes recorded since the last take.
func (r *pushRecorder) take(t *testing.T) []git.Push {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.errs {
		t.Error(e)
	}
	p := r.pushes
	r.pushes, r.errs = nil, nil
	return p
}

type env struct {
	t        *testing.T
	g        *gitCLI
	ts       *httptest.Server
	st       *store.Store
	repos    *git.Repos
	rec      *pushRecorder
	project  *model.Project
	alice    *model.User
	tokens   map[string]string // alice (Owner), bob (Reporter), carol (no membership), aliceRO (read_api)
	repoPath string            // team/sub/app
}

func ptr[T any](v T) *T { return &v }

// newEnv builds a git.Handler over a real store and real repositories,
// with a private project team/sub/app owned (through its group) by alice.
func newEnv(t *testing.T) *env {
	return newEnvRoot(t, filepath.Join(t.TempDir(), "repositories"))
}

func newEnvRoot(t *testing.T, root string) *env {
	t.Helper()
	ctx := context.Background()
	g := newGitCLI(t)
	st, err := store.Open(ctx, testdb.URL(t, "sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	repos, err := git.NewRepos(root)
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return time.Now().UTC() }
	log := slog.New(slog.DiscardHandler)
	acc := &accounts.Service{Store: st, Now: now}
	proj := &projects.Service{Store: st, Now: now, Log: log, Repos: repos}

	e := &env{t: t, g: g, st: st, repos: repos, rec: &pushRecorder{}, tokens: map[string]string{}, repoPath: "team/sub/app"}
	users := map[string]*model.User{}
	for _, name := range []string{"alice", "bob", "carol"} {
		u, err := acc.CreateUser(ctx, accounts.NewUser{Username: name, Name: name, Email: name + "@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		users[name] = u
		_, secret, err := acc.CreateToken(ctx, u.ID, accounts.NewToken{Name: "git", Scopes: []string{model.ScopeAPI}})
		if err != nil {
			t.Fatal(err)
		}
		e.tokens[name] = secret
	}
	_, secret, err := acc.CreateToken(ctx, users["alice"].ID, accounts.NewToken{Name: "ro", Scopes: []string{model.ScopeReadAPI}})
	if err != nil {
		t.Fatal(err)
	}
	e.tokens["aliceRO"] = secret
	_, secret, err = acc.CreateToken(ctx, users["carol"].ID, accounts.NewToken{Name: "ro", Scopes: []string{model.ScopeReadAPI}})
	if err != nil {
		t.Fatal(err)
	}
	e.tokens["carolRO"] = secret
	e.alice = users["alice"]

	team, err := proj.CreateGroup(ctx, e.alice, nil, projects.GroupInput{Name: ptr("Team"), Path: ptr("team")})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := proj.CreateGroup(ctx, e.alice, team, projects.GroupInput{Name: ptr("Sub"), Path: ptr("sub")})
	if err != nil {
		t.Fatal(err)
	}
	e.project, err = proj.CreateProject(ctx, e.alice, sub, projects.ProjectInput{Name: ptr("App"), Path: ptr("app")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := proj.AddMember(ctx, model.SourceProject, e.project.ID, projects.MemberInput{
		UserID: users["bob"].ID, AccessLevel: model.Reporter, MayManageOwners: true, ActorID: e.alice.ID,
	}); err != nil {
		t.Fatal(err)
	}

	h := &git.Handler{Repos: repos, Log: log, OnPush: e.rec.OnPush}
	gt := &gate.Gate{Auth: &auth.Authenticator{Store: st, Now: time.Now}, Access: &access.Authorizer{Store: st}, Store: st, Log: log}
	e.ts = httptest.NewServer(git.Dispatcher(h.Routes(), gt, nil))
	t.Cleanup(e.ts.Close)
	return e
}

// url is the clone URL of path with who's token (no credentials for "").
func (e *env) url(who, path string) string {
	u, _ := url.Parse(e.ts.URL + "/" + path)
	if who != "" {
		u.User = url.UserPassword("oauth2", e.tokens[who])
	}
	return u.String()
}

// request sends one HTTP request to the handler as who.
func (e *env) request(who, method, path string, body io.Reader, header map[string]string) (int, http.Header, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.ts.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if who != "" {
		req.SetBasicAuth("oauth2", e.tokens[who])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func (e *env) refs() map[string]string {
	e.t.Helper()
	refs, err := e.repos.Refs(context.Background(), e.project.ID, "refs/")
	if err != nil {
		e.t.Fatal(err)
	}
	m := map[string]string{}
	for _, r := range refs {
		m[r.Name] = r.SHA
	}
	return m
}

func sortUpdates(u []git.RefUpdate) []git.RefUpdate {
	u = slices.Clone(u)
	slices.SortFunc(u, func(a, b git.RefUpdate) int { return strings.Compare(a.Ref, b.Ref) })
	return u
}

// expectPush checks exactly one OnPush call happened, by alice on the
// project, with the given updates in any order.
func (e *env) expectPush(step string, want ...git.RefUpdate) {
	e.t.Helper()
	pushes := e.rec.take(e.t)
	if len(pushes) != 1 {
		e.t.Fatalf("%s: %d OnPush calls, want 1: %+v", step, len(pushes), pushes)
	}
	p := pushes[0]
	if p.Project == nil || p.Project.ID != e.project.ID {
		e.t.Errorf("%s: OnPush project %+v, want ID %d", step, p.Project, e.project.ID)
	}
	if p.Pusher == nil || p.Pusher.User == nil || p.Pusher.User.ID != e.alice.ID {
		e.t.Errorf("%s: OnPush pusher %+v, want alice", step, p.Pusher)
	}
	if got := sortUpdates(p.Updates); !reflect.DeepEqual(got, sortUpdates(want)) {
		e.t.Errorf("%s: OnPush updates\n got %+v\nwant %+v", step, got, sortUpdates(want))
	}
}

func (e *env) expectNoPush(step string) {
	e.t.Helper()
	if pushes := e.rec.take(e.t); len(pushes) != 0 {
		e.t.Errorf("%s: OnPush called %d times, want none: %+v", step, len(pushes), pushes)
	}
}

func TestPushReportsAppliedUpdates(t *testing.T) {
	e := newEnv(t)
	g := e.g
	Z := git.ZeroSHA
	work := filepath.Join(t.TempDir(), "work")
	g.run("", "clone", "--quiet", e.url("alice", e.repoPath+".git"), work)

	// A new branch.
	c1 := g.commit(work, "first", map[string]string{"README.md": "hello\n"})
	g.run(work, "push", "--quiet", "origin", "main")
	e.expectPush("new branch", git.RefUpdate{Ref: "refs/heads/main", Old: Z, New: c1})

	// A fast-forward, through the URL without .git.
	g.run(work, "remote", "set-url", "origin", e.url("alice", e.repoPath))
	c2 := g.commit(work, "second", map[string]string{"README.md": "hello again\n"})
	g.run(work, "push", "--quiet", "origin", "main")
	e.expectPush("fast-forward", git.RefUpdate{Ref: "refs/heads/main", Old: c1, New: c2})

	// Several refs in one push.
	g.run(work, "branch", "b1", c1)
	g.run(work, "branch", "b2", c2)
	c3 := g.commit(work, "third", map[string]string{"x.txt": "x\n"})
	g.run(work, "push", "--quiet", "origin", "main", "b1", "b2")
	e.expectPush("several refs",
		git.RefUpdate{Ref: "refs/heads/main", Old: c2, New: c3},
		git.RefUpdate{Ref: "refs/heads/b1", Old: Z, New: c1},
		git.RefUpdate{Ref: "refs/heads/b2", Old: Z, New: c2})

	// Tags: annotated (the tag object is the new value) and lightweight.
	g.run(work, "tag", "-a", "v1", "-m", "version 1", c2)
	g.run(work, "tag", "light", c1)
	tagObj := g.run(work, "rev-parse", "v1")
	g.run(work, "push", "--quiet", "origin", "v1", "light")
	e.expectPush("tags",
		git.RefUpdate{Ref: "refs/tags/v1", Old: Z, New: tagObj},
		git.RefUpdate{Ref: "refs/tags/light", Old: Z, New: c1})

	// Deletions are reported with New = ZeroSHA.
	g.run(work, "push", "--quiet", "origin", "--delete", "light", "b2")
	e.expectPush("deletions",
		git.RefUpdate{Ref: "refs/tags/light", Old: c1, New: Z},
		git.RefUpdate{Ref: "refs/heads/b2", Old: c2, New: Z})

	// Nothing to push: no call.
	g.run(work, "push", "--quiet", "origin", "main")
	e.expectNoPush("up to date")

	// A non-fast-forward refused by the server is not reported.
	g.run(e.repos.Path(e.project.ID), "config", "receive.denyNonFastForwards", "true")
	g.run(work, "reset", "--quiet", "--hard", c1)
	c4 := g.commit(work, "diverged", map[string]string{"y.txt": "y\n"})
	if _, stderr, err := g.try(work, nil, "push", "--force", "origin", "main"); err == nil {
		t.Fatalf("forced non-fast-forward push succeeded:\n%s", stderr)
	}
	e.expectNoPush("rejected non-fast-forward")
	if got := e.refs()["refs/heads/main"]; got != c3 {
		t.Fatalf("main = %s after a refused push, want %s", got, c3)
	}

	// In a push where one ref is refused and another accepted, only the
	// accepted one is reported. (main unprotected: a protected ref's
	// refusal refuses the whole push, as GitLab's hook does; git's own
	// refusal is per ref.)
	if err := e.st.RemoveProtectedRef(context.Background(), e.project.ID, model.RefBranch, "main"); err != nil {
		t.Fatal(err)
	}
	if _, stderr, err := g.try(work, nil, "push", "--force", "origin", "main", "HEAD:refs/heads/ok"); err == nil {
		t.Fatalf("partly refused push succeeded:\n%s", stderr)
	}
	e.expectPush("partly refused", git.RefUpdate{Ref: "refs/heads/ok", Old: Z, New: c4})

	// refs/pipelines/* belong to the server: refused, not reported.
	if _, stderr, err := g.try(work, nil, "push", "origin", "HEAD:refs/pipelines/1"); err == nil {
		t.Fatalf("push to refs/pipelines succeeded:\n%s", stderr)
	}
	e.expectNoPush("hidden ref")
	if _, ok := e.refs()["refs/pipelines/1"]; ok {
		t.Fatal("refs/pipelines/1 was created by a push")
	}

	// The refs the server holds are what was reported.
	want := map[string]string{"refs/heads/main": c3, "refs/heads/b1": c1, "refs/heads/ok": c4, "refs/tags/v1": tagObj}
	if got := e.refs(); !reflect.DeepEqual(got, want) {
		t.Errorf("server refs = %v\nwant %v", got, want)
	}
}

func TestClone(t *testing.T) {
	e := newEnv(t)
	g := e.g
	work := filepath.Join(t.TempDir(), "work")
	g.run("", "clone", "--quiet", e.url("alice", e.repoPath+".git"), work)
	c1 := g.commit(work, "one", map[string]string{"a.txt": "1\n"})
	c2 := g.commit(work, "two", map[string]string{"a.txt": "2\n"})
	g.run(work, "push", "--quiet", "origin", "main")
	e.rec.take(t)

	for _, tc := range []struct {
		name, who, path string
		args            []string
	}{
		{"owner, .git, protocol v2", "alice", e.repoPath + ".git", []string{"-c", "protocol.version=2"}},
		{"owner, no .git, protocol v0", "alice", e.repoPath, []string{"-c", "protocol.version=0"}},
		{"owner, protocol v1", "alice", e.repoPath + ".git", []string{"-c", "protocol.version=1"}},
		{"reporter", "bob", e.repoPath + ".git", nil},
		{"read_api token", "aliceRO", e.repoPath + ".git", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "clone")
			args := append(slices.Clone(tc.args), "clone", "--quiet", e.url(tc.who, tc.path), dir)
			g.run("", args...)
			if got := g.run(dir, "rev-parse", "HEAD"); got != c2 {
				t.Errorf("HEAD = %s, want %s", got, c2)
			}
			if got := g.run(dir, "rev-list", "--count", "HEAD"); got != "2" {
				t.Errorf("%s commits, want 2", got)
			}
		})
	}
	t.Run("shallow", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "clone")
		g.run("", "clone", "--quiet", "--depth", "1", e.url("alice", e.repoPath+".git"), dir)
		if got := g.run(dir, "rev-list", "--count", "HEAD"); got != "1" {
			t.Errorf("shallow clone has %s commits, want 1", got)
		}
		g.run(dir, "fetch", "--quiet", "--unshallow")
		if got := g.run(dir, "rev-parse", "HEAD~1"); got != c1 {
			t.Errorf("after unshallow HEAD~1 = %s, want %s", got, c1)
		}
	})
	t.Run("partial", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "clone")
		g.run("", "clone", "--quiet", "--filter=blob:none", e.url("alice", e.repoPath+".git"), dir)
		if got, _ := os.ReadFile(filepath.Join(dir, "a.txt")); string(got) != "2\n" {
			t.Errorf("a.txt = %q", got)
		}
	})
	t.Run("refused", func(t *testing.T) {
		for _, who := range []string{"", "carol", "carolRO"} {
			dir := filepath.Join(t.TempDir(), "clone")
			if _, stderr, err := g.try("", nil, "clone", "--quiet", e.url(who, e.repoPath+".git"), dir); err == nil {
				t.Errorf("clone as %q succeeded:\n%s", who, stderr)
			}
		}
	})
	e.expectNoPush("clones")
}

func TestPushRefused(t *testing.T) {
	e := newEnv(t)
	g := e.g
	work := filepath.Join(t.TempDir(), "work")
	g.run("", "clone", "--quiet", e.url("alice", e.repoPath+".git"), work)
	g.commit(work, "one", map[string]string{"a.txt": "1\n"})
	for _, who := range []string{"", "bob", "carol", "aliceRO"} {
		if _, stderr, err := g.try(work, nil, "push", e.url(who, e.repoPath+".git"), "main"); err == nil {
			t.Errorf("push as %q succeeded:\n%s", who, stderr)
		}
	}
	e.expectNoPush("refused pushes")
	if refs := e.refs(); len(refs) != 0 {
		t.Errorf("refused pushes left refs %v", refs)
	}
}

func TestHandlerResponses(t *testing.T) {
	e := newEnv(t)
	p := "/" + e.repoPath + ".git"
	const (
		denied    = "HTTP Basic: Access denied\n"
		notFound  = "The project you were looking for could not be found or you don't have permission to view it.\n"
		cannotPsh = "You are not allowed to upload code.\n"
	)
	for _, tc := range []struct {
		name, who, method, path string
		status                  int
		body                    string
	}{
		{"advertise upload-pack", "alice", "GET", p + "/info/refs?service=git-upload-pack", 200, ""},
		{"advertise receive-pack", "alice", "GET", p + "/info/refs?service=git-receive-pack", 200, ""},
		{"wrong method: GET upload-pack", "alice", "GET", p + "/git-upload-pack", 405, "Method not allowed.\n"},
		{"wrong method: GET receive-pack", "alice", "GET", p + "/git-receive-pack", 405, "Method not allowed.\n"},
		{"wrong method: POST info/refs", "alice", "POST", p + "/info/refs?service=git-upload-pack", 405, "Method not allowed.\n"},
		{"wrong method: PUT receive-pack", "alice", "PUT", p + "/git-receive-pack", 405, "Method not allowed.\n"},
		{"wrong method: HEAD info/refs", "alice", "HEAD", p + "/info/refs?service=git-upload-pack", 405, ""},
		{"dumb protocol", "alice", "GET", p + "/info/refs", 403, "Unsupported git service.\n"},
		{"dumb protocol, anonymous", "", "GET", p + "/info/refs", 403, "Unsupported git service.\n"},
		{"other service", "alice", "GET", p + "/info/refs?service=git-upload-archive", 403, "Unsupported git service.\n"},
		{"not a git request", "alice", "GET", p + "/HEAD", 404, "Not a git request.\n"},
		{"not a git request: objects", "alice", "GET", p + "/objects/info/packs", 404, "Not a git request.\n"},
		{"anonymous", "", "GET", p + "/info/refs?service=git-upload-pack", 401, denied},
		{"anonymous, missing project", "", "GET", "/team/nope.git/info/refs?service=git-upload-pack", 401, denied},
		{"bad token", "nobody", "GET", p + "/info/refs?service=git-upload-pack", 401, denied},
		{"missing project", "alice", "GET", "/team/nope.git/info/refs?service=git-upload-pack", 404, notFound},
		{"non-member", "carol", "GET", p + "/info/refs?service=git-upload-pack", 404, notFound},
		{"non-member push", "carol", "GET", p + "/info/refs?service=git-receive-pack", 404, notFound},
		// A read_api token must not learn more than an api token of the
		// same user: a private project it cannot see is 404, as a missing
		// one.
		{"non-member read_api push", "carolRO", "GET", p + "/info/refs?service=git-receive-pack", 404, notFound},
		{"non-member read_api push, missing project", "carolRO", "GET", "/team/nope.git/info/refs?service=git-receive-pack", 404, notFound},
		{"reporter push", "bob", "GET", p + "/info/refs?service=git-receive-pack", 403, cannotPsh},
		{"reporter push POST", "bob", "POST", p + "/git-receive-pack", 403, cannotPsh},
		{"read_api push", "aliceRO", "GET", p + "/info/refs?service=git-receive-pack", 403, cannotPsh},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, hdr, body := e.request(tc.who, tc.method, tc.path, nil, nil)
			if status != tc.status {
				t.Fatalf("%s %s as %q: %d %q, want %d", tc.method, tc.path, tc.who, status, body, tc.status)
			}
			if tc.body != "" && body != tc.body {
				t.Errorf("body %q, want %q", body, tc.body)
			}
			if status == 401 && hdr.Get("WWW-Authenticate") != `Basic realm="GitLab"` {
				t.Errorf("WWW-Authenticate = %q", hdr.Get("WWW-Authenticate"))
			}
			if status == 200 {
				svc := tc.path[strings.Index(tc.path, "service=")+len("service="):]
				if ct := hdr.Get("Content-Type"); ct != "application/x-"+svc+"-advertisement" {
					t.Errorf("Content-Type = %q", ct)
				}
				if !strings.HasPrefix(body, "001e# service="+svc+"\n0000") && !strings.HasPrefix(body, "001f# service="+svc+"\n0000") {
					t.Errorf("advertisement starts %.40q", body)
				}
			}
		})
	}
	e.expectNoPush("responses")
}

func pkt(s string) string { return fmt.Sprintf("%04x%s", len(s)+4, s) }

func gz(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestReceivePackByHand(t *testing.T) {
	e := newEnv(t)
	g := e.g
	Z := git.ZeroSHA
	work := filepath.Join(t.TempDir(), "work")
	g.run("", "clone", "--quiet", e.url("alice", e.repoPath+".git"), work)
	c1 := g.commit(work, "one", map[string]string{"a.txt": "1\n"})
	g.run(work, "push", "--quiet", "origin", "main")
	e.rec.take(t)
	c2 := g.commit(work, "two", map[string]string{"b.txt": "2\n"})
	packData, stderr, err := func() ([]byte, string, error) {
		cmd := exec.Command("git", "pack-objects", "--revs", "--stdout", "-q")
		cmd.Dir = work
		cmd.Stdin = strings.NewReader(c2 + "\n^" + c1 + "\n")
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		return out.Bytes(), errb.String(), err
	}()
	if err != nil {
		t.Fatalf("pack-objects: %v %s", err, stderr)
	}

	path := "/" + e.repoPath + ".git/git-receive-pack"
	hdr := func(gzipped bool) map[string]string {
		h := map[string]string{"Content-Type": "application/x-git-receive-pack-request", "Accept": "application/x-git-receive-pack-result"}
		if gzipped {
			h["Content-Encoding"] = "gzip"
		}
		return h
	}
	post := func(body []byte, gzipped bool) (int, string) {
		status, h, resp := e.request("alice", "POST", path, bytes.NewReader(body), hdr(gzipped))
		if status == 200 && h.Get("Content-Type") != "application/x-git-receive-pack-result" {
			t.Errorf("Content-Type = %q", h.Get("Content-Type"))
		}
		return status, resp
	}

	t.Run("gzip", func(t *testing.T) {
		body := append([]byte(pkt(Z+" "+c2+" refs/heads/gz\x00report-status agent=test\n")+"0000"), packData...)
		status, resp := post(gz(t, body), true)
		if status != 200 || !strings.Contains(resp, "unpack ok\n") || !strings.Contains(resp, "ok refs/heads/gz\n") {
			t.Fatalf("gzip push: %d %q", status, resp)
		}
		e.expectPush("gzip", git.RefUpdate{Ref: "refs/heads/gz", Old: Z, New: c2})
		if got := e.refs()["refs/heads/gz"]; got != c2 {
			t.Errorf("refs/heads/gz = %q, want %s", got, c2)
		}
	})
	t.Run("plain", func(t *testing.T) {
		body := append([]byte(pkt(c1+" "+c2+" refs/heads/main\x00report-status\n")+"0000"), packData...)
		status, resp := post(body, false)
		if status != 200 || !strings.Contains(resp, "ok refs/heads/main\n") {
			t.Fatalf("plain push: %d %q", status, resp)
		}
		e.expectPush("plain", git.RefUpdate{Ref: "refs/heads/main", Old: c1, New: c2})
	})
	t.Run("gzip deletion without pack", func(t *testing.T) {
		body := []byte(pkt(c2+" "+Z+" refs/heads/gz\x00report-status delete-refs\n") + "0000")
		status, resp := post(gz(t, body), true)
		if status != 200 || !strings.Contains(resp, "ok refs/heads/gz\n") {
			t.Fatalf("deletion: %d %q", status, resp)
		}
		e.expectPush("deletion", git.RefUpdate{Ref: "refs/heads/gz", Old: c2, New: Z})
	})
	t.Run("stale old value", func(t *testing.T) {
		// main is at c2, not c1: git refuses the update.
		body := append([]byte(pkt(c1+" "+c2+" refs/heads/other\x00report-status\n")+pkt(Z+" "+c1+" refs/heads/main\n")+"0000"), packData...)
		status, resp := post(body, false)
		if status != 200 || !strings.Contains(resp, "ng refs/heads/main") {
			t.Fatalf("stale push: %d %q", status, resp)
		}
		e.expectNoPush("stale old value")
	})

	t.Run("stale old value, ref already at the new value", func(t *testing.T) {
		// main is at c2 already; an update c1 -> c2 is refused by git
		// (stale old value, as when two clients push the same commit at
		// once) and so must not be reported even though main holds c2.
		body := []byte(pkt(c1+" "+c2+" refs/heads/main\x00report-status\n") + "0000")
		status, resp := post(body, false)
		if status != 200 || !strings.Contains(resp, "ng refs/heads/main") {
			t.Fatalf("stale push: %d %q", status, resp)
		}
		e.expectNoPush("stale old value, ref already at the new value")
	})

	before := e.refs()
	for _, tc := range []struct {
		name    string
		body    []byte
		gzipped bool
	}{
		{"not pkt-lines", []byte("hello, world"), false},
		{"empty", nil, false},
		{"truncated", []byte(pkt(c1 + " " + c2 + " refs/heads/x\n")[:20]), false},
		{"no flush", []byte(pkt(c1 + " " + c2 + " refs/heads/x\n")), false},
		{"bad SHA length", []byte(pkt(c1[:39]+" "+c2+" refs/heads/x\n") + "0000"), false},
		{"over-long packet", []byte("ffff" + strings.Repeat("a", 100)), false},
		{"gzip of garbage", gz(t, []byte("zzzz")), true},
		{"not gzip", []byte(pkt(Z+" "+c2+" refs/heads/x\n") + "0000"), true},
	} {
		t.Run("malformed/"+tc.name, func(t *testing.T) {
			status, resp := post(tc.body, tc.gzipped)
			if status != http.StatusBadRequest {
				t.Errorf("%d %q, want 400", status, resp)
			}
		})
	}
	e.expectNoPush("malformed bodies")
	if after := e.refs(); !reflect.DeepEqual(before, after) {
		t.Errorf("malformed pushes changed refs: %v -> %v", before, after)
	}
}

// TestRepositoryRoots serves repositories from roots given in other
// spellings than a clean absolute path; Repos works with them, so the
// handler must too.
func TestRepositoryRoots(t *testing.T) {
	for _, tc := range []struct {
		name string
		root func(t *testing.T, dir string) string
	}{
		{"clean absolute", func(_ *testing.T, dir string) string { return filepath.Join(dir, "repositories") }},
		{"trailing slash", func(_ *testing.T, dir string) string { return filepath.Join(dir, "repositories") + "/" }},
		{"dot segment", func(_ *testing.T, dir string) string { return dir + "/./repositories" }},
		{"relative", func(t *testing.T, dir string) string { t.Chdir(dir); return "repositories" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnvRoot(t, tc.root(t, t.TempDir()))
			dir := filepath.Join(t.TempDir(), "clone")
			if _, stderr, err := e.g.try("", nil, "clone", "--quiet", e.url("alice", e.repoPath+".git"), dir); err != nil {
				t.Fatalf("clone with Repos.Root %q: %v\n%s", e.repos.Root, err, stderr)
			}
		})
	}
}
