package testserver

import (
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Front is the view of servers, replicas of one instance (one database,
// one root token), through another URL: a load balancer's. The helpers
// (Expect, CreateProject, GitURL, NewRunnerClient...) send their requests
// to url; every secret remembered through the view is remembered by each
// server, whose log and data checks then look for it. The view starts
// and checks nothing itself: each server is checked when the test ends.
func Front(t testing.TB, url string, servers ...*Server) *Server {
	t.Helper()
	if len(servers) == 0 {
		t.Fatalf("testserver.Front: no server behind %s", url)
	}
	first := servers[0]
	first.mu.Lock()
	secrets := slices.Clone(first.secrets)
	first.mu.Unlock()
	return &Server{
		URL: url, RootToken: first.RootToken, DataDir: first.DataDir, DBURL: first.DBURL, Dialect: first.Dialect,
		Storage: first.Storage, S3: first.S3, tb: t, opts: first.opts, logs: &logBuffer{},
		client: &http.Client{
			Timeout:       2 * time.Minute,
			Transport:     &http.Transport{MaxIdleConns: 50, MaxIdleConnsPerHost: 50, IdleConnTimeout: 30 * time.Second},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		secrets: secrets,
		peers:   servers,
	}
}

// RunnerProcess is a standalone runner, `ciwarden runner`, as an operator
// runs one next to (not inside) the server.
type RunnerProcess struct {
	// BuildsDir is where its jobs run.
	BuildsDir string

	s       *Server
	cmd     *exec.Cmd
	logs    *logBuffer
	exited  chan struct{}
	waitErr error
}

// StartRunner starts `ciwarden runner --url <s.URL> --token token
// --builds-dir <a fresh directory>` with more flags in args, and waits
// for it to say it started. When the test ends it is stopped (SIGTERM,
// exit within 30 s) and its log checked as a server's is: no secret s
// remembers, no token minted by the server, no masking marker.
func (s *Server) StartRunner(t testing.TB, token string, args ...string) *RunnerProcess {
	t.Helper()
	r := &RunnerProcess{BuildsDir: t.TempDir(), s: s, logs: &logBuffer{}, exited: make(chan struct{})}
	r.cmd = exec.Command(Binary(t), append([]string{"runner", "--url", s.URL, "--token", token, "--builds-dir", r.BuildsDir}, args...)...)
	r.cmd.Dir = r.BuildsDir
	r.cmd.Env = CleanEnv()
	r.cmd.Stdout, r.cmd.Stderr = r.logs, r.logs
	dieWithParent(r.cmd)
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("start ciwarden runner: %v", err)
	}
	go func() {
		r.waitErr = r.cmd.Wait()
		close(r.exited)
	}()
	t.Cleanup(func() { r.stop(t) })
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(r.Log(), `msg="runner started"`); time.Sleep(10 * time.Millisecond) {
		select {
		case <-r.exited:
			t.Fatalf("ciwarden runner exited before it started: %v\n%s", r.waitErr, r.Log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("ciwarden runner did not start within 30s:\n%s", r.Log())
		}
	}
	return r
}

// Log is what the runner printed.
func (r *RunnerProcess) Log() string { return r.logs.String() }

// Pid is the runner's process ID.
func (r *RunnerProcess) Pid() int { return r.cmd.Process.Pid }

func (r *RunnerProcess) stop(t testing.TB) {
	select {
	case <-r.exited:
		t.Errorf("ciwarden runner exited before the test ended: %v", r.waitErr)
	default:
		r.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-r.exited:
			if r.waitErr != nil {
				t.Errorf("ciwarden runner did not exit 0 after SIGTERM: %v", r.waitErr)
			}
		case <-time.After(30 * time.Second):
			r.cmd.Process.Kill()
			<-r.exited
			t.Errorf("ciwarden runner did not exit within 30s of SIGTERM")
		}
	}
	log := []byte(r.Log())
	for _, l := range dedupe(r.s.detector().scanLog("the runner's log", log, true)) {
		t.Errorf("leak: %s", l)
	}
	if t.Failed() {
		t.Logf("ciwarden runner output:\n%s", log)
	}
}
