package bench

// Helpers shared by jobtoken_test.go, polling_test.go and
// throughput_test.go. Every identifier here starts with jb so that it
// cannot collide with the other benchmarks of the package.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// jbRootToken is root's personal access token in every server these
// benchmarks start (CIWARDEN_INITIAL_ROOT_TOKEN / Config.InitialRootToken).
const jbRootToken = "cwpat-bench-jobs-root-token-Vb81qT"

// jbEnvLong enables the tests that take minutes (idle polling, job
// throughput); without it they skip.
const jbEnvLong = "CIWARDEN_BENCH"

func jbRequireLong(t testing.TB) {
	t.Helper()
	if os.Getenv(jbEnvLong) != "1" {
		t.Skipf("set %s=1 to run this measurement (it takes a minute or more)", jbEnvLong)
	}
}

// jbRequireProc skips where /proc/<pid>/stat is not there to read CPU
// time from (not Linux).
func jbRequireProc(t testing.TB) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skipf("needs /proc/<pid>/stat (Linux), not %s", runtime.GOOS)
	}
	if _, err := jbReadCPU(os.Getpid()); err != nil {
		t.Skipf("cannot read process CPU time: %v", err)
	}
}

func jbRequireGit(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skipf("git is not on PATH: %v", err)
	}
}

// jbEnvInt reads a positive integer knob, def when unset.
func jbEnvInt(t testing.TB, name string, def int) int {
	t.Helper()
	v := strings.TrimSpace(os.Getenv(name))
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// jbEnvDuration reads a duration knob, def when unset.
func jbEnvDuration(t testing.TB, name string, def time.Duration) time.Duration {
	t.Helper()
	v := strings.TrimSpace(os.Getenv(name))
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a duration such as 20s", name, v)
	}
	return d
}

// jbModuleRoot is the directory of go.mod.
func jbModuleRoot() (string, error) {
	if out, err := exec.Command("go", "env", "GOMOD").Output(); err == nil {
		if gomod := strings.TrimSpace(string(out)); gomod != "" && gomod != os.DevNull {
			return filepath.Dir(gomod), nil
		}
	}
	dir, err := filepath.Abs("..")
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		return "", fmt.Errorf("cannot find the module root: %v", err)
	}
	return dir, nil
}

// jbBinary builds ./cmd/ciwarden into the test's temporary directory (the
// build cache makes this a link step), or returns CIWARDEN_BENCH_BIN when
// set (a binary kept for profiling the server with perf). No go
// toolchain: skip.
func jbBinary(t testing.TB) string {
	t.Helper()
	if bin := os.Getenv("CIWARDEN_BENCH_BIN"); bin != "" {
		return bin
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skipf("the go command is not on PATH: %v", err)
	}
	root, err := jbModuleRoot()
	if err != nil {
		t.Skipf("%v", err)
	}
	bin := filepath.Join(t.TempDir(), "ciwarden")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/ciwarden")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/ciwarden: %v\n%s", err, out)
	}
	return bin
}

// jbCleanEnv is the environment without CIWARDEN_* variables.
func jbCleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CIWARDEN_") {
			env = append(env, kv)
		}
	}
	return env
}

// jbFreeAddr picks a free port on 127.0.0.1.
func jbFreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.1: %v", err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// jbCPU is a process's CPU time from /proc/<pid>/stat: its own threads
// (User, Sys) and its waited-for children (ChildUser, ChildSys).
type jbCPU struct {
	User, Sys, ChildUser, ChildSys time.Duration
}

// Self is the process's own CPU time.
func (c jbCPU) Self() time.Duration { return c.User + c.Sys }

// Children is the CPU time of its reaped children.
func (c jbCPU) Children() time.Duration { return c.ChildUser + c.ChildSys }

func (c jbCPU) Sub(o jbCPU) jbCPU {
	return jbCPU{c.User - o.User, c.Sys - o.Sys, c.ChildUser - o.ChildUser, c.ChildSys - o.ChildSys}
}

// jbClockTick is USER_HZ, the unit of /proc/<pid>/stat times: 100 on
// every Linux architecture Go supports.
const jbClockTick = 10 * time.Millisecond

func jbReadCPU(pid int) (jbCPU, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return jbCPU{}, err
	}
	// The command name is in parentheses and may hold spaces: fields
	// start after the last ')'. Field 3 (state) is f[0]; utime, stime,
	// cutime and cstime are fields 14 to 17.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return jbCPU{}, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 15 {
		return jbCPU{}, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	var v [4]int64
	for k := range v {
		if v[k], err = strconv.ParseInt(f[11+k], 10, 64); err != nil {
			return jbCPU{}, fmt.Errorf("/proc/%d/stat: %v", pid, err)
		}
	}
	return jbCPU{time.Duration(v[0]) * jbClockTick, time.Duration(v[1]) * jbClockTick,
		time.Duration(v[2]) * jbClockTick, time.Duration(v[3]) * jbClockTick}, nil
}

// jbStatus reads one "Name: value" line of /proc/<pid>/status.
func jbStatus(pid int, name string) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && k == name {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// jbOpenFDs counts a process's open file descriptors.
func jbOpenFDs(pid int) int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return -1
	}
	return len(ents)
}

// jbProc is a child process these benchmarks started. It dies with the
// test process (Pdeathsig) and is stopped, by its own PID only, when the
// test ends.
type jbProc struct {
	Name    string
	Cmd     *exec.Cmd
	LogPath string
	exited  chan struct{}
	waitErr error
}

func (p *jbProc) Pid() int { return p.Cmd.Process.Pid }

func (p *jbProc) CPU(t testing.TB) jbCPU {
	t.Helper()
	c, err := jbReadCPU(p.Pid())
	if err != nil {
		t.Fatalf("%s: %v", p.Name, err)
	}
	return c
}

// Log is the tail of the process's output, for failure messages.
func (p *jbProc) Log() string {
	b, _ := os.ReadFile(p.LogPath)
	if len(b) > 8<<10 {
		b = b[len(b)-8<<10:]
	}
	return string(b)
}

func jbStart(t testing.TB, name, bin string, env []string, args ...string) *jbProc {
	t.Helper()
	dir := t.TempDir()
	logPath := filepath.Join(dir, name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(jbCleanEnv(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	logf.Close()
	p := &jbProc{Name: name, Cmd: cmd, LogPath: logPath, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() { p.Stop(t) })
	return p
}

// Stop sends SIGTERM and waits up to 40 s (the server gives requests in
// flight 30 s), then SIGKILL.
func (p *jbProc) Stop(t testing.TB) {
	select {
	case <-p.exited:
		return
	default:
	}
	p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		if p.waitErr != nil {
			t.Logf("%s exited after SIGTERM: %v", p.Name, p.waitErr)
		}
	case <-time.After(40 * time.Second):
		p.Cmd.Process.Kill()
		<-p.exited
		t.Logf("%s did not exit within 40 s of SIGTERM; killed", p.Name)
	}
}

// jbChildServer is `ciwarden serve` running as a child process.
type jbChildServer struct {
	*jbProc
	URL     string
	DataDir string
}

// jbServe starts `ciwarden serve` on a free port of 127.0.0.1 with a
// fresh SQLite data directory and waits until /-/readiness answers 200.
func jbServe(t testing.TB, bin string, args ...string) *jbChildServer {
	t.Helper()
	for attempt := 1; ; attempt++ {
		addr := jbFreeAddr(t)
		dataDir := t.TempDir()
		all := append([]string{"serve", "--listen", addr, "--data-dir", dataDir}, args...)
		p := jbStart(t, "ciwarden-serve", bin, []string{"CIWARDEN_INITIAL_ROOT_TOKEN=" + jbRootToken}, all...)
		s := &jbChildServer{jbProc: p, URL: "http://" + addr, DataDir: dataDir}
		err := s.waitReady(30 * time.Second)
		if err == nil {
			return s
		}
		if strings.Contains(p.Log(), "address already in use") && attempt < 3 {
			continue
		}
		t.Fatalf("ciwarden serve: %v\n%s", err, p.Log())
	}
}

func (s *jbChildServer) waitReady(limit time.Duration) error {
	c := &http.Client{Timeout: time.Second}
	defer c.CloseIdleConnections()
	deadline := time.Now().Add(limit)
	for {
		select {
		case <-s.exited:
			return fmt.Errorf("exited before it was ready: %v", s.waitErr)
		default:
		}
		resp, err := c.Get(s.URL + "/-/readiness")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("/-/readiness not 200 within %v (last error %v)", limit, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// jbAPI calls a ciwarden over HTTP with a JSON body.
type jbAPI struct {
	Base string // http://host:port
	HTTP *http.Client
}

func jbNewAPI(base string) *jbAPI {
	return &jbAPI{Base: base, HTTP: &http.Client{Timeout: time.Minute}}
}

// Call sends method path with body as JSON (nil: no body) and header,
// expects status want, and returns the body and the header.
func (a *jbAPI) Call(t testing.TB, method, path string, header http.Header, body any, want int) ([]byte, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		js, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(js)
	}
	req, err := http.NewRequest(method, a.Base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := a.HTTP.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d, want %d: %s", method, path, resp.StatusCode, want, data)
	}
	return data, resp.Header
}

// Root calls as root (PRIVATE-TOKEN) and decodes a JSON object.
func (a *jbAPI) Root(t testing.TB, method, path string, body any, want int) map[string]any {
	t.Helper()
	data, _ := a.Call(t, method, path, http.Header{"Private-Token": {jbRootToken}}, body, want)
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("%s %s: %v: %s", method, path, err, data)
	}
	return m
}

// RootList calls as root and decodes a JSON array; it also returns
// X-Total.
func (a *jbAPI) RootList(t testing.TB, path string) ([]map[string]any, int) {
	t.Helper()
	data, h := a.Call(t, "GET", path, http.Header{"Private-Token": {jbRootToken}}, nil, http.StatusOK)
	var l []map[string]any
	if err := json.Unmarshal(data, &l); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, data)
	}
	total, _ := strconv.Atoi(h.Get("X-Total"))
	return l, total
}

// CreateProject creates a private project in root's namespace and
// returns its ID and full path.
func (a *jbAPI) CreateProject(t testing.TB, path string) (int64, string) {
	t.Helper()
	p := a.Root(t, "POST", "/api/v4/projects", map[string]any{"name": path, "path": path, "visibility": "private"}, http.StatusCreated)
	return jbInt(t, p, "id"), p["path_with_namespace"].(string)
}

// CreateRunner creates an instance runner and returns its glrt- token.
func (a *jbAPI) CreateRunner(t testing.TB, description string) string {
	t.Helper()
	r := a.Root(t, "POST", "/api/v4/user/runners", map[string]any{"runner_type": "instance_type", "description": description}, http.StatusCreated)
	tok, _ := r["token"].(string)
	if tok == "" {
		t.Fatalf("POST /user/runners: no token in %v", r)
	}
	return tok
}

func jbInt(t testing.TB, m map[string]any, key string) int64 {
	t.Helper()
	f, ok := m[key].(float64)
	if !ok {
		t.Fatalf("%q is not a number in %v", key, m)
	}
	return int64(f)
}

// jbRepo is a local repository with one commit, ready to push.
type jbRepo struct {
	dir string
	env []string
}

// jbNewRepo commits files to a new local repository.
func jbNewRepo(t testing.TB, files map[string]string) *jbRepo {
	t.Helper()
	jbRequireGit(t)
	home := t.TempDir()
	r := &jbRepo{dir: filepath.Join(home, "work"), env: []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home, "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0", "LC_ALL=C",
		"GIT_AUTHOR_NAME=Bench", "GIT_AUTHOR_EMAIL=bench@example.com",
		"GIT_COMMITTER_NAME=Bench", "GIT_COMMITTER_EMAIL=bench@example.com",
	}}
	r.git(t, home, "init", "--quiet", r.dir)
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(r.dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r.git(t, r.dir, "add", "--all")
	r.git(t, r.dir, "commit", "--quiet", "-m", "bench")
	return r
}

func (r *jbRepo) git(t testing.TB, dir string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", append([]string{"-c", "credential.helper=", "-c", "init.defaultBranch=main"}, args...)...)
	cmd.Dir, cmd.Env = dir, r.env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %s: %v\n%s", args[0], err, out)
	}
}

// Push pushes HEAD to each of refs (branch names) of the project at
// base/fullPath, as root, in one push: one pipeline per branch.
func (r *jbRepo) Push(t testing.TB, base, fullPath string, refs ...string) {
	t.Helper()
	url := strings.Replace(base, "://", "://root:"+jbRootToken+"@", 1) + "/" + fullPath + ".git"
	args := []string{"push", "--quiet", url}
	for _, ref := range refs {
		args = append(args, "HEAD:refs/heads/"+ref)
	}
	r.git(t, r.dir, args...)
}

// jbPush commits files to a new repository and pushes it to refs.
func jbPush(t testing.TB, base, fullPath string, files map[string]string, refs ...string) {
	t.Helper()
	jbNewRepo(t, files).Push(t, base, fullPath, refs...)
}

// jbShort writes a count as 1k, 1M...
func jbShort(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return strconv.Itoa(n/1_000_000) + "M"
	case n >= 1000 && n%1000 == 0:
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.Itoa(n)
}

// jbCopyFile copies src to dst.
func jbCopyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// jbSleep sleeps d or until ctx ends; false when ctx ended.
func jbSleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
