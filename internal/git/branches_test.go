package git

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestHasBranches is GitLab's empty_repo (issue 13 item 11): a
// repository is empty until a branch exists, whether its refs are loose
// or packed; tags, pipeline refs and lock files are not branches.
//
// HasBranches keeps its answer while the ref files' times and sizes stay
// the same, except within two seconds of a change: run fast, the steps
// below read the files every time; run again with every ref file's time
// set an hour back before each change (and the answer read, so kept,
// first), they show that each change is seen at once.
func TestHasBranches(t *testing.T) {
	t.Run("fresh", func(t *testing.T) { testHasBranches(t, false) })
	t.Run("kept answers", func(t *testing.T) { testHasBranches(t, true) })
}

func testHasBranches(t *testing.T, age bool) {
	ctx := context.Background()
	g := newCLI(t)
	r := newRepos(t)
	const id = 5
	if r.HasBranches(id) {
		t.Errorf("a repository that does not exist has branches")
	}
	if err := r.Create(ctx, id, "main"); err != nil {
		t.Fatal(err)
	}
	dir := r.Path(id)
	step := func(what string, want bool) {
		t.Helper()
		if got := r.HasBranches(id); got != want {
			t.Errorf("%s: HasBranches = %v, want %v", what, got, want)
		}
		if !age {
			return
		}
		// Settle the ref files, then read (and keep) the answer again.
		old := time.Now().Add(-time.Hour)
		for _, p := range []string{filepath.Join(dir, "refs", "heads"), filepath.Join(dir, "packed-refs")} {
			if err := os.Chtimes(p, old, old); err != nil && !errors.Is(err, fs.ErrNotExist) {
				t.Fatal(err)
			}
		}
		if got := r.HasBranches(id); got != want {
			t.Errorf("%s, settled: HasBranches = %v, want %v", what, got, want)
		}
		if _, kept := r.branches.Load(int64(id)); !kept && want == false {
			// Only a refs/heads with subdirectories is never kept.
			if entries, _ := os.ReadDir(filepath.Join(dir, "refs", "heads")); len(entries) == 0 {
				t.Errorf("%s, settled: the answer was not kept", what)
			}
		}
	}
	step("new repository", false)
	if _, err := os.Stat(filepath.Join(dir, "reftable")); err == nil {
		t.Fatalf("Create made a reftable repository; HasBranches reads the files format")
	}

	work := filepath.Join(t.TempDir(), "work")
	g.run("", "clone", "--quiet", dir, work)
	write(t, work, map[string]string{"a.txt": "a\n"})
	g.run(work, "add", "-A")
	g.run(work, "commit", "--quiet", "-m", "one")
	sha := g.run(work, "rev-parse", "HEAD")
	g.run(work, "tag", "v1")
	g.run(work, "push", "--quiet", "origin", "v1")
	if err := r.UpdateRef(ctx, id, "refs/pipelines/1", sha); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "refs", "heads", "main.lock"), []byte(sha+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	step("a tag, a pipeline ref and a lock file", false)
	os.Remove(filepath.Join(dir, "refs", "heads", "main.lock"))

	g.run(work, "push", "--quiet", "origin", "HEAD:refs/heads/feature/deep/x")
	step("a branch with slashes", true)
	g.run(dir, "pack-refs", "--all", "--prune")
	if entries, _ := os.ReadDir(filepath.Join(dir, "refs", "heads")); len(entries) != 0 {
		t.Fatalf("pack-refs left loose refs: %v", entries)
	}
	step("the branch packed", true)
	g.run(work, "push", "--quiet", "origin", ":refs/heads/feature/deep/x")
	step("the branch deleted", false)
	g.run(work, "push", "--quiet", "origin", "HEAD:refs/heads/main")
	step("main pushed", true)
}
