package testserver

import (
	"bytes"
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Git runs the system git with a private, empty HOME: no global or system
// configuration, no credential helper, never a prompt, no proxy.
type Git struct {
	env []string
}

// NewGit makes a git client; the test fails when git is not on PATH.
func NewGit(t testing.TB) *Git {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatalf("git is not on PATH: %v", err)
	}
	home := t.TempDir()
	var env []string
	for _, kv := range CleanEnv() {
		switch {
		case strings.HasPrefix(kv, "GIT_"), strings.HasPrefix(kv, "HOME="), strings.HasPrefix(kv, "XDG_CONFIG_HOME="),
			strings.HasPrefix(kv, "SSH_ASKPASS="), strings.HasPrefix(kv, "LANG="), strings.HasPrefix(kv, "LC_"),
			strings.HasPrefix(kv, "HTTP_PROXY="), strings.HasPrefix(kv, "http_proxy="),
			strings.HasPrefix(kv, "ALL_PROXY="), strings.HasPrefix(kv, "all_proxy="):
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"), "GIT_TERMINAL_PROMPT=0",
		"GIT_CONFIG_NOSYSTEM=1", "LC_ALL=C", "NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost")
	return &Git{env: env}
}

// GitResult is one git invocation's outcome.
type GitResult struct {
	Args           []string
	Stdout, Stderr string
	Err            error
}

// Exec runs git in dir with extra environment variables, bounded to 90 s.
func (g *Git) Exec(dir string, extraEnv []string, args ...string) GitResult {
	full := append([]string{"-c", "user.name=Test Author", "-c", "user.email=test@example.com",
		"-c", "init.defaultBranch=main", "-c", "advice.detachedHead=false", "-c", "credential.helper="}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", full...)
	cmd.Dir = dir
	cmd.Env = append(append([]string{}, g.env...), extraEnv...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return GitResult{Args: args, Stdout: out.String(), Stderr: errb.String(), Err: err}
}

// Run runs git in dir and fails the test if it fails; it returns stdout,
// trimmed.
func (g *Git) Run(t testing.TB, dir string, args ...string) string {
	t.Helper()
	r := g.Exec(dir, nil, args...)
	if r.Err != nil {
		t.Fatalf("git %s: %v\nstdout:\n%s\nstderr:\n%s", RedactArgs(args), r.Err, r.Stdout, r.Stderr)
	}
	return strings.TrimSpace(r.Stdout)
}

// Fail runs git in dir, fails the test if it succeeds, and returns its
// stderr.
func (g *Git) Fail(t testing.TB, dir string, args ...string) string {
	t.Helper()
	r := g.Exec(dir, nil, args...)
	if r.Err == nil {
		t.Errorf("git %s succeeded, want a failure\nstdout:\n%s\nstderr:\n%s", RedactArgs(args), r.Stdout, r.Stderr)
	}
	return r.Stderr
}

// RedactArgs hides the password of credentialed URLs in a message.
func RedactArgs(args []string) string {
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
func (g *Git) Clone(t testing.TB, url string, extra ...string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "clone")
	g.Run(t, "", append(append([]string{"clone", "--quiet"}, extra...), url, dir)...)
	return dir
}

// Init makes a new repository with origin set to url.
func (g *Git) Init(t testing.TB, url string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "work")
	g.Run(t, "", "init", "--quiet", dir)
	g.Run(t, dir, "remote", "add", "origin", url)
	return dir
}

// Commit writes files into dir, commits everything (removals included)
// and returns the new HEAD.
func (g *Git) Commit(t testing.TB, dir, msg string, files map[string]string) string {
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

// GitURL is the clone URL of a project; user "" leaves out credentials.
func (s *Server) GitURL(user, password, fullPath string) string {
	u, err := url.Parse(s.URL + "/" + fullPath + ".git")
	if err != nil {
		panic(err)
	}
	if user != "" {
		u.User = url.UserPassword(user, password)
	}
	return u.String()
}

// Repo is a local working copy whose origin is a project on the server.
type Repo struct {
	Git *Git
	Dir string
}

// PushCI creates a working copy of the project at fullPath, commits files
// (with the .gitlab-ci.yml) and pushes main as u; it returns the copy and
// the commit.
func (s *Server) PushCI(t testing.TB, fullPath string, u User, files map[string]string) (*Repo, string) {
	t.Helper()
	g := NewGit(t)
	r := &Repo{Git: g, Dir: g.Init(t, s.GitURL(u.Username, u.Token, fullPath))}
	return r, r.CommitPush(t, "initial", files)
}

// CommitPush commits files and pushes main; it returns the new commit.
func (r *Repo) CommitPush(t testing.TB, msg string, files map[string]string) string {
	t.Helper()
	sha := r.Git.Commit(t, r.Dir, msg, files)
	r.Git.Run(t, r.Dir, "push", "--quiet", "origin", "HEAD:refs/heads/main")
	return sha
}

// GitHTTP sends one raw smart-HTTP request as git does; user "" sends no
// credentials.
func (s *Server) GitHTTP(t testing.TB, method, path, user, password string) *Resp {
	t.Helper()
	req := s.NewRequest(t, method, path, "", nil)
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	req.Header.Set("User-Agent", "git/2.39.5")
	return s.Send(t, req)
}

// GitInfoRefs is the advertisement request git sends first, with HTTP
// Basic user:password.
func (s *Server) GitInfoRefs(t testing.TB, fullPath, user, password string) *Resp {
	t.Helper()
	return s.GitHTTP(t, "GET", "/"+fullPath+".git/info/refs?service=git-upload-pack", user, password)
}
