package git

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Issue 13, item 1: every git process is bounded. Each command here gets
// an output larger than a pipe buffer (64 KiB on Linux), so a caller that
// stops reading early, or never reads, would leave git blocked on a full
// pipe; each must answer at once and leave no git process behind.

// answerWithin is the generous bound on an answer that never came before
// the fix.
const answerWithin = 10 * time.Second

// within runs f and fails the test if it has not returned in answerWithin.
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(answerWithin):
		t.Fatalf("%s: no answer within %v", what, answerWithin)
	}
}

// ChildProcesses lists this process's child processes, zombies (exited,
// not yet reaped) included, as "pid comm"; ok is false where /proc does
// not tell. Exported for the git_test package.
func ChildProcesses() (children []string, ok bool) {
	tasks, err := filepath.Glob("/proc/self/task/*/children")
	if err != nil || len(tasks) == 0 {
		return nil, false
	}
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // the thread ended
		}
		for _, pid := range strings.Fields(string(b)) {
			comm, _ := os.ReadFile("/proc/" + pid + "/comm")
			children = append(children, pid+" "+strings.TrimSpace(string(comm)))
		}
	}
	return children, true
}

// WaitNoChildProcesses fails the test unless every child process is gone
// (exited and reaped) within answerWithin. Exported for git_test.
func WaitNoChildProcesses(t *testing.T, what string) {
	t.Helper()
	deadline := time.Now().Add(answerWithin)
	for {
		children, ok := ChildProcesses()
		if !ok || len(children) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: child processes left after %v: %v", what, answerWithin, children)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// bigRepo is a repository whose every output outgrows a pipe buffer: an
// 8 MiB blob, a commit and an annotated tag with 4 MiB messages, a tree
// of 20,000 files and 20,000 branches (packed).
type bigRepo struct {
	repos         *Repos
	id            int64
	commit, tag   string
	blob, message string
	files, packed int
}

// input runs git in dir with stdin; it fails the test on error.
func (c *cli) input(dir, stdin string, args ...string) string {
	c.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = c.env()
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		c.t.Fatalf("git %s: %v: %s", strings.Join(args, " "), err, errb.String())
	}
	return strings.TrimSpace(out.String())
}

func newBigRepo(t *testing.T) *bigRepo {
	t.Helper()
	ctx := context.Background()
	g := newCLI(t)
	b := &bigRepo{repos: newRepos(t), id: 3, files: 20000, packed: 20000}
	if err := b.repos.Create(ctx, b.id, "main"); err != nil {
		t.Fatal(err)
	}
	dir := b.repos.Path(b.id)
	b.blob = strings.Repeat("0123456789abcdef", 8<<20/16)
	blobSHA := g.input(dir, b.blob, "hash-object", "-w", "--stdin")
	var tree strings.Builder
	fmt.Fprintf(&tree, "100644 blob %s\tbig.bin\n", blobSHA)
	for i := 0; i < b.files; i++ {
		fmt.Fprintf(&tree, "100644 blob %s\tfile-number-%06d.txt\n", blobSHA, i)
	}
	treeSHA := g.input(dir, tree.String(), "mktree")
	b.message = "Big\n\n" + strings.Repeat("a line of the commit message\n", 4<<20/29)
	b.message = strings.TrimRight(b.message, "\n")
	b.commit = g.input(dir, b.message, "commit-tree", treeSHA, "-F", "-")
	g.run(dir, "update-ref", "refs/heads/main", b.commit)
	g.input(dir, b.message, "tag", "-a", "big", "-F", "-", b.commit)
	b.tag = "big"
	var packed strings.Builder
	packed.WriteString("# pack-refs with: peeled fully-peeled sorted \n")
	for i := 0; i < b.packed; i++ {
		fmt.Fprintf(&packed, "%s refs/heads/branch-%06d\n", b.commit, i)
	}
	if err := os.WriteFile(filepath.Join(dir, "packed-refs"), []byte(packed.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

// commands are the repository reads, each printing more than a pipe
// buffer on bigRepo; check verifies a complete answer.
func (b *bigRepo) commands() map[string]struct {
	run   func(ctx context.Context) (any, error)
	check func(v any) error
} {
	type cmd = struct {
		run   func(ctx context.Context) (any, error)
		check func(v any) error
	}
	r, id := b.repos, b.id
	count := func(want int) func(v any) error {
		return func(v any) error {
			if n := len(v.([]string)); n != want {
				return fmt.Errorf("%d entries, want %d", n, want)
			}
			return nil
		}
	}
	return map[string]cmd{
		"ReadFile (cat-file)": {
			func(ctx context.Context) (any, error) { return r.ReadFile(ctx, id, "main", "big.bin", 16<<20) },
			func(v any) error {
				if string(v.([]byte)) != b.blob {
					return fmt.Errorf("%d bytes, not the blob", len(v.([]byte)))
				}
				return nil
			}},
		"Commit (log)": {
			func(ctx context.Context) (any, error) { return r.Commit(ctx, id, "main") },
			func(v any) error {
				if c := v.(*Commit); c.SHA != b.commit || c.Message != b.message {
					return fmt.Errorf("commit %s with a %d-byte message", c.SHA, len(c.Message))
				}
				return nil
			}},
		"TagMessages (for-each-ref)": {
			func(ctx context.Context) (any, error) { return r.TagMessages(ctx, id) },
			func(v any) error {
				if m := v.(map[string]string)[b.tag]; m != b.message {
					return fmt.Errorf("a %d-byte message", len(m))
				}
				return nil
			}},
		"Refs (for-each-ref)": {
			func(ctx context.Context) (any, error) {
				refs, err := r.Refs(ctx, id, "refs/heads/")
				names := make([]string, len(refs))
				for i, ref := range refs {
					names[i] = ref.Name
				}
				return names, err
			},
			count(b.packed + 1)},
		"ListFiles (ls-tree)": {
			func(ctx context.Context) (any, error) { return r.ListFiles(ctx, id, "main") },
			count(b.files + 1)},
		"ChangedFiles (diff-tree)": {
			func(ctx context.Context) (any, error) { return r.ChangedFiles(ctx, id, "", b.commit) },
			count(b.files + 1)},
	}
}

func TestCommandsReadLargeOutputs(t *testing.T) {
	b := newBigRepo(t)
	for name, c := range b.commands() {
		within(t, name, func() {
			v, err := c.run(context.Background())
			if err != nil {
				t.Errorf("%s: %v", name, err)
				return
			}
			if err := c.check(v); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		})
	}
	WaitNoChildProcesses(t, "after complete reads")
}

// TestCommandsOverOutputLimit: past its output limit a command is killed
// at once and says why; that is not "not found".
func TestCommandsOverOutputLimit(t *testing.T) {
	b := newBigRepo(t)
	b.repos.maxOutput = 256 << 10
	for name, c := range b.commands() {
		if strings.HasPrefix(name, "ReadFile") {
			continue // bounded by its max argument instead (below)
		}
		within(t, name, func() {
			_, err := c.run(context.Background())
			if !errors.Is(err, ErrOutputTooLarge) {
				t.Errorf("%s over a 256 KiB output limit: err = %v, want ErrOutputTooLarge", name, err)
			}
		})
		WaitNoChildProcesses(t, name+" over the output limit")
	}
}

// TestReadFileRefusesOversizedBlob is the hang of issue 13 item 1: git
// was still writing the refused blob into a full pipe while ReadFile
// waited for it to exit.
func TestReadFileRefusesOversizedBlob(t *testing.T) {
	b := newBigRepo(t)
	for _, max := range []int64{1 << 20, 0, int64(len(b.blob)) - 1} {
		within(t, "ReadFile with max "+strconv.FormatInt(max, 10), func() {
			_, err := b.repos.ReadFile(context.Background(), b.id, "main", "big.bin", max)
			var tl *TooLargeError
			if !errors.As(err, &tl) || tl.Size != int64(len(b.blob)) || tl.Max != max || tl.Path != "big.bin" {
				t.Errorf("ReadFile(max %d) err = %v, want a TooLargeError of %d bytes", max, err, len(b.blob))
			}
			want := fmt.Sprintf("big.bin is %d bytes, over the %d-byte limit", len(b.blob), max)
			if err == nil || err.Error() != want {
				t.Errorf("ReadFile(max %d) says %v, want %q", max, err, want)
			}
		})
		WaitNoChildProcesses(t, "ReadFile refusing an oversized blob")
	}
}

// TestCommandsCallerGone: a caller that goes away (a client hanging up)
// ends git, whether before or while it writes; the error is the
// context's, never "not found".
func TestCommandsCallerGone(t *testing.T) {
	b := newBigRepo(t)
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	for name, c := range b.commands() {
		within(t, name+" with a canceled context", func() {
			if _, err := c.run(canceled); !errors.Is(err, context.Canceled) {
				t.Errorf("%s with a canceled context: err = %v, want context.Canceled", name, err)
			}
		})
		// Going away while git writes: whichever comes first, an answer
		// or the context's error, comes at once and git is gone.
		within(t, name+" canceled while running", func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
			defer cancel()
			if _, err := c.run(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s canceled while running: err = %v, want none or context.DeadlineExceeded", name, err)
			}
		})
		WaitNoChildProcesses(t, name+" after its caller went away")
	}
}
