package git

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// cli runs the git command line for tests, isolated from the user's and
// the system's configuration.
type cli struct {
	t    *testing.T
	home string
}

func newCLI(t *testing.T) *cli {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	return &cli{t: t, home: t.TempDir()}
}

func (c *cli) env() []string {
	return []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + c.home, "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0", "LC_ALL=C",
		"GIT_AUTHOR_NAME=Ada Lovelace", "GIT_AUTHOR_EMAIL=ada@example.com",
		"GIT_COMMITTER_NAME=Charles Babbage", "GIT_COMMITTER_EMAIL=charles@example.com",
	}
}

// run runs git in dir and returns its trimmed stdout; it fails the test on
// error.
func (c *cli) run(dir string, args ...string) string {
	c.t.Helper()
	out, err := c.try(dir, nil, args...)
	if err != nil {
		c.t.Fatalf("git %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func (c *cli) try(dir string, extraEnv []string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(c.env(), extraEnv...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), errors.New(err.Error() + ": " + stderr.String())
	}
	return strings.TrimSpace(stdout.String()), nil
}

// write creates or replaces files under dir.
func write(t *testing.T, dir string, files map[string]string) {
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
}

func newRepos(t *testing.T) *Repos {
	t.Helper()
	newCLI(t) // skips without git
	r, err := NewRepos(filepath.Join(t.TempDir(), "repositories"))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// fixture is a project repository with a known history:
//
//	c1 (root): README.md, dir/a.txt, dir/sub/b.txt, big.bin, "with space.txt", "uni-é.txt"
//	c2: changes dir/a.txt, adds new.txt, deletes README.md
//	c3: renames new.txt to moved.txt
//
// main is at c3, feature at c1 plus a commit f1 (feature.txt); v1 is an
// annotated tag of c1, light a lightweight tag of c2.
type fixture struct {
	repos               *Repos
	id                  int64
	c1, c2, c3, f1, tag string
	bigSize             int
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	g := newCLI(t)
	f := &fixture{repos: newRepos(t), id: 7}
	if err := f.repos.Create(ctx, f.id, "main"); err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(t.TempDir(), "work")
	g.run("", "clone", "--quiet", f.repos.Path(f.id), work)
	big := strings.Repeat("0123456789abcdef", 256) // 4096 bytes
	f.bigSize = len(big)
	write(t, work, map[string]string{
		"README.md":      "# demo\n",
		"dir/a.txt":      "a1\n",
		"dir/sub/b.txt":  "b\n",
		"big.bin":        big,
		"with space.txt": "space\n",
		"uni-é.txt":      "unicode\n",
	})
	g.run(work, "add", "-A")
	g.run(work, "commit", "--quiet", "-m", "First commit\n\nWith a body.\nOf two lines.")
	f.c1 = g.run(work, "rev-parse", "HEAD")
	g.run(work, "tag", "-a", "v1", "-m", "version one")
	f.tag = g.run(work, "rev-parse", "v1")

	g.run(work, "checkout", "--quiet", "-b", "feature")
	write(t, work, map[string]string{"feature.txt": "f\n"})
	g.run(work, "add", "-A")
	g.run(work, "commit", "--quiet", "-m", "Feature")
	f.f1 = g.run(work, "rev-parse", "HEAD")
	g.run(work, "checkout", "--quiet", "main")

	write(t, work, map[string]string{"dir/a.txt": "a2\n", "new.txt": "new\n"})
	g.run(work, "rm", "--quiet", "README.md")
	g.run(work, "add", "-A")
	g.run(work, "commit", "--quiet", "-m", "Second")
	f.c2 = g.run(work, "rev-parse", "HEAD")
	g.run(work, "tag", "light")

	g.run(work, "mv", "new.txt", "moved.txt")
	g.run(work, "commit", "--quiet", "-m", "Third")
	f.c3 = g.run(work, "rev-parse", "HEAD")

	g.run(work, "push", "--quiet", "origin", "main", "feature", "v1", "light")
	return f
}

func TestNewRepos(t *testing.T) {
	newCLI(t)
	r, err := NewRepos("relative/root")
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(r.Git) {
		t.Errorf("Git = %q, want an absolute path", r.Git)
	}
	// The root is made absolute: http-backend resolves GIT_PROJECT_ROOT
	// from its own working directory otherwise.
	abs, _ := filepath.Abs("relative/root")
	if got, want := r.Path(42), filepath.Join(abs, "42.git"); got != want {
		t.Errorf("Path(42) = %q, want %q", got, want)
	}

	t.Setenv("PATH", t.TempDir())
	if _, err := NewRepos(t.TempDir()); err == nil || !strings.Contains(err.Error(), "git is not installed") {
		t.Errorf("NewRepos without git on PATH: err = %v, want 'git is not installed'", err)
	}
}

func TestCreate(t *testing.T) {
	ctx := context.Background()
	g := newCLI(t)
	r := newRepos(t)

	if err := r.Create(ctx, 1, "main"); err != nil {
		t.Fatal(err)
	}
	dir := r.Path(1)
	if got := g.run(dir, "rev-parse", "--is-bare-repository"); got != "true" {
		t.Fatalf("not a bare repository: %q", got)
	}
	if got := g.run(dir, "symbolic-ref", "HEAD"); got != "refs/heads/main" {
		t.Errorf("HEAD = %q, want refs/heads/main", got)
	}

	// Idempotent: an existing repository is left exactly as it is.
	marker := filepath.Join(dir, "description")
	if err := os.WriteFile(marker, []byte("keep me\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := r.Create(ctx, 1, "other"); err != nil {
		t.Fatalf("second Create: %v", err)
	}
	if b, _ := os.ReadFile(marker); string(b) != "keep me\n" {
		t.Errorf("second Create changed the repository: description = %q", b)
	}
	if got := g.run(dir, "symbolic-ref", "HEAD"); got != "refs/heads/main" {
		t.Errorf("second Create moved HEAD to %q", got)
	}

	if err := r.Create(ctx, 2, "release/v1"); err != nil {
		t.Fatal(err)
	}
	if got := g.run(r.Path(2), "symbolic-ref", "HEAD"); got != "refs/heads/release/v1" {
		t.Errorf("HEAD = %q, want refs/heads/release/v1", got)
	}
	if refs, err := r.Refs(ctx, 2, "refs/"); err != nil || len(refs) != 0 {
		t.Errorf("Refs of an empty repository = %v, %v; want none", refs, err)
	}
	assertNoLeftovers(t, r.Root)
}

func TestCreateFailureLeavesNothing(t *testing.T) {
	ctx := context.Background()
	r := newRepos(t)
	for i, branch := range []string{"bad..name", "", "a b", "main.lock", "x~1", "HEAD^"} {
		id := int64(100 + i)
		err := r.Create(ctx, id, branch)
		if err == nil {
			t.Errorf("Create(%q) succeeded", branch)
			continue
		}
		var ce *CommandError
		if !errors.As(err, &ce) {
			t.Errorf("Create(%q) error %T %v, want a *CommandError", branch, err, err)
		}
		if _, err := os.Stat(r.Path(id)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Create(%q) left %s behind (stat: %v)", branch, r.Path(id), err)
		}
	}
	assertNoLeftovers(t, r.Root)
}

func TestCreateCanceledContext(t *testing.T) {
	r := newRepos(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.Create(ctx, 9, "main"); err == nil {
		t.Fatal("Create with a canceled context succeeded")
	}
	if _, err := os.Stat(r.Path(9)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("left %s behind", r.Path(9))
	}
	assertNoLeftovers(t, r.Root)
}

// assertNoLeftovers checks no temporary .init-* directory is left in root.
func assertNoLeftovers(t *testing.T, root string) {
	t.Helper()
	entries, err := os.ReadDir(root)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".init-") {
			t.Errorf("temporary directory %s left in %s", e.Name(), root)
		}
	}
}

func TestRefs(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	refs, err := f.repos.Refs(ctx, f.id, "refs/")
	if err != nil {
		t.Fatal(err)
	}
	want := []Ref{
		{Name: "refs/heads/feature", SHA: f.f1},
		{Name: "refs/heads/main", SHA: f.c3},
		{Name: "refs/tags/light", SHA: f.c2},
		{Name: "refs/tags/v1", SHA: f.tag},
	}
	if !reflect.DeepEqual(refs, want) {
		t.Errorf("Refs(refs/) = %v\nwant %v", refs, want)
	}
	heads, err := f.repos.Refs(ctx, f.id, "refs/heads/")
	if err != nil || !reflect.DeepEqual(heads, want[:2]) {
		t.Errorf("Refs(refs/heads/) = %v, %v; want %v", heads, err, want[:2])
	}
	tags, err := f.repos.Refs(ctx, f.id, "refs/tags/")
	if err != nil || !reflect.DeepEqual(tags, want[2:]) {
		t.Errorf("Refs(refs/tags/) = %v, %v; want %v", tags, err, want[2:])
	}
	if _, err := f.repos.Refs(ctx, 999, "refs/"); err == nil {
		t.Error("Refs of a missing repository succeeded")
	}
}

func TestCommit(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	c, err := f.repos.Commit(ctx, f.id, f.c1)
	if err != nil {
		t.Fatal(err)
	}
	if c.SHA != f.c1 || len(c.Parents) != 0 {
		t.Errorf("SHA %s parents %v, want %s and none", c.SHA, c.Parents, f.c1)
	}
	if c.Title != "First commit" || c.Message != "First commit\n\nWith a body.\nOf two lines." {
		t.Errorf("title %q message %q", c.Title, c.Message)
	}
	if c.AuthorName != "Ada Lovelace" || c.AuthorEmail != "ada@example.com" ||
		c.CommitterName != "Charles Babbage" || c.CommitterEmail != "charles@example.com" {
		t.Errorf("people: %+v", c)
	}
	for _, ts := range []string{c.AuthoredAt, c.CommittedAt} {
		tm, err := time.Parse(time.RFC3339, ts)
		if err != nil || time.Since(tm) > time.Hour || time.Since(tm) < -time.Minute {
			t.Errorf("date %q: %v", ts, err)
		}
	}

	for rev, want := range map[string]string{
		"main": f.c3, "refs/heads/main": f.c3, "HEAD": f.c3, "main~1": f.c2, "main^^": f.c1, "feature": f.f1,
		"v1": f.c1, "refs/tags/v1": f.c1, "light": f.c2, f.c2[:10]: f.c2, f.tag: f.c1,
	} {
		c, err := f.repos.Commit(ctx, f.id, rev)
		if err != nil {
			t.Errorf("Commit(%q): %v", rev, err)
			continue
		}
		if c.SHA != want {
			t.Errorf("Commit(%q) = %s, want %s", rev, c.SHA, want)
		}
	}
	c, _ = f.repos.Commit(ctx, f.id, "main")
	if c == nil || !reflect.DeepEqual(c.Parents, []string{f.c2}) || c.Title != "Third" || c.Message != "Third" {
		t.Errorf("Commit(main) = %+v", c)
	}

	for _, rev := range []string{"nope", "refs/heads/nope", strings.Repeat("0", 40), "main~10", "main^{tree}", "dir"} {
		if _, err := f.repos.Commit(ctx, f.id, rev); !errors.Is(err, ErrNotFound) {
			t.Errorf("Commit(%q) err = %v, want ErrNotFound", rev, err)
		}
	}
	if _, err := f.repos.Commit(ctx, 999, "main"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Commit in a missing repository: %v, want ErrNotFound", err)
	}
}

// unsafeRevs are revisions git could read as options, ranges or paths.
func unsafeRevs(t *testing.T, f *fixture, outFile string) []string {
	return []string{
		"", "-", "-h", "--all", "--output=" + outFile, "-o" + outFile,
		"main..feature", f.c1 + ".." + f.c3, "main...feature", "..main",
		"main:README.md", ":README.md", "main:", "main feature", "main\tfeature", "main\nfeature", "main\x00",
		strings.Repeat("a", 1025),
	}
}

func TestSafeRev(t *testing.T) {
	for _, rev := range []string{"main", "refs/heads/main", "v1.0", "main~1", "main^2", "HEAD", "release/1.x", "a.b", strings.Repeat("a", 1024)} {
		if !safeRev(rev) {
			t.Errorf("safeRev(%q) = false, want true", rev)
		}
	}
	out := filepath.Join(t.TempDir(), "out")
	for _, rev := range unsafeRevs(t, &fixture{c1: shaA, c3: shaB}, out) {
		if safeRev(rev) {
			t.Errorf("safeRev(%.40q) = true, want false", rev)
		}
	}
}

func TestRefusedRevisions(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	out := filepath.Join(t.TempDir(), "written-by-git")
	for _, rev := range unsafeRevs(t, f, out) {
		if _, err := f.repos.Commit(ctx, f.id, rev); !errors.Is(err, ErrNotFound) {
			t.Errorf("Commit(%.40q) err = %v, want ErrNotFound", rev, err)
		}
		if _, err := f.repos.ReadFile(ctx, f.id, rev, "dir/a.txt", 1<<20); !errors.Is(err, ErrNotFound) {
			t.Errorf("ReadFile(%.40q) err = %v, want ErrNotFound", rev, err)
		}
		if _, err := f.repos.ListFiles(ctx, f.id, rev); !errors.Is(err, ErrNotFound) {
			t.Errorf("ListFiles(%.40q) err = %v, want ErrNotFound", rev, err)
		}
		if _, err := f.repos.ChangedFiles(ctx, f.id, f.c1, rev); !errors.Is(err, ErrNotFound) {
			t.Errorf("ChangedFiles(c1, %.40q) err = %v, want ErrNotFound", rev, err)
		}
		if err := f.repos.UpdateRef(ctx, f.id, "refs/pipelines/1", rev); !errors.Is(err, ErrNotFound) {
			t.Errorf("UpdateRef(%.40q) err = %v, want ErrNotFound", rev, err)
		}
		// An unsafe before is never given to git.
		if _, err := f.repos.ChangedFiles(ctx, f.id, rev, f.c2); err != nil {
			t.Errorf("ChangedFiles(%.40q, c2): %v", rev, err)
		}
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused revision reached git, which wrote %s", out)
	}
}

func TestReadFile(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	for _, tt := range []struct{ rev, path, want string }{
		{"main", "dir/a.txt", "a2\n"},
		{f.c1, "dir/a.txt", "a1\n"},
		{"v1", "README.md", "# demo\n"},
		{"light", "new.txt", "new\n"},
		{"main", "moved.txt", "new\n"},
		{"main", "dir/sub/b.txt", "b\n"},
		{"main", "with space.txt", "space\n"},
		{"main", "uni-é.txt", "unicode\n"},
		{"feature", "feature.txt", "f\n"},
	} {
		got, err := f.repos.ReadFile(ctx, f.id, tt.rev, tt.path, 1<<20)
		if err != nil || string(got) != tt.want {
			t.Errorf("ReadFile(%s, %s) = %q, %v; want %q", tt.rev, tt.path, got, err, tt.want)
		}
	}

	// Size limit: exactly the size passes, one byte less is an error that
	// is not "not found".
	got, err := f.repos.ReadFile(ctx, f.id, "main", "big.bin", int64(f.bigSize))
	if err != nil || len(got) != f.bigSize {
		t.Errorf("ReadFile(big.bin, max=size) = %d bytes, %v", len(got), err)
	}
	_, err = f.repos.ReadFile(ctx, f.id, "main", "big.bin", int64(f.bigSize-1))
	if err == nil || errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "big.bin") {
		t.Errorf("ReadFile(big.bin, max=size-1) err = %v, want a size error naming the file", err)
	}
	if got, err := f.repos.ReadFile(ctx, f.id, "main", "dir/a.txt", 0); err == nil {
		t.Errorf("ReadFile(max=0) = %q, want a size error", got)
	}

	for _, tt := range []struct {
		name, rev, path string
		max             int64
	}{
		{"directory", "main", "dir", 1 << 20},
		{"nested directory", "main", "dir/sub", 1 << 20},
		// A directory is not a file whatever the limit: the tree object of
		// "dir" is larger than 10 bytes, which must not turn "not a file"
		// into "too large".
		{"directory, small limit", "main", "dir", 10},
		{"unknown path", "main", "nope.txt", 1 << 20},
		{"deleted path", "main", "README.md", 1 << 20},
		{"path of another branch", "main", "feature.txt", 1 << 20},
		{"unknown revision", "nope", "dir/a.txt", 1 << 20},
		{"unknown SHA", strings.Repeat("0", 40), "dir/a.txt", 1 << 20},
		{"empty path", "main", "", 1 << 20},
		{"absolute path", "main", "/dir/a.txt", 1 << 20},
		{"NUL in path", "main", "dir/a.txt\x00x", 1 << 20},
		{"path outside", "main", "../etc/passwd", 1 << 20},
	} {
		if got, err := f.repos.ReadFile(ctx, f.id, tt.rev, tt.path, tt.max); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: ReadFile(%q, %q, %d) = %q, %v; want ErrNotFound", tt.name, tt.rev, tt.path, tt.max, got, err)
		}
	}
	if _, err := f.repos.ReadFile(ctx, 999, "main", "dir/a.txt", 1<<20); !errors.Is(err, ErrNotFound) {
		t.Errorf("ReadFile in a missing repository: %v", err)
	}
}

func TestListFiles(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	for rev, want := range map[string][]string{
		"main":    {"big.bin", "dir/a.txt", "dir/sub/b.txt", "moved.txt", "uni-é.txt", "with space.txt"},
		"v1":      {"README.md", "big.bin", "dir/a.txt", "dir/sub/b.txt", "uni-é.txt", "with space.txt"},
		f.c2:      {"big.bin", "dir/a.txt", "dir/sub/b.txt", "new.txt", "uni-é.txt", "with space.txt"},
		"feature": {"README.md", "big.bin", "dir/a.txt", "dir/sub/b.txt", "feature.txt", "uni-é.txt", "with space.txt"},
	} {
		got, err := f.repos.ListFiles(ctx, f.id, rev)
		if err != nil {
			t.Errorf("ListFiles(%s): %v", rev, err)
			continue
		}
		slices.Sort(got)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("ListFiles(%s) = %q\nwant %q", rev, got, want)
		}
	}
	for _, rev := range []string{"nope", strings.Repeat("0", 40)} {
		if got, err := f.repos.ListFiles(ctx, f.id, rev); !errors.Is(err, ErrNotFound) {
			t.Errorf("ListFiles(%q) = %q, %v; want ErrNotFound", rev, got, err)
		}
	}
}

func TestChangedFiles(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	for _, tt := range []struct {
		name, before, after string
		want                []string
	}{
		{"new branch at the root commit", ZeroSHA, f.c1, []string{"README.md", "big.bin", "dir/a.txt", "dir/sub/b.txt", "uni-é.txt", "with space.txt"}},
		{"no before at the root commit", "", f.c1, []string{"README.md", "big.bin", "dir/a.txt", "dir/sub/b.txt", "uni-é.txt", "with space.txt"}},
		{"new branch: the commit's own files", ZeroSHA, f.c2, []string{"README.md", "dir/a.txt", "new.txt"}},
		{"new branch by name", ZeroSHA, "feature", []string{"feature.txt"}},
		{"one commit", f.c1, f.c2, []string{"README.md", "dir/a.txt", "new.txt"}},
		{"a rename is two paths", f.c2, f.c3, []string{"moved.txt", "new.txt"}},
		{"a range", f.c1, f.c3, []string{"README.md", "dir/a.txt", "moved.txt"}},
		{"a range by names", "v1", "main", []string{"README.md", "dir/a.txt", "moved.txt"}},
		{"diverged branches", "feature", "main", []string{"README.md", "dir/a.txt", "feature.txt", "moved.txt"}},
		{"nothing changed", f.c3, f.c3, nil},
	} {
		got, err := f.repos.ChangedFiles(ctx, f.id, tt.before, tt.after)
		if err != nil {
			t.Errorf("%s: ChangedFiles: %v", tt.name, err)
			continue
		}
		slices.Sort(got)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: ChangedFiles(%.10s, %.10s) = %q\nwant %q", tt.name, tt.before, tt.after, got, tt.want)
		}
	}
	if got, err := f.repos.ChangedFiles(ctx, f.id, f.c1, "nope"); err == nil {
		t.Errorf("ChangedFiles to an unknown revision = %q, nil; want an error", got)
	}
}

func TestSetHead(t *testing.T) {
	ctx := context.Background()
	g := newCLI(t)
	f := newFixture(t)
	if err := f.repos.SetHead(ctx, f.id, "feature"); err != nil {
		t.Fatal(err)
	}
	if got := g.run(f.repos.Path(f.id), "symbolic-ref", "HEAD"); got != "refs/heads/feature" {
		t.Errorf("HEAD = %q", got)
	}
	if c, err := f.repos.Commit(ctx, f.id, "HEAD"); err != nil || c.SHA != f.f1 {
		t.Errorf("Commit(HEAD) after SetHead(feature) = %v, %v", c, err)
	}
	// A branch that does not exist yet is allowed (the default branch of
	// an empty project).
	if err := f.repos.SetHead(ctx, f.id, "later"); err != nil {
		t.Errorf("SetHead(later): %v", err)
	}
	for _, bad := range []string{"bad..name", "a b", "", "x:y"} {
		if err := f.repos.SetHead(ctx, f.id, bad); err == nil {
			t.Errorf("SetHead(%q) succeeded", bad)
		}
	}
	if got := g.run(f.repos.Path(f.id), "symbolic-ref", "HEAD"); got != "refs/heads/later" {
		t.Errorf("HEAD after refused SetHead calls = %q, want refs/heads/later", got)
	}
	if err := f.repos.SetHead(ctx, 999, "main"); err == nil {
		t.Error("SetHead on a missing repository succeeded")
	}
}

func TestUpdateRef(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	if err := f.repos.UpdateRef(ctx, f.id, "refs/pipelines/1", f.c1); err != nil {
		t.Fatal(err)
	}
	refs, err := f.repos.Refs(ctx, f.id, "refs/pipelines/")
	if err != nil || !reflect.DeepEqual(refs, []Ref{{Name: "refs/pipelines/1", SHA: f.c1}}) {
		t.Errorf("Refs(refs/pipelines/) = %v, %v", refs, err)
	}
	if err := f.repos.UpdateRef(ctx, f.id, "HEAD", f.c1); !errors.Is(err, ErrNotFound) {
		t.Errorf("UpdateRef(HEAD) err = %v, want ErrNotFound", err)
	}
	if err := f.repos.UpdateRef(ctx, f.id, "refs/pipelines/2", strings.Repeat("0", 39)+"1"); err == nil {
		t.Error("UpdateRef to a missing object succeeded")
	}
}

func TestRemove(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	if err := f.repos.Remove(f.id); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(f.repos.Path(f.id)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("repository still there: %v", err)
	}
	if _, err := f.repos.Refs(ctx, f.id, "refs/"); err == nil {
		t.Error("Refs after Remove succeeded")
	}
	if err := f.repos.Remove(f.id); err != nil {
		t.Errorf("second Remove: %v", err)
	}
	// The ID can be used again.
	if err := f.repos.Create(ctx, f.id, "main"); err != nil {
		t.Fatal(err)
	}
	if refs, err := f.repos.Refs(ctx, f.id, "refs/"); err != nil || len(refs) != 0 {
		t.Errorf("Refs of the recreated repository = %v, %v", refs, err)
	}
}
