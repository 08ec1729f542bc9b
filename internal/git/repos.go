// Package git keeps each project's bare repository on disk and serves it
// over smart HTTP through the system git (git http-backend), which alone
// gives clone, fetch, push, shallow clones and protocol v2 their full
// fidelity.
package git

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ciwarden/ciwarden/internal/model"
)

// ZeroSHA is git's "no object": the old value of a created ref, the new
// value of a deleted one.
const ZeroSHA = "0000000000000000000000000000000000000000"

// ErrNotFound is a revision or path that does not exist; it is a
// model.ErrNotFound, so services and the API treat it as any missing thing.
var ErrNotFound = fmt.Errorf("not found in repository: %w", model.ErrNotFound)

// ErrOutputTooLarge is a git command that printed more than this package
// keeps in memory; the command was killed.
var ErrOutputTooLarge = errors.New("git printed more than the output limit")

// TooLargeError is a file larger than its reader allows.
type TooLargeError struct {
	Path      string
	Size, Max int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s is %d bytes, over the %d-byte limit", e.Path, e.Size, e.Max)
}

// Bounds on every git process this package starts (issue 13, item 1): a
// git that outlives its caller holds a process, a goroutine and memory,
// so any user able to trigger one could exhaust the server.
const (
	// commandTimeout bounds one command, whatever its caller's context.
	commandTimeout = 2 * time.Minute
	// waitDelay bounds the wait for a command's pipes after it exited or
	// was killed (a child of git may still hold them).
	waitDelay = 5 * time.Second
	// defaultMaxOutput bounds what one command may print into memory.
	defaultMaxOutput = 64 << 20
	// maxStderr is how much of a command's stderr its error keeps.
	maxStderr = 16 << 10
)

// Repos is the directory of bare repositories, one per project, named by
// project ID so that renaming a project or group moves nothing on disk.
type Repos struct {
	Root string
	// Git is the absolute path of the git executable (CGI needs one).
	Git string
	// maxOutput overrides defaultMaxOutput (tests).
	maxOutput int

	branches sync.Map // project ID -> branchAnswer; see HasBranches
}

// branchAnswer is HasBranches' answer for a repository's ref files as
// they stood: it holds while refs/heads (with no subdirectory) and
// packed-refs keep their modification times and sizes.
type branchAnswer struct {
	key refsKey
	has bool
}

type refsKey struct {
	heads        time.Time // refs/heads' modification time
	packed       time.Time // packed-refs' (zero when absent)
	packedSize   int64
	packedExists bool
}

// NewRepos finds git on PATH; a missing git is a configuration error.
func NewRepos(root string) (*Repos, error) {
	bin, err := exec.LookPath("git")
	if err != nil {
		return nil, errors.New("git is not installed (needed to host repositories): install it, e.g. apt-get install git")
	}
	if bin, err = filepath.Abs(bin); err != nil {
		return nil, err
	}
	// http-backend needs GIT_PROJECT_ROOT absolute and clean, as Path is.
	if root, err = filepath.Abs(root); err != nil {
		return nil, err
	}
	return &Repos{Root: root, Git: bin}, nil
}

func (r *Repos) git() string { return r.Git }

// Path is the bare repository of a project.
func (r *Repos) Path(projectID int64) string {
	return filepath.Join(r.Root, strconv.FormatInt(projectID, 10)+".git")
}

// Create initialises an empty bare repository whose HEAD names
// defaultBranch. An existing repository is left as it is.
func (r *Repos) Create(ctx context.Context, projectID int64, defaultBranch string) error {
	dir := r.Path(projectID)
	if _, err := os.Stat(filepath.Join(dir, "HEAD")); err == nil {
		return nil
	}
	if err := os.MkdirAll(r.Root, 0o750); err != nil {
		return err
	}
	// Build in a temporary directory and rename, so a crash never leaves
	// a half-initialised repository under the project's name.
	tmp, err := os.MkdirTemp(r.Root, ".init-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	// The files ref format, whatever git's default: HasBranches reads it.
	// (Older git ignores the setting and knows no other format.)
	if _, err := r.run(ctx, "", nil, "-c", "init.defaultRefFormat=files", "init", "--quiet", "--bare", "--initial-branch="+defaultBranch, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, dir)
}

// Remove deletes a project's repository.
func (r *Repos) Remove(projectID int64) error {
	return os.RemoveAll(r.Path(projectID))
}

// SetHead points HEAD at a branch (the project's default branch).
func (r *Repos) SetHead(ctx context.Context, projectID int64, branch string) error {
	_, err := r.run(ctx, r.Path(projectID), nil, "symbolic-ref", "HEAD", "refs/heads/"+branch)
	return err
}

// command is git in dir with the isolated environment and bounded waits.
// ctx must carry commandTimeout (withTimeout); cancelling it kills git.
func (r *Repos) command(ctx context.Context, dir string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, r.git(), args...)
	cmd.Dir = dir
	cmd.Env = gitEnv()
	cmd.WaitDelay = waitDelay
	return cmd
}

func withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, commandTimeout)
}

// run executes git in dir and returns its stdout, which may not exceed
// the output limit: past it git is killed and the error wraps
// ErrOutputTooLarge.
func (r *Repos) run(ctx context.Context, dir string, stdin io.Reader, args ...string) ([]byte, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	cmd := r.command(ctx, dir, args...)
	cmd.Stdin = stdin
	limit := r.maxOutput
	if limit <= 0 {
		limit = defaultMaxOutput
	}
	stdout := &capped{max: limit, kill: cancel}
	stderr := &capped{max: maxStderr}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	err := cmd.Run()
	switch {
	case stdout.over:
		err = ErrOutputTooLarge
	case err != nil && ctx.Err() != nil:
		err = fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	if err != nil {
		return nil, &CommandError{Args: args, Stderr: strings.TrimSpace(stderr.buf.String()), Err: err}
	}
	return stdout.buf.Bytes(), nil
}

// capped keeps up to max bytes. Past that it keeps nothing more: with
// kill set it ends the command and fails the write (which also closes
// the pipe), without it it drops the rest quietly (stderr).
type capped struct {
	buf  bytes.Buffer
	max  int
	kill context.CancelFunc
	over bool
}

func (c *capped) Write(p []byte) (int, error) {
	if c.buf.Len()+len(p) > c.max {
		if c.kill == nil {
			c.buf.Write(p[:c.max-c.buf.Len()])
			return len(p), nil
		}
		c.over = true
		c.kill()
		return 0, ErrOutputTooLarge
	}
	return c.buf.Write(p)
}

// CommandError is a failed git command.
type CommandError struct {
	Args   []string
	Stderr string
	Err    error
}

func (e *CommandError) Error() string {
	return fmt.Sprintf("git %s: %v: %s", strings.Join(e.Args, " "), e.Err, e.Stderr)
}

func (e *CommandError) Unwrap() error { return e.Err }

// failed reports whether err is git's own refusal (an exit status, so a
// revision or path that does not resolve) rather than a limit, a timeout
// or a caller that went away, which must not read as "not found".
func failed(err error) bool {
	var ee *exec.ExitError
	return errors.As(err, &ee) || errors.Is(err, fs.ErrNotExist) // git's exit, or no repository to run in
}

// gitEnv isolates git from the user's and system's configuration.
func gitEnv() []string {
	env := []string{"GIT_CONFIG_NOSYSTEM=1", "HOME=/nonexistent", "GIT_TERMINAL_PROMPT=0", "LC_ALL=C"}
	if p := os.Getenv("PATH"); p != "" {
		env = append(env, "PATH="+p)
	}
	return env
}

// HasBranches reports whether a project's repository has a branch;
// GitLab's empty_repo is its negation (Repository#empty?: no branch, so
// nothing to show). It is on every project response, so it reads the ref
// store's files rather than starting git: a loose ref under refs/heads, or
// a refs/heads/ line of packed-refs. A missing repository has none.
//
// Reading refs/heads was half of GET /projects/:id's own cost (issue 14),
// so the answer is kept while two stats show the same files: creating,
// updating (git renames a lock file over the ref) or deleting a loose
// ref changes refs/heads' modification time, and rewriting packed-refs
// replaces it. Not kept: when refs/heads has a subdirectory (a ref there
// would not touch refs/heads itself), or when either time is within the
// last two seconds, as git's own index does for racy timestamps (a change
// in the same clock tick would leave the time as it was).
func (r *Repos) HasBranches(projectID int64) bool {
	dir := r.Path(projectID)
	heads, packed := filepath.Join(dir, "refs", "heads"), filepath.Join(dir, "packed-refs")
	key, keyOK := statRefs(heads, packed)
	if keyOK {
		if v, ok := r.branches.Load(projectID); ok && v.(branchAnswer).key == key {
			return v.(branchAnswer).has
		}
	}
	has, subdirs := hasLooseRef(heads)
	if !has {
		has = packedHasBranch(packed)
	}
	settled := time.Now().Add(-2 * time.Second)
	if keyOK && !subdirs && key.heads.Before(settled) && key.packed.Before(settled) {
		r.branches.Store(projectID, branchAnswer{key, has})
	} else {
		r.branches.Delete(projectID)
	}
	return has
}

// statRefs is the key HasBranches keeps its answer under; false when
// refs/heads cannot be read (no repository).
func statRefs(heads, packed string) (refsKey, bool) {
	h, err := os.Stat(heads)
	if err != nil {
		return refsKey{}, false
	}
	k := refsKey{heads: h.ModTime()}
	if p, err := os.Stat(packed); err == nil {
		k.packed, k.packedSize, k.packedExists = p.ModTime(), p.Size(), true
	} else if !errors.Is(err, fs.ErrNotExist) {
		return refsKey{}, false
	}
	return k, true
}

// packedHasBranch reports whether packed-refs lists a branch.
func packedHasBranch(packed string) bool {
	f, err := os.Open(packed)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// "<object> <refname>"; "#" starts the header, "^" a peeled tag.
		if _, name, ok := strings.Cut(sc.Text(), " "); ok && strings.HasPrefix(name, "refs/heads/") {
			return true
		}
	}
	return false
}

// hasLooseRef reports whether dir holds a ref file at any depth (branch
// names may contain slashes; a ".lock" file is an update in progress), and
// whether it has subdirectories.
func hasLooseRef(dir string) (has, subdirs bool) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false, false
	}
	for _, e := range entries {
		if e.IsDir() {
			subdirs = true
			if !has {
				has, _ = hasLooseRef(filepath.Join(dir, e.Name()))
			}
		} else if !strings.HasSuffix(e.Name(), ".lock") {
			has = true
		}
	}
	return has, subdirs
}

// Ref is a branch or tag.
type Ref struct {
	Name string // refs/heads/main
	SHA  string
}

// Refs lists branches and tags.
func (r *Repos) Refs(ctx context.Context, projectID int64, prefix string) ([]Ref, error) {
	out, err := r.run(ctx, r.Path(projectID), nil, "for-each-ref", "--format=%(objectname) %(refname)", prefix)
	if err != nil {
		return nil, err
	}
	var refs []Ref
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		sha, name, ok := strings.Cut(sc.Text(), " ")
		if ok {
			refs = append(refs, Ref{Name: name, SHA: sha})
		}
	}
	return refs, sc.Err()
}

// Commit is the metadata of one commit.
type Commit struct {
	SHA            string
	Parents        []string
	Title          string
	Message        string
	AuthorName     string
	AuthorEmail    string
	AuthoredAt     string // RFC 3339
	CommitterName  string
	CommitterEmail string
	CommittedAt    string
}

// Commit resolves rev (a SHA, branch or tag) to a commit.
func (r *Repos) Commit(ctx context.Context, projectID int64, rev string) (*Commit, error) {
	if !safeRev(rev) {
		return nil, ErrNotFound
	}
	out, err := r.run(ctx, r.Path(projectID), nil, "log", "-1", "--no-show-signature",
		"--format=%H%x00%P%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%B", rev+"^{commit}", "--")
	if failed(err) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	f := strings.SplitN(string(out), "\x00", 9)
	if len(f) < 9 {
		return nil, ErrNotFound
	}
	msg := strings.TrimRight(f[8], "\n")
	title, _, _ := strings.Cut(msg, "\n")
	return &Commit{SHA: f[0], Parents: strings.Fields(f[1]), AuthorName: f[2], AuthorEmail: f[3], AuthoredAt: f[4],
		CommitterName: f[5], CommitterEmail: f[6], CommittedAt: f[7], Message: msg, Title: title}, nil
}

// safeRev refuses revisions that git could read as options or ranges.
func safeRev(rev string) bool {
	return rev != "" && len(rev) <= 1024 && !strings.HasPrefix(rev, "-") &&
		!strings.ContainsAny(rev, " \t\n\x00:") && !strings.Contains(rev, "..")
}

// ReadFile returns the content of path at rev, up to max bytes; a larger
// file is a *TooLargeError rather than a truncation. One git process:
// cat-file --batch tells type and size before the content, so an oversized
// file is refused without being read.
func (r *Repos) ReadFile(ctx context.Context, projectID int64, rev, path string, max int64) ([]byte, error) {
	if !safeRev(rev) || path == "" || strings.HasPrefix(path, "/") || strings.ContainsAny(path, "\x00\n") {
		return nil, ErrNotFound
	}
	if _, err := os.Stat(r.Path(projectID)); err != nil {
		return nil, ErrNotFound
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	cmd := r.command(ctx, r.Path(projectID), "cat-file", "--batch")
	cmd.Stdin = strings.NewReader(rev + ":" + path + "\n")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	// Kill git before waiting for it, on every return: a blob we refuse or
	// stop reading is still being written, and git would block on the full
	// pipe while Wait waited for git.
	defer func() {
		cancel()
		cmd.Wait()
	}()
	br := bufio.NewReader(out)
	header, err := br.ReadString('\n')
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, ErrNotFound
	}
	f := strings.Fields(header)
	if len(f) != 3 || f[1] != "blob" {
		return nil, ErrNotFound // "<rev> missing", or a tree
	}
	size, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil {
		return nil, ErrNotFound
	}
	if size > max {
		return nil, &TooLargeError{Path: path, Size: size, Max: max}
	}
	data := make([]byte, size)
	if _, err := io.ReadFull(br, data); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	return data, nil
}

// ListFiles lists every file path in the tree of rev.
func (r *Repos) ListFiles(ctx context.Context, projectID int64, rev string) ([]string, error) {
	if !safeRev(rev) {
		return nil, ErrNotFound
	}
	out, err := r.run(ctx, r.Path(projectID), nil, "ls-tree", "-r", "-z", "--name-only", rev, "--")
	if failed(err) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return splitZ(out), nil
}

// ChangedFiles lists the paths that differ between before and after; with
// no before (a new branch) it lists the files of after's own commit.
func (r *Repos) ChangedFiles(ctx context.Context, projectID int64, before, after string) ([]string, error) {
	if !safeRev(after) {
		return nil, ErrNotFound
	}
	args := []string{"diff-tree", "-r", "-z", "--no-commit-id", "--name-only", "--root"}
	if before != "" && before != ZeroSHA && safeRev(before) {
		args = append(args, before, after)
	} else {
		args = append(args, after)
	}
	out, err := r.run(ctx, r.Path(projectID), nil, args...)
	if err != nil {
		return nil, err
	}
	return splitZ(out), nil
}

func splitZ(b []byte) []string {
	var out []string
	for _, p := range bytes.Split(b, []byte{0}) {
		if len(p) > 0 {
			out = append(out, string(p))
		}
	}
	return out
}

// UpdateRef points ref at sha (refs/pipelines/<id>, which keeps a
// pipeline's commit fetchable however its branch moves).
func (r *Repos) UpdateRef(ctx context.Context, projectID int64, ref, sha string) error {
	if !safeRev(sha) || !strings.HasPrefix(ref, "refs/") {
		return ErrNotFound
	}
	_, err := r.run(ctx, r.Path(projectID), nil, "update-ref", ref, sha)
	return err
}

// TagMessages returns the message of every annotated tag by tag name.
func (r *Repos) TagMessages(ctx context.Context, projectID int64) (map[string]string, error) {
	out, err := r.run(ctx, r.Path(projectID), nil, "for-each-ref", "--format=%(refname:strip=2)%00%(objecttype)%00%(contents)%00%00", "refs/tags/")
	if err != nil {
		return nil, err
	}
	msgs := map[string]string{}
	for _, rec := range strings.Split(string(out), "\x00\x00") {
		f := strings.SplitN(strings.TrimLeft(rec, "\n"), "\x00", 3)
		if len(f) == 3 && f[1] == "tag" {
			msgs[f[0]] = strings.TrimRight(f[2], "\n")
		}
	}
	return msgs, nil
}
