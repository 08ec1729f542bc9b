// Package bench holds end-to-end benchmarks of ciwarden against bare
// baselines.
package bench

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// The source repository: commits commits, each rewriting filesPerCommit
// files of fileSize random (incompressible) bytes, so the history holds
// commits*filesPerCommit*fileSize bytes of blobs (30 MiB) and the tip tree
// filesPerCommit*fileSize (3 MiB). It is generated once and cached under
// os.TempDir(), keyed by cacheVersion: change the version when changing
// the content.
const (
	cacheVersion   = "v1-10x3x1MiB-seed42"
	commits        = 10
	filesPerCommit = 3
	fileSize       = 1 << 20
	benchToken     = "cwpat-bench-clone-root-token-Qx7pL2"
)

var (
	sourceOnce sync.Once
	sourceDir  string // the cached bare repository
	sourceHead string // its main
	sourceErr  error
)

// gitEnv isolates the git command line from the user's and the system's
// configuration.
func gitEnv(home string) []string {
	return []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home, "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0", "LC_ALL=C",
		"GIT_AUTHOR_NAME=Bench", "GIT_AUTHOR_EMAIL=bench@example.com",
		"GIT_COMMITTER_NAME=Bench", "GIT_COMMITTER_EMAIL=bench@example.com",
		"GIT_AUTHOR_DATE=2024-01-01T00:00:00Z", "GIT_COMMITTER_DATE=2024-01-01T00:00:00Z",
	}
}

func runGit(home, dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = gitEnv(home)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// source returns the cached bare repository, generating it on first use.
func source() (string, string, error) {
	sourceOnce.Do(func() { sourceDir, sourceHead, sourceErr = buildSource() })
	return sourceDir, sourceHead, sourceErr
}

func buildSource() (string, string, error) {
	cache := filepath.Join(os.TempDir(), "ciwarden-bench-clone-"+cacheVersion)
	repo := filepath.Join(cache, "source.git")
	home := filepath.Join(cache, "home")
	if _, err := os.Stat(filepath.Join(cache, "ready")); err == nil {
		head, err := runGit(home, repo, "rev-parse", "refs/heads/main")
		if err == nil {
			return repo, head, nil
		}
		os.RemoveAll(cache) // damaged: build again
	}
	if err := os.MkdirAll(filepath.Dir(cache), 0o755); err != nil {
		return "", "", err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(cache), ".ciwarden-bench-clone-build-*")
	if err != nil {
		return "", "", err
	}
	defer os.RemoveAll(tmp)
	thome := filepath.Join(tmp, "home")
	work := filepath.Join(tmp, "work")
	if err := os.MkdirAll(thome, 0o755); err != nil {
		return "", "", err
	}
	if _, err := runGit(thome, "", "init", "--quiet", "--initial-branch=main", work); err != nil {
		return "", "", err
	}
	rng := rand.New(rand.NewChaCha8([32]byte{42}))
	buf := make([]byte, fileSize)
	for c := 0; c < commits; c++ {
		for f := 0; f < filesPerCommit; f++ {
			for i := 0; i < len(buf); i += 8 {
				v := rng.Uint64()
				for j := 0; j < 8; j++ {
					buf[i+j] = byte(v >> (8 * j))
				}
			}
			if err := os.WriteFile(filepath.Join(work, fmt.Sprintf("blob-%d.bin", f)), buf, 0o644); err != nil {
				return "", "", err
			}
		}
		if _, err := runGit(thome, work, "add", "-A"); err != nil {
			return "", "", err
		}
		if _, err := runGit(thome, work, "commit", "--quiet", "-m", fmt.Sprintf("commit %d", c)); err != nil {
			return "", "", err
		}
	}
	// A bare copy in one pack (with a bitmap) and packed refs: what a
	// served repository looks like after gc.
	bare := filepath.Join(tmp, "source.git")
	for _, args := range [][]string{
		{"clone", "--quiet", "--bare", "--no-local", work, bare},
		{"-C", bare, "repack", "-a", "-d", "-q", "--write-bitmap-index"},
		{"-C", bare, "pack-refs", "--all"},
		{"-C", bare, "symbolic-ref", "HEAD", "refs/heads/main"},
	} {
		if _, err := runGit(thome, "", args...); err != nil {
			return "", "", err
		}
	}
	if err := os.RemoveAll(work); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(filepath.Join(tmp, "ready"), []byte(cacheVersion+"\n"), 0o644); err != nil {
		return "", "", err
	}
	if err := os.Rename(tmp, cache); err != nil {
		// Another process built it at the same time: use theirs.
		if _, serr := os.Stat(filepath.Join(cache, "ready")); serr != nil {
			return "", "", err
		}
	}
	head, err := runGit(home, repo, "rev-parse", "refs/heads/main")
	return repo, head, err
}

// copyDir copies the repository at src to dst (which must not exist).
func copyDir(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(target, info.Mode().Perm()|0o700)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, info.Mode().Perm()|0o600)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
}

// ciwardenServer serves the source repository as the private project
// bench/app of an in-process ciwarden (testserver, logging as in
// production); it returns the clone URL, with a Developer's personal
// access token as the Basic password.
func ciwardenServer(b testing.TB, src string) string {
	s := testserver.New(b, testserver.Options{RootToken: benchToken, Measure: true})
	dev := s.CreateUser(b, "dev")
	p := s.CreateProject(b, s.CreateGroup(b, "bench", 0, "private"), "app", "private")
	s.AddMember(b, "projects", p.ID, dev.ID, 30)

	// Replace the project's empty repository with a copy of the source,
	// byte for byte the files the baseline serves.
	repo := filepath.Join(s.DataDir, "repositories", fmt.Sprintf("%d.git", p.ID))
	if _, err := os.Stat(filepath.Join(repo, "HEAD")); err != nil {
		b.Fatalf("project repository not where expected: %v", err)
	}
	if err := os.RemoveAll(repo); err != nil {
		b.Fatal(err)
	}
	if err := copyDir(src, repo); err != nil {
		b.Fatal(err)
	}
	return s.GitURL("dev", dev.Token, p.Path)
}

// baselineServer serves a copy of the source with git http-backend behind
// net/http/cgi, no authentication.
func baselineServer(b *testing.B, src, gitBin string) string {
	root := b.TempDir()
	if err := copyDir(src, filepath.Join(root, "app.git")); err != nil {
		b.Fatal(err)
	}
	h := &cgi.Handler{
		Path: gitBin, Args: []string{"http-backend"}, Root: "/",
		Env: []string{
			"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1",
			"GIT_CONFIG_NOSYSTEM=1", "HOME=/nonexistent", "GIT_TERMINAL_PROMPT=0", "LC_ALL=C", "PATH=" + os.Getenv("PATH"),
		},
		Stderr: io.Discard,
	}
	ts := httptest.NewServer(h)
	b.Cleanup(ts.Close)
	return ts.URL + "/app.git"
}

// BenchmarkClone clones the same ~30 MiB repository with the git command
// line over loopback HTTP from ciwarden (a private project, a Developer's
// personal access token in the URL) and from a bare git http-backend
// (no authentication), full and --depth 1: each variant alone, then both
// interleaved ("paired"), which reports x-baseline, ciwarden's time over
// the baseline's.
func BenchmarkClone(b *testing.B) {
	gitBin, err := exec.LookPath("git")
	if err != nil {
		b.Skip("git is not installed")
	}
	if gitBin, err = filepath.Abs(gitBin); err != nil {
		b.Fatal(err)
	}
	src, head, err := source()
	if err != nil {
		b.Fatalf("building the source repository: %v", err)
	}
	urls := map[string]string{
		"baseline": baselineServer(b, src, gitBin),
		"ciwarden": ciwardenServer(b, src),
	}
	home := b.TempDir()

	// clone runs one timed clone into a fresh directory under scratch and
	// checks it on the first iteration, then removes it untimed.
	clone := func(b *testing.B, variant string, args []string, want string, scratch string, i int) time.Duration {
		dir := filepath.Join(scratch, fmt.Sprintf("clone-%s-%d", variant, i))
		args = append(append([]string{"clone", "--quiet"}, args...), urls[variant], dir)
		start := time.Now()
		if _, err := runGit(home, "", args...); err != nil {
			b.Fatal(err)
		}
		elapsed := time.Since(start)
		b.StopTimer()
		if i == 0 {
			if got, err := runGit(home, dir, "rev-parse", "HEAD"); err != nil || got != head {
				b.Fatalf("%s: clone HEAD = %q, %v; want %s", variant, got, err, head)
			}
			if got, err := runGit(home, dir, "rev-list", "--count", "HEAD"); err != nil || got != want {
				b.Fatalf("%s: clone has %q commits, %v; want %s", variant, got, err, want)
			}
		}
		if err := os.RemoveAll(dir); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		return elapsed
	}

	for _, mode := range []struct {
		name string
		args []string
		// want is the number of commits the clone must have.
		want string
	}{
		{"full", nil, fmt.Sprint(commits)},
		{"depth1", []string{"--depth", "1"}, "1"},
	} {
		// Each variant alone: ns/op is one clone. (No ratio here: -count
		// runs all the counts of one sub-benchmark before the next, so the
		// runs of the two variants are not paired.)
		for _, variant := range []string{"baseline", "ciwarden"} {
			b.Run(mode.name+"/"+variant, func(b *testing.B) {
				scratch := b.TempDir()
				for i := 0; i < b.N; i++ {
					clone(b, variant, mode.args, mode.want, scratch, i)
				}
			})
		}
		// Both interleaved, alternating which goes first, so that both see
		// the same machine: ns/op is one clone of each, baseline-ns/op and
		// ciwarden-ns/op each variant's mean, and x-baseline their ratio,
		// ciwarden over baseline (the target is <= 1.10).
		var ratio jbRuns
		b.Run(mode.name+"/paired", func(b *testing.B) {
			scratch := b.TempDir()
			var sum = map[string]time.Duration{}
			for i := 0; i < b.N; i++ {
				order := []string{"baseline", "ciwarden"}
				if i%2 == 1 {
					order[0], order[1] = order[1], order[0]
				}
				for _, v := range order {
					sum[v] += clone(b, v, mode.args, mode.want, scratch, i)
				}
			}
			b.ReportMetric(float64(sum["baseline"].Nanoseconds())/float64(b.N), "baseline-ns/op")
			b.ReportMetric(float64(sum["ciwarden"].Nanoseconds())/float64(b.N), "ciwarden-ns/op")
			b.ReportMetric(float64(sum["ciwarden"])/float64(sum["baseline"]), "x-baseline")
			ratio.set(b, float64(sum["ciwarden"])/float64(sum["baseline"]))
		})
		if r := ratio.median(); len(ratio) > 0 && r > 1.10 { // docs/performance.md
			b.Errorf("target missed: a %s clone takes %.2fx the baseline's time, want <= 1.10x", mode.name, r)
		}
	}
}
