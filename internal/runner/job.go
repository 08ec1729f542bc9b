package runner

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ciwarden/ciwarden/internal/ci/expr"
	"github.com/ciwarden/ciwarden/internal/mask"
	"github.com/ciwarden/ciwarden/internal/runnerproto"
	"github.com/ciwarden/ciwarden/internal/version"
)

// Runner polls for jobs and runs them with bash.
type Runner struct {
	Client     *Client
	BuildsDir  string
	Concurrent int
	Log        *slog.Logger
	// MaskPrefixes are masked in every log, besides each job's own.
	MaskPrefixes []string
	// KillGrace is how long a canceled script gets between SIGTERM and
	// SIGKILL.
	KillGrace time.Duration
	// MaxExtractSize bounds the bytes one dependency's artifacts may
	// expand to; 0 means DefaultMaxExtractSize, < 0 no bound.
	MaxExtractSize int64
	// KeepAlive is the longest a job goes without a call to the server;
	// 0 means DefaultKeepAlive.
	KeepAlive time.Duration
	// EndFor is how long the end of a job (the rest of its log and its
	// final update) is retried while the server cannot take it; 0 means
	// DefaultEndFor.
	EndFor time.Duration
}

// DefaultEndFor bounds the retries of a job's end: gitlab-runner's
// longest backoff for its final update. A server that is unreachable for a
// while (restarting, failing over) still learns how the job ended.
const DefaultEndFor = time.Hour

// maxEndBackoff is the longest wait between two tries of a job's end, so
// that a server that is back hears of the job soon, well within its
// --runner-contact-timeout.
const maxEndBackoff = 30 * time.Second

// Run runs Concurrent workers until ctx ends; jobs in progress are
// canceled with it.
func (r *Runner) Run(ctx context.Context) error {
	if r.Concurrent <= 0 {
		r.Concurrent = 1
	}
	if r.KillGrace <= 0 {
		r.KillGrace = 10 * time.Second
	}
	if r.KeepAlive <= 0 {
		r.KeepAlive = DefaultKeepAlive
	}
	if r.EndFor <= 0 {
		r.EndFor = DefaultEndFor
	}
	if err := os.MkdirAll(r.BuildsDir, 0o750); err != nil {
		return err
	}
	var wg sync.WaitGroup
	for i := 0; i < r.Concurrent; i++ {
		wg.Add(1)
		go func(worker int) {
			defer wg.Done()
			r.work(ctx, worker)
		}(i)
	}
	wg.Wait()
	return nil
}

func (r *Runner) work(ctx context.Context, worker int) {
	last := ""
	for ctx.Err() == nil {
		job, next, err := r.Client.RequestJob(ctx, last)
		last = next
		if err != nil {
			if ctx.Err() == nil {
				r.Log.Warn("runner: request job", "err", err)
				sleep(ctx, 3*time.Second)
			}
			continue
		}
		if job == nil {
			continue // the server held us as long as it wanted to
		}
		r.runJob(ctx, worker, job)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// jobRun is one job in progress.
type jobRun struct {
	r      *Runner
	p      *runnerproto.Payload
	out    *mask.Writer
	trace  *tracer
	env    []string
	dir    string
	cancel context.CancelFunc // graceful: stop the script, run after_script
	abort  context.CancelFunc // hard: stop everything
	mu     sync.Mutex
	reason string
}

func (r *Runner) runJob(parent context.Context, worker int, p *runnerproto.Payload) {
	abortCtx, abort := context.WithCancel(parent)
	defer abort()
	scriptCtx, cancel := context.WithCancel(abortCtx)
	defer cancel()
	j := &jobRun{r: r, p: p, cancel: cancel, abort: abort}
	j.trace = &tracer{client: r.Client, jobID: p.ID, token: p.Token, interval: 3 * time.Second, keepAlive: r.KeepAlive}
	j.trace.onStatus = func(status string) {
		switch status {
		case "canceling":
			j.setReason("canceled")
			cancel()
		case "canceled", "failed", "success":
			j.setReason("canceled")
			abort()
		}
	}
	m, unmaskable := compileMask(p, r.MaskPrefixes)
	j.out = m.NewWriter(j.trace)
	for _, key := range unmaskable {
		j.printf("WARNING: variable %s is marked masked but is shorter than %d characters: it cannot be masked\n", key, mask.MinSecretLen)
	}

	if res, err := r.Client.UpdateJob(abortCtx, p.ID, p.Token, map[string]any{"state": "running"}); err != nil || res.Status != http.StatusOK {
		r.Log.Warn("runner: job refused at start", "job_id", p.ID, "err", err)
		return
	}
	j.trace.answered()
	tctx, stopTrace := context.WithCancel(abortCtx)
	go j.trace.loop(tctx)

	exit, err := j.execute(scriptCtx, abortCtx, worker)
	stopTrace()
	j.out.Close()

	j.end(parent, j.finalUpdate(exit, err))
	if j.dir != "" {
		// File variables' values never outlive the job, kept builds or not.
		os.RemoveAll(j.tmpDir())
		if os.Getenv("CIWARDEN_RUNNER_KEEP_BUILDS") == "" {
			os.RemoveAll(j.dir)
		}
	}
}

// finalUpdate is the final PUT's fields: the outcome, and the CRC32 and
// size of the whole log.
func (j *jobRun) finalUpdate(exit int, err error) map[string]any {
	size, crc := j.trace.summary()
	sum := fmt.Sprintf("crc32:%08x", crc)
	fields := map[string]any{"state": "success", "checksum": sum, "output": map[string]any{"checksum": sum, "bytesize": size}}
	if err != nil {
		fields["state"] = "failed"
		fields["failure_reason"] = j.failureReason(err)
		if exit >= 0 {
			fields["exit_code"] = exit
		}
	}
	return fields
}

// end sends the rest of the log, then the final update, until the server
// took them (200) or no longer wants them (403, 404: the job ended without
// us). A server that cannot be reached, or answers 5xx, is tried again
// with a growing wait (up to maxEndBackoff) for r.EndFor; a 412 (the
// server's copy of the log is short) resends the log and asks again, as
// a 202 does after the server's interval. A runner being stopped (parent
// ends) makes one round and waits for nothing more.
func (j *jobRun) end(parent context.Context, fields map[string]any) {
	ctx := context.WithoutCancel(parent)
	giveUp := time.Now().Add(j.r.EndFor)
	backoff := time.Second
	for {
		res, err := j.endRound(ctx, fields)
		var wait time.Duration
		switch {
		case err != nil && !retryable(err):
			j.r.Log.Error("runner: the server refused the job's final update", "job_id", j.p.ID, "err", err)
			return
		case err != nil:
			wait, backoff = backoff, min(2*backoff, maxEndBackoff)
		case res.Status == http.StatusPreconditionFailed:
			j.trace.rewind()
			wait = res.Interval
		case res.Status == http.StatusAccepted:
			wait = res.Interval
		default:
			return
		}
		if parent.Err() != nil || time.Now().Add(wait).After(giveUp) {
			j.r.Log.Error("runner: giving up on the job's final update", "job_id", j.p.ID, "err", err, "status", res.Status)
			return
		}
		if err != nil {
			j.r.Log.Warn("runner: the job's final update failed; retrying", "job_id", j.p.ID, "err", err, "in", wait.String())
		}
		sleep(parent, wait)
	}
}

// endRound is one try of the job's end: the log's rest, then the final
// update. A log the server refuses for good (too large) is not a reason
// to keep the job's end from it: the final update goes anyway, and the
// server marks the log incomplete.
func (j *jobRun) endRound(ctx context.Context, fields map[string]any) (UpdateResult, error) {
	if err := j.trace.send(ctx); err != nil && retryable(err) {
		return UpdateResult{}, err
	}
	return j.r.Client.UpdateJob(ctx, j.p.ID, j.p.Token, fields)
}

// compileMask builds the job's masker: its token with its encodings,
// every other masked variable, the token prefixes the server sent and
// ours, URL passwords and credential query parameters. Masked values too
// short to mask are returned by name, to be reported in the log.
func compileMask(p *runnerproto.Payload, prefixes []string) (*mask.Masker, []string) {
	r := mask.Rules{Prefixes: append(append(mask.DefaultPrefixes(), prefixes...), p.Features.TokenMaskPrefixes...),
		URLCredentials: true, QueryParams: mask.DefaultQueryParams()}
	if len(p.Token) >= mask.MinSecretLen {
		r.Tokens = []string{p.Token}
	}
	var short []string
	for _, v := range p.Variables {
		switch {
		case !v.Masked || v.Value == p.Token:
		case len(v.Value) < mask.MinSecretLen:
			short = append(short, v.Key)
		default:
			r.Secrets = append(r.Secrets, v.Value)
		}
	}
	m, err := mask.Compile(r)
	if err != nil {
		// Only short values or prefixes fail Compile, and both were
		// filtered above; mask the token alone rather than nothing.
		m, _ = mask.Compile(mask.Rules{Tokens: r.Tokens})
	}
	return m, short
}

func (j *jobRun) setReason(r string) {
	j.mu.Lock()
	if j.reason == "" {
		j.reason = r
	}
	j.mu.Unlock()
}

func (j *jobRun) failureReason(err error) string {
	j.mu.Lock()
	defer j.mu.Unlock()
	switch {
	case j.reason == "timeout":
		return "job_execution_timeout"
	case j.reason != "":
		return "unknown_failure"
	case errors.Is(err, errSystem):
		return "runner_system_failure"
	case errors.Is(err, errDependency) && j.serverKnows("missing_dependency_failure"):
		// gitlab-runner reports a failed download as a script failure;
		// GitLab's own reason for it is used where the server lists it.
		return "missing_dependency_failure"
	}
	return "script_failure"
}

var errSystem = errors.New("runner system failure")

// serverKnows reports whether the server listed a failure reason.
func (j *jobRun) serverKnows(reason string) bool {
	for _, r := range j.p.Features.FailureReasons {
		if r == reason {
			return true
		}
	}
	return false
}

func (j *jobRun) printf(format string, args ...any) {
	fmt.Fprintf(j.out, format, args...)
}

// execute prepares the directory, fetches the sources, runs the script
// and then after_script; it returns the script's exit code (-1 when none).
func (j *jobRun) execute(scriptCtx, abortCtx context.Context, worker int) (int, error) {
	p := j.p
	timeout := time.Duration(p.RunnerInfo.Timeout) * time.Second
	if timeout <= 0 {
		timeout = 2 * time.Hour
	}
	scriptCtx, stop := context.WithTimeout(scriptCtx, timeout)
	defer stop()
	context.AfterFunc(scriptCtx, func() {
		if errors.Is(context.Cause(scriptCtx), context.DeadlineExceeded) || scriptCtx.Err() == context.DeadlineExceeded {
			j.setReason("timeout")
		}
	})
	j.printf("Running with %s on %s\n", Version, hostname())
	path := p.JobInfo.ProjectFullPath
	if path == "" || strings.Contains(path, "..") {
		path = "project-" + strconv.FormatInt(p.JobInfo.ProjectID, 10)
	}
	j.dir = filepath.Join(j.r.BuildsDir, strconv.Itoa(worker), filepath.FromSlash(path))
	if err := os.RemoveAll(j.dir); err != nil {
		return -1, fmt.Errorf("%w: %v", errSystem, err)
	}
	if err := os.MkdirAll(j.dir, 0o750); err != nil {
		return -1, fmt.Errorf("%w: %v", errSystem, err)
	}
	env, err := j.environment()
	if err != nil {
		return -1, fmt.Errorf("%w: %v", errSystem, err)
	}
	j.env = env
	if strategy := lookup(p, "GIT_STRATEGY"); strategy != "none" && strategy != "empty" {
		if err := j.fetchSources(scriptCtx); err != nil {
			j.printf("ERROR: getting the sources failed: %v\n", err)
			j.runAfterScript(abortCtx)
			j.finishArtifacts(scriptCtx, abortCtx, false)
			return -1, err
		}
	}
	if err := j.downloadDependencies(scriptCtx); err != nil {
		j.runAfterScript(abortCtx)
		j.finishArtifacts(scriptCtx, abortCtx, false)
		j.printf("ERROR: Job failed: %v\n", err)
		return 1, err
	}
	var script []string
	var after, release *runnerproto.Step
	for i, s := range p.Steps {
		switch s.Name {
		case "script":
			script = s.Script
		case "after_script":
			after = &p.Steps[i]
		case runnerproto.StepRelease:
			release = &p.Steps[i]
		}
	}
	exit, err := j.runStep(scriptCtx, "script", script)
	if err == nil && release != nil && scriptCtx.Err() == nil {
		// The release step follows a successful script, before
		// after_script (gitlab-runner's order); its failure is the job's.
		if err = j.runRelease(scriptCtx, release.Script); err != nil {
			exit = 1
		}
	}
	if after != nil {
		j.runAfterScript(abortCtx)
	}
	if err == nil && scriptCtx.Err() != nil {
		err = scriptCtx.Err()
	}
	if uerr := j.finishArtifacts(scriptCtx, abortCtx, err == nil); uerr != nil && err == nil {
		// The script passed but its artifacts did not make it: the job
		// fails, with the helper's exit code as gitlab-runner reports it.
		exit, err = 1, uerr
	}
	if err != nil {
		j.printf("ERROR: Job failed: %v\n", err)
	} else {
		j.printf("Job succeeded\n")
	}
	return exit, err
}

// finishArtifacts uploads the artifacts due for the outcome, unless the
// job was canceled or timed out (scriptCtx ended): gitlab-runner uploads
// nothing then.
func (j *jobRun) finishArtifacts(scriptCtx, ctx context.Context, succeeded bool) error {
	j.mu.Lock()
	stopped := j.reason != ""
	j.mu.Unlock()
	if stopped || scriptCtx.Err() != nil || ctx.Err() != nil {
		return nil
	}
	return j.uploadArtifacts(ctx, succeeded)
}

func (j *jobRun) runAfterScript(ctx context.Context) {
	for _, s := range j.p.Steps {
		if s.Name == "after_script" && len(s.Script) > 0 {
			actx, stop := context.WithTimeout(ctx, 5*time.Minute)
			j.runStep(actx, "after_script", s.Script)
			stop()
		}
	}
}

// shortToken is CI_RUNNER_SHORT_TOKEN as gitlab-runner computes it: the
// runner token without its glrt- (and partition t1_ to t3_) prefix, first
// 9 characters.
func shortToken(token string) string {
	token = strings.TrimPrefix(token, "glrt-")
	if len(token) > 3 && token[0] == 't' && token[1] >= '1' && token[1] <= '3' && token[2] == '_' {
		token = token[3:]
	}
	return token[:min(9, len(token))]
}

func lookup(p *runnerproto.Payload, key string) string {
	val := ""
	for _, v := range p.Variables {
		if v.Key == key {
			val = v.Value
		}
	}
	return val
}

// environment is the job's variables for its processes: non-raw values
// expanded against the earlier ones, later duplicates winning. A file
// variable's value goes to a file of its own (mode 0600) in the job's
// temporary directory, and the variable holds the file's path, as
// gitlab-runner does; the directory goes when the job ends.
func (j *jobRun) environment() ([]string, error) {
	vals := map[string]string{}
	var order []string
	get := func(k string) (string, bool) { v, ok := vals[k]; return v, ok }
	for _, v := range j.p.Variables {
		val := v.Value
		if v.File {
			path, err := j.writeFileVariable(v.Key, v.Value)
			if err != nil {
				return nil, err
			}
			val = path
		} else if !v.Raw {
			val = expr.Expand(val, get)
		}
		if _, ok := vals[v.Key]; !ok {
			order = append(order, v.Key)
		}
		vals[v.Key] = val
	}
	vals["CI_BUILDS_DIR"] = j.r.BuildsDir
	vals["CI_PROJECT_DIR"] = j.dir
	vals["CI_SERVER"] = "yes"
	vals["CI_JOB_STATUS"] = "running"
	order = append(order, "CI_BUILDS_DIR", "CI_PROJECT_DIR", "CI_SERVER", "CI_JOB_STATUS")
	// What gitlab-runner says about itself (the server sends CI_RUNNER_ID,
	// _DESCRIPTION and _TAGS).
	ver, rev := version.Get()
	for _, kv := range [][2]string{{"CI_RUNNER_SHORT_TOKEN", shortToken(j.r.Client.Token)}, {"CI_RUNNER_VERSION", ver},
		{"CI_RUNNER_REVISION", rev}, {"CI_RUNNER_EXECUTABLE_ARCH", runtime.GOOS + "/" + runtime.GOARCH}} {
		if _, ok := vals[kv[0]]; !ok {
			order = append(order, kv[0])
		}
		vals[kv[0]] = kv[1]
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + j.r.BuildsDir, "LANG=C.UTF-8", "SHELL=/bin/bash"}
	for _, k := range order {
		env = append(env, k+"="+vals[k])
	}
	return env, nil
}

// tmpDir is the job's temporary directory, beside its project directory
// in the builds directory (gitlab-runner's <project dir>.tmp), so that
// nothing of it lands in the checkout.
func (j *jobRun) tmpDir() string { return j.dir + ".tmp" }

// writeFileVariable writes a file variable's value, readable by the job's
// user only, and returns its path.
func (j *jobRun) writeFileVariable(key, value string) (string, error) {
	if err := os.MkdirAll(j.tmpDir(), 0o700); err != nil {
		return "", err
	}
	// The key is [A-Za-z0-9_] for CI/CD variables; a YAML key is checked
	// here too, so no key names a path outside the directory.
	if key == "" || strings.ContainsAny(key, "/\\") || key == "." || key == ".." {
		return "", fmt.Errorf("file variable %q: not a file name", key)
	}
	path := filepath.Join(j.tmpDir(), key)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return "", err
	}
	if _, err := f.WriteString(value); err != nil {
		f.Close()
		return "", err
	}
	return path, f.Close()
}

// gitWaitDelay bounds the wait for a git's output pipe after git exited or
// was killed at the job's end: a child of git (git-remote-http) may still
// hold it, and the job must not wait for that child (issue 13, item 1).
const gitWaitDelay = 5 * time.Second

// fetchSources gets the commit with the job token passed to git through
// the environment (http.extraHeader): never in argv, a file, or the log.
func (j *jobRun) fetchSources(ctx context.Context) error {
	g := j.p.GitInfo
	u, err := url.Parse(g.RepoURL)
	if err != nil {
		return fmt.Errorf("%w: bad repo_url", errSystem)
	}
	user, pass := "gitlab-ci-token", j.p.Token
	if u.User != nil {
		user = u.User.Username()
		if pw, ok := u.User.Password(); ok {
			pass = pw
		}
	}
	u.User = nil
	auth := "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	gitEnv := append(append([]string{}, j.env...), "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=http.extraHeader", "GIT_CONFIG_VALUE_0="+auth)
	j.printf("Fetching changes with git depth set to %d...\n", g.Depth)
	run := func(args ...string) error {
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = j.dir, gitEnv, j.out, j.out
		cmd.WaitDelay = gitWaitDelay
		return runOwned(cmd)
	}
	if err := run("init", "-q"); err != nil {
		return err
	}
	if err := run("remote", "add", "origin", u.String()); err != nil {
		return err
	}
	fetch := []string{"fetch", "-q", "--no-recurse-submodules", "origin"}
	fetch = append(fetch, g.Refspecs...)
	if g.Depth > 0 {
		fetch = append(fetch, "--depth", strconv.Itoa(g.Depth))
	}
	if err := run(fetch...); err != nil {
		return err
	}
	j.printf("Checking out %s as detached HEAD (ref is %s)...\n", shortSHA(g.Sha), g.Ref)
	return run("-c", "advice.detachedHead=false", "checkout", "-f", "-q", g.Sha)
}

func shortSHA(s string) string {
	if len(s) > 8 {
		return s[:8]
	}
	return s
}

// runStep runs lines as one bash script, echoing each command as the
// runner does, in a process group of its own so that a cancel reaches
// every child and the runner's death ends them all (proc.go).
func (j *jobRun) runStep(ctx context.Context, name string, lines []string) (int, error) {
	var b strings.Builder
	b.WriteString(stepGate + "set -eo pipefail\n")
	for _, l := range lines {
		b.WriteString("printf '\\033[32;1m$ %s\\033[0;m\\n' " + shellQuote(l) + "\n")
		b.WriteString(l + "\n")
	}
	f, err := os.CreateTemp("", "ciwarden-step-*.sh")
	if err != nil {
		return -1, fmt.Errorf("%w: %v", errSystem, err)
	}
	defer os.Remove(f.Name())
	if _, err := io.WriteString(f, b.String()); err != nil {
		f.Close()
		return -1, fmt.Errorf("%w: %v", errSystem, err)
	}
	f.Close()
	wd, err := processWatchdog()
	if err != nil {
		return -1, fmt.Errorf("%w: %v", errSystem, err)
	}
	cmd := exec.Command("bash", "--noprofile", "--norc", f.Name())
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = j.dir, j.env, j.out, j.out
	g, err := startGroup(wd, cmd)
	if err != nil {
		return -1, fmt.Errorf("%w: %v", errSystem, err)
	}
	done := make(chan error, 1)
	go func() { done <- g.wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		// Terminate the whole group, then kill what is left.
		g.signal(syscall.SIGTERM)
		select {
		case err = <-done:
		case <-time.After(j.r.KillGrace):
			g.signal(syscall.SIGKILL)
			err = <-done
		}
	}
	exit := -1
	if cmd.ProcessState != nil {
		exit = cmd.ProcessState.ExitCode()
	}
	if err != nil && name == "script" {
		var ee *exec.ExitError
		if errors.As(err, &ee) && exit >= 0 {
			return exit, fmt.Errorf("exit code %d", exit)
		}
	}
	return exit, err
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func hostname() string {
	h, _ := os.Hostname()
	return h
}
