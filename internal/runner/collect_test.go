package runner

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// writeTree creates files (path -> content) under root; a path ending in
// "/" is a directory.
func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if strings.HasSuffix(p, "/") {
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func collect(t *testing.T, root string, paths, exclude []string, untracked bool) (*collector, []string) {
	t.Helper()
	c, err := newCollector(root, exclude, []string{"PATH=" + os.Getenv("PATH"), "HOME=" + root})
	if err != nil {
		t.Fatal(err)
	}
	c.addPaths(paths)
	if untracked {
		c.addUntracked(context.Background())
	}
	c.logExcluded()
	return c, c.sorted()
}

func TestCollectPaths(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"a.txt": "a", "b.log": "b", ".hidden.txt": "h",
		"out/one.txt": "1", "out/sub/two.txt": "2", "out/sub/deep/three.log": "3",
		"out/tmp/scratch": "s", "empty/": "", "bin/x.so": "x", "lib/y.so": "y",
	})
	cases := []struct {
		name           string
		paths, exclude []string
		want           []string
	}{
		{"star at top", []string{"*.txt"}, nil, []string{".hidden.txt", "a.txt"}},
		{"directory brings its tree", []string{"out/"}, nil,
			[]string{"out", "out/one.txt", "out/sub", "out/sub/deep", "out/sub/deep/three.log", "out/sub/two.txt", "out/tmp", "out/tmp/scratch"}},
		{"double star any depth", []string{"**/*.log"}, nil, []string{"b.log", "out/sub/deep/three.log"}},
		{"star is one segment", []string{"out/*.txt"}, nil, []string{"out/one.txt"}},
		{"star matching a directory", []string{"out/s*"}, nil, []string{"out/sub", "out/sub/deep", "out/sub/deep/three.log", "out/sub/two.txt"}},
		{"question mark and braces", []string{"{bin,lib}/?.so"}, nil, []string{"bin/x.so", "lib/y.so"}},
		{"empty directory", []string{"empty"}, nil, []string{"empty"}},
		{"exclude a subtree", []string{"out"}, []string{"out/sub/**"},
			[]string{"out", "out/one.txt", "out/tmp", "out/tmp/scratch"}},
		{"exclude by extension anywhere", []string{"out/"}, []string{"**/*.log", "out/tmp/*"},
			[]string{"out", "out/one.txt", "out/sub", "out/sub/deep", "out/sub/two.txt", "out/tmp"}},
		{"absolute path inside", []string{filepath.Join(root, "a.txt")}, nil, []string{"a.txt"}},
		{"dot-dot inside", []string{"out/../a.txt"}, nil, []string{"a.txt"}},
		{"nothing matches", []string{"missing/*"}, nil, []string{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, got := collect(t, root, tc.paths, tc.exclude, false)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCollectLogs(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{"out/a": "a", "out/b.tmp": "b"})
	c, _ := collect(t, root, []string{"out/", "nothing/"}, []string{"**/*.tmp"}, false)
	want := []string{
		"out: found 2 matching artifact files and directories",
		"WARNING: nothing: no matching files. Ensure that the artifact path is relative to the working directory (" + root + ")",
		"**/*.tmp: excluded 1 files",
	}
	if !reflect.DeepEqual(c.logs, want) {
		t.Fatalf("logs:\n%q\nwant:\n%q", c.logs, want)
	}
}

func TestCollectRefusesOutside(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "build")
	outside := filepath.Join(parent, "secret")
	writeTree(t, parent, map[string]string{"secret/key": "k", "build/in.txt": "i"})
	if err := os.Symlink(outside, filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	c, got := collect(t, root, []string{"../secret/key", outside, "link/key", "link/*"}, nil, false)
	if len(got) != 0 {
		t.Fatalf("collected %q from outside the build directory", got)
	}
	joined := strings.Join(c.logs, "\n")
	for _, w := range []string{
		"processPath: artifact path is not a subpath of project directory: ../secret/key",
		"link/key: not supported: outside build directory",
		"link/*: no matching files",
	} {
		if !strings.Contains(joined, w) {
			t.Errorf("log lacks %q:\n%s", w, joined)
		}
	}
	// The symlink itself may be archived (as a link), not what it points to.
	_, got = collect(t, root, []string{"link"}, nil, false)
	if !reflect.DeepEqual(got, []string{"link"}) {
		t.Fatalf("got %q", got)
	}
}

func TestCollectUntracked(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"tracked.txt": "t", ".gitignore": "ignored.bin\n", "ignored.bin": "i",
		"new.txt": "n", "gen/out.o": "o", "gen/keep.txt": "k",
	})
	git := func(args ...string) {
		cmd := exec.Command("git", args...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+root)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q")
	git("add", "tracked.txt", ".gitignore")
	git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "init")

	c, got := collect(t, root, nil, []string{"gen/*.o"}, true)
	// Ignored files count as untracked, as gitlab-runner lists them
	// without --exclude-standard; tracked ones never do.
	want := []string{"gen/keep.txt", "ignored.bin", "new.txt"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q; logs %q", got, want, c.logs)
	}
	if !strings.Contains(strings.Join(c.logs, "\n"), "untracked: found 3 files") {
		t.Fatalf("logs %q", c.logs)
	}

	// Untracked and paths together: the union.
	_, got = collect(t, root, []string{"tracked.txt"}, nil, true)
	want = []string{"gen/keep.txt", "gen/out.o", "ignored.bin", "new.txt", "tracked.txt"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}

	// Not a repository: a warning, not a failure.
	plain := t.TempDir()
	c, got = collect(t, plain, nil, nil, true)
	if len(got) != 0 || !strings.Contains(strings.Join(c.logs, "\n"), "WARNING: untracked:") {
		t.Fatalf("got %q, logs %q", got, c.logs)
	}
}
