package bench

// Helpers shared by the benchmarks: what they measure with (CPU time,
// memory and descriptors from /proc, knobs from the environment) and the
// servers they measure, which internal/testserver starts and checks as it
// does every test's. Every identifier here starts with jb so that it
// cannot collide with the other benchmarks of the package.

import (
	"bytes"
	"context"
	"fmt"
	"io"
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

	"github.com/ciwarden/ciwarden/internal/testserver"
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

func TestMain(m *testing.M) { testserver.Main(m) }

// jbServe starts `ciwarden serve` as a child process (SQLite in its data
// directory, root's token jbRootToken) with more flags, waits until it is
// ready, and stops and checks it when the test ends.
func jbServe(t testing.TB, args ...string) *testserver.Server {
	t.Helper()
	return testserver.New(t, testserver.Options{Process: true, DefaultDB: true, RootToken: jbRootToken, Args: args})
}

// jbProcCPU is a process's CPU time, failing the test when /proc cannot
// tell.
func jbProcCPU(t testing.TB, pid int) jbCPU {
	t.Helper()
	c, err := jbReadCPU(pid)
	if err != nil {
		t.Fatalf("CPU time of process %d: %v", pid, err)
	}
	return c
}

// jbRootList is a listing as root (JSON array) and its X-Total.
func jbRootList(t testing.TB, s *testserver.Server, path string) ([]map[string]any, int) {
	t.Helper()
	r := s.Expect(t, "GET", path, jbRootToken, nil, http.StatusOK)
	total, _ := strconv.Atoi(r.Header.Get("X-Total"))
	return r.List(t), total
}

// jbJobCall is a runner call with the job token in JOB-TOKEN and body as
// JSON, expecting want.
func jbJobCall(t testing.TB, s *testserver.Server, method, path, token string, body any, want int) *testserver.Resp {
	t.Helper()
	req := s.NewRequest(t, method, path, "", body)
	req.Header.Set("JOB-TOKEN", token)
	return s.MakeRequest(t, req, want)
}

// jbCreateRunner creates an instance runner and returns its token.
func jbCreateRunner(t testing.TB, s *testserver.Server, description string) string {
	t.Helper()
	_, tok := s.CreateRunner(t, map[string]any{"description": description})
	return tok
}

// jbPush commits files to a new repository and pushes it, as root, to
// each of refs (branch names) of the project at fullPath, in one push:
// one pipeline per branch.
func jbPush(t testing.TB, s *testserver.Server, fullPath string, files map[string]string, refs ...string) {
	t.Helper()
	jbRequireGit(t)
	g := testserver.NewGit(t)
	dir := g.Init(t, s.GitURL("root", s.RootToken, fullPath))
	g.Commit(t, dir, "bench", files)
	args := []string{"push", "--quiet", "origin"}
	for _, ref := range refs {
		args = append(args, "HEAD:refs/heads/"+ref)
	}
	g.Run(t, dir, args...)
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
	cmd.Env = append(testserver.CleanEnv(), env...)
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

// jbPrint writes one result in the format of `go test -bench` lines: the
// name, a count of 1, then value and unit pairs. The CIWARDEN_BENCH tests
// report this way so that bench/measure.sh (and benchstat) read their
// figures as they read benchmarks'.
func jbPrint(name string, pairs ...any) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\t1", name)
	for i := 0; i+1 < len(pairs); i += 2 {
		fmt.Fprintf(&b, "\t%.4g %s", pairs[i], pairs[i+1])
	}
	fmt.Println(b.String())
}

// jbRuns keeps one value per run of a sub-benchmark. Each run starts with
// a one-iteration probe and then calls the function again with a larger
// b.N, which is the call `go test` reports: the value of the last call of
// each run is kept. With -count N there are N runs.
type jbRuns []float64

func (r *jbRuns) set(b *testing.B, v float64) {
	if b.N == 1 || len(*r) == 0 {
		*r = append(*r, 0)
	}
	(*r)[len(*r)-1] = v
}

// median is the median of the runs (0 with none).
func (r jbRuns) median() float64 { return jbMedian(r) }
