package runnerapi_test

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/runner"
	"github.com/ciwarden/ciwarden/internal/testserver"
)

// The built-in runner's end of a job (issue 20 items 4 and 5,
// runner-protocol.md §13 step 10): the rest of the log and the final
// update reach a server that was unreachable for a while when the job
// ended, and a log chunk the server never stored is resent when the final
// update is answered 412.

// faultyProxy stands between a runner and the server, as a load balancer
// does, and fails the runner's calls as told.
type faultyProxy struct {
	*httptest.Server
	mu sync.Mutex
	// fault, when set, sees every request first; it reports whether the
	// request was handled (dropped or answered) and must not be forwarded.
	fault func(w http.ResponseWriter, r *http.Request) bool
}

func newFaultyProxy(t *testing.T, target string) *faultyProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	// A runner hanging up its held job request at the test's end is no
	// news.
	rp.ErrorLog = log.New(io.Discard, "", 0)
	p := &faultyProxy{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		fault := p.fault
		p.mu.Unlock()
		if fault != nil && fault(w, r) {
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	return p
}

// hangUp drops the connection without an answer: the server is
// unreachable.
func hangUp(w http.ResponseWriter) {
	if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
		conn.Close()
	}
}

// isTracePatch: the request sends a job's log.
func isTracePatch(r *http.Request) bool {
	return r.Method == http.MethodPatch && strings.HasSuffix(r.URL.Path, "/trace")
}

// newRunner is the built-in runner against baseURL with token; it logs to
// s's log, which the harness checks.
func newRunner(t *testing.T, s *testserver.Server, baseURL, token string) *runner.Runner {
	t.Helper()
	return &runner.Runner{
		Client:    &runner.Client{BaseURL: baseURL, Token: token, SystemID: "end_" + testserver.RandHex(4), HTTP: &http.Client{Timeout: time.Minute}},
		BuildsDir: t.TempDir(), Concurrent: 1, Log: s.Logger(), KillGrace: time.Second,
	}
}

// runRunner runs r until the test ends or stop is called; stop returns
// when Run has returned.
func runRunner(t *testing.T, r *runner.Runner) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Run(ctx)
	}()
	stop = func() {
		cancel()
		<-done
		r.Client.HTTP.CloseIdleConnections()
	}
	t.Cleanup(stop)
	return stop
}

// endCI is a job whose log has a known start and end.
const endCI = "job:\n  script:\n    - echo start of the job\n    - sleep 1\n    - echo end of the job\n"

// wantWholeLog waits for the pipeline and checks that its job succeeded
// with its whole log and no mark of an incomplete one; it returns the job.
func wantWholeLog(t *testing.T, s *testserver.Server, p testserver.Project) map[string]any {
	t.Helper()
	list := s.Expect(t, "GET", testserver.API+"/projects/"+testserver.Itoa(p.ID)+"/pipelines", s.RootToken, nil, http.StatusOK).List(t)
	if len(list) != 1 {
		t.Fatalf("%d pipelines, want 1", len(list))
	}
	status, jobs := waitPipeline(t, s, p, testserver.Num(t, list[0], "id"))
	log := storedTrace(t, s, p, testserver.Num(t, jobs["job"], "id"))
	if status != "success" || jobs["job"]["status"] != "success" {
		t.Fatalf("pipeline %s, job %v, want success; log:\n%s", status, jobs["job"]["status"], log)
	}
	for _, want := range []string{"start of the job", "end of the job", "Job succeeded"} {
		if !strings.Contains(log, want) {
			t.Errorf("the stored log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, incompleteMark) {
		t.Errorf("the stored log is marked incomplete:\n%s", log)
	}
	return jobs["job"]
}

// TestRunnerEndSurvivesOutage: the server becomes unreachable when the
// runner first sends the log and stays so for 10 seconds, across the
// job's end (longer than the 5 quick tries of one call). The job still
// ends with its state and whole log once the server is back.
func TestRunnerEndSurvivesOutage(t *testing.T) {
	testserver.ForEachDialect(t, func(t *testing.T, dialect string) {
		s := testserver.New(t, testserver.Options{Dialect: dialect})
		e := s.NewTeamCI(t, "")
		proxy := newFaultyProxy(t, s.URL)
		var downUntil time.Time
		dropped := 0
		proxy.fault = func(w http.ResponseWriter, r *http.Request) bool {
			proxy.mu.Lock()
			if downUntil.IsZero() && isTracePatch(r) {
				downUntil = time.Now().Add(10 * time.Second)
			}
			down := time.Now().Before(downUntil)
			if down {
				dropped++
			}
			proxy.mu.Unlock()
			if down {
				hangUp(w)
			}
			return down
		}
		runRunner(t, newRunner(t, s, proxy.URL, e.Runner.Token))
		s.PushCI(t, e.Project.Path, e.Dev, map[string]string{".gitlab-ci.yml": endCI})
		job := wantWholeLog(t, s, e.Project)
		proxy.mu.Lock()
		defer proxy.mu.Unlock()
		finished, err := time.Parse(time.RFC3339, job["finished_at"].(string))
		// finished_at is rendered to the millisecond.
		if err != nil || dropped < 5 || finished.Before(downUntil.Add(-time.Millisecond)) {
			t.Errorf("%d calls dropped, job finished at %v (%v), outage until %v: the job's end did not wait out the outage",
				dropped, finished, err, downUntil)
		}
	})
}

// TestRunnerResendsLostLog: the first log chunk is answered 202 but never
// reaches the server (a proxy that lost it). The final update's size and
// checksum do not match what the server holds; it answers 412, and the
// runner resends from where the server's copy ends.
func TestRunnerResendsLostLog(t *testing.T) {
	testserver.ForEachDialect(t, func(t *testing.T, dialect string) {
		s := testserver.New(t, testserver.Options{Dialect: dialect})
		e := s.NewTeamCI(t, "")
		proxy := newFaultyProxy(t, s.URL)
		lost := false
		proxy.fault = func(w http.ResponseWriter, r *http.Request) bool {
			proxy.mu.Lock()
			defer proxy.mu.Unlock()
			if lost || !isTracePatch(r) {
				return false
			}
			lost = true
			w.WriteHeader(http.StatusAccepted)
			return true
		}
		runRunner(t, newRunner(t, s, proxy.URL, e.Runner.Token))
		s.PushCI(t, e.Project.Path, e.Dev, map[string]string{".gitlab-ci.yml": endCI})
		wantWholeLog(t, s, e.Project)
		if !lost {
			t.Fatal("no log chunk was lost: the test proves nothing")
		}
	})
}

// TestRunnerKeepsQuietJobAlive: a job that prints nothing for longer than
// the server's --runner-contact-timeout is not taken for abandoned: the
// runner's keep-alive PUTs are word from it.
func TestRunnerKeepsQuietJobAlive(t *testing.T) {
	testserver.ForEachDialect(t, func(t *testing.T, dialect string) {
		s := testserver.New(t, testserver.Options{Dialect: dialect, Run: true, RunnerContactTimeout: 3 * time.Second})
		e := s.NewTeamCI(t, "")
		r := newRunner(t, s, s.URL, e.Runner.Token)
		r.KeepAlive = 500 * time.Millisecond
		runRunner(t, r)
		s.PushCI(t, e.Project.Path, e.Dev, map[string]string{".gitlab-ci.yml": "job:\n  script:\n    - echo start of the job\n    - sleep 8\n    - echo end of the job\n"})
		wantWholeLog(t, s, e.Project)
	})
}

// TestRunnerEndIsBounded: a server that never comes back does not hold a
// runner's worker forever: past EndFor the runner gives the job's end up
// and asks for work again; and a runner being stopped returns at once
// rather than waiting out the retries.
func TestRunnerEndIsBounded(t *testing.T) {
	s := testserver.New(t, testserver.Options{})
	e := s.NewTeamCI(t, "")
	proxy := newFaultyProxy(t, s.URL)
	var mu sync.Mutex
	down, asked := false, 0
	proxy.fault = func(w http.ResponseWriter, r *http.Request) bool {
		mu.Lock()
		defer mu.Unlock()
		if isTracePatch(r) {
			down = true
		}
		switch {
		case !down:
			return false
		case strings.HasSuffix(r.URL.Path, "/jobs/request"):
			asked++
			return false
		}
		hangUp(w)
		return true
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("still waiting, after a minute, for %s", what)
			}
		}
	}

	r := newRunner(t, s, proxy.URL, e.Runner.Token)
	r.EndFor = 3 * time.Second
	stop := runRunner(t, r)
	s.PushCI(t, e.Project.Path, e.Dev, map[string]string{".gitlab-ci.yml": endCI})
	waitFor("the runner to give the job's end up and ask for work again", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return asked > 0
	})
	stop()

	// The same with the default bound (an hour): stopping the runner ends
	// its retries.
	mu.Lock()
	down, asked = false, 0
	mu.Unlock()
	stop = runRunner(t, newRunner(t, s, proxy.URL, e.Runner.Token))
	s.CreatePipeline(t, e.Project.ID, e.Dev.Token, nil)
	waitFor("the job's end to meet the outage", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return down
	})
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(time.Minute):
		t.Fatal("the runner, stopped while retrying a job's end, did not return within a minute")
	}
}
