package runnerapi_test

// The job token's life (gitlab-compat.md §2, security.md §1): valid while
// its job runs or is canceling, refused on the very next request once the
// job ends in any way, on the API and on git alike, and on every replica.

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/testdb"
	"github.com/ciwarden/ciwarden/internal/testserver"
)

const livenessCI = `job:
  script:
    - echo hello
`

// slowCI has a job with a short timeout, for the server's timeout sweep.
const slowCI = `job:
  timeout: 3 seconds
  script:
    - sleep 600
`

func TestJobTokenLiveness(t *testing.T) { testserver.ForEachDialect(t, testJobTokenLiveness) }

func testJobTokenLiveness(t *testing.T, dialect string) {
	// Run: the timeout sweep (and the reaper) run only inside Server.Run.
	s := testserver.New(t, testserver.Options{Dialect: dialect, Run: true})
	group := s.CreateGroup(t, "live", 0, "private")
	app := s.CreateProject(t, group, "app", "private")
	dev := s.CreateUser(t, "dev")
	s.AddMember(t, "groups", group, dev.ID, 40)
	_, runnerToken := s.CreateRunner(t, map[string]any{"description": "liveness"})
	rc := s.NewRunnerClient(runnerToken)
	base := "/projects/" + testserver.Itoa(app.ID)

	// begin takes the next job and sends the runner's first PUT; the token
	// works on the API and on git.
	begin := func(t *testing.T, p testserver.Project) *testserver.RunningJob {
		t.Helper()
		j := rc.TakeJob(t)
		j.Start(t)
		s.WantLive(t, j.Token, j.ID, p.Path)
		return j
	}
	status := func(t *testing.T, p testserver.Project, j *testserver.RunningJob) string {
		t.Helper()
		st, _ := s.Job(t, p.ID, j.ID)["status"].(string)
		return st
	}

	t.Run("success", func(t *testing.T) {
		s.PushCI(t, app.Path, dev, map[string]string{".gitlab-ci.yml": livenessCI})
		j := begin(t, app)
		// git itself, as the job's clone would run it.
		g := testserver.NewGit(t)
		jobURL := s.GitURL("gitlab-ci-token", j.Token, app.Path)
		if out := g.Run(t, "", "ls-remote", jobURL, "refs/heads/main"); !strings.HasSuffix(out, "refs/heads/main") {
			t.Errorf("git ls-remote with the live job token: %q", out)
		}
		j.AppendTrace(t, "hello\n")
		j.FinishOK(t, "success")
		s.WantDead(t, j.Token, app.Path)
		if r := g.Exec("", nil, "ls-remote", jobURL, "refs/heads/main"); r.Err == nil || !strings.Contains(r.Stderr, "HTTP Basic: Access denied") {
			t.Errorf("git ls-remote with the finished job's token: err %v, stdout %q, stderr %q; want a failure saying HTTP Basic: Access denied", r.Err, r.Stdout, r.Stderr)
		}
	})

	t.Run("failed", func(t *testing.T) {
		s.CreatePipeline(t, app.ID, dev.Token, nil)
		j := begin(t, app)
		j.FinishOK(t, "failed")
		if st := status(t, app, j); st != "failed" {
			t.Errorf("status %s, want failed", st)
		}
		s.WantDead(t, j.Token, app.Path)
	})

	t.Run("canceled", func(t *testing.T) {
		s.CreatePipeline(t, app.ID, dev.Token, nil)
		j := begin(t, app)
		r := s.Expect(t, "POST", testserver.API+base+"/jobs/"+testserver.Itoa(j.ID)+"/cancel", dev.Token, nil, http.StatusCreated).Object(t)
		if r["status"] != "canceling" {
			t.Errorf("cancel of a running job: status %v, want canceling", r["status"])
		}
		// Still valid while canceling, for after_script.
		s.WantLive(t, j.Token, j.ID, app.Path)
		if r := j.Update(t, map[string]any{"state": "running"}); r.Status != http.StatusOK || r.Header.Get("Job-Status") != "canceling" {
			t.Errorf("PUT running while canceling: %s, Job-Status %q; want 200 canceling", r, r.Header.Get("Job-Status"))
		}
		j.FinishOK(t, "failed")
		if st := status(t, app, j); st != "canceled" {
			t.Errorf("status %s, want canceled", st)
		}
		s.WantDead(t, j.Token, app.Path)
	})

	t.Run("erased", func(t *testing.T) {
		s.CreatePipeline(t, app.ID, dev.Token, nil)
		j := begin(t, app)
		// A running job cannot be erased; its token keeps working.
		if r := s.Do(t, "POST", testserver.API+base+"/jobs/"+testserver.Itoa(j.ID)+"/erase", dev.Token, nil); r.Status != http.StatusForbidden {
			t.Errorf("erase a running job: %s, want 403", r)
		}
		s.WantLive(t, j.Token, j.ID, app.Path)
		j.FinishOK(t, "success")
		s.Expect(t, "POST", testserver.API+base+"/jobs/"+testserver.Itoa(j.ID)+"/erase", dev.Token, nil, http.StatusCreated)
		s.WantDead(t, j.Token, app.Path)
	})

	t.Run("erased while running", func(t *testing.T) {
		// Not reachable through the API (erase needs a finished job), but
		// the token must not outlive an erased job whatever its status.
		s.CreatePipeline(t, app.ID, dev.Token, nil)
		j := begin(t, app)
		// Through the store, whose changes the token cache hears; a row
		// edited behind the server's back would not be.
		st := s.Srv.Store()
		row, err := st.Job(context.Background(), j.ID)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		row.ErasedAt = &now
		if ok, err := st.SetJobStatus(context.Background(), row, row.Status); err != nil || !ok {
			t.Fatalf("erase the running job in the store: %v, %v", ok, err)
		}
		s.WantDead(t, j.Token, app.Path)
		if r := s.PatchTrace(t, j.ID, j.Token, 0, []byte("x\n")); r.Status != http.StatusForbidden {
			t.Errorf("PATCH trace of an erased job: %s, want 403", r)
		}
		if r := j.Update(t, map[string]any{"state": "running"}); r.Status != http.StatusForbidden {
			t.Errorf("PUT running of an erased job: %s, want 403", r)
		}
	})

	t.Run("timed out", func(t *testing.T) {
		// An ordinary job (default timeout, 1 h) runs meanwhile, as on any
		// busy server; the sweep must still fail the overdue one.
		s.CreatePipeline(t, app.ID, dev.Token, nil)
		busy := begin(t, app)
		slow := s.CreateProject(t, group, "slow", "private")
		s.PushCI(t, slow.Path, dev, map[string]string{".gitlab-ci.yml": slowCI})
		j := begin(t, slow)
		if j.Payload.RunnerInfo.Timeout != 3 || len(j.Payload.Steps) == 0 || j.Payload.Steps[0].Timeout != 3 {
			t.Errorf("timeout: 3 seconds: runner_info.timeout %d, steps %+v; want 3", j.Payload.RunnerInfo.Timeout, j.Payload.Steps)
		}
		// The runner has vanished: the server's sweep fails the job.
		deadline := time.Now().Add(10 * time.Second)
		var st map[string]any
		for {
			st = s.Job(t, slow.ID, j.ID)
			if st["status"] != "running" || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if st["status"] != "failed" || st["failure_reason"] != "job_execution_timeout" {
			t.Fatalf("overdue job: status %v, failure_reason %v; want failed, job_execution_timeout\nscheduler log:\n%s",
				st["status"], st["failure_reason"], firstLines(grepLines(s.Log(), "timeouts"), 3))
		}
		s.WantLive(t, busy.Token, busy.ID, app.Path)
		busy.FinishOK(t, "success")
		s.WantDead(t, j.Token, slow.Path)
		r := j.Update(t, map[string]any{"state": "running"})
		if r.Status != http.StatusForbidden || r.Header.Get("Job-Status") != "failed" {
			t.Errorf("keep-alive PUT after the timeout: %s, Job-Status %q; want 403 failed", r, r.Header.Get("Job-Status"))
		}
		if r := s.PatchTrace(t, j.ID, j.Token, 0, []byte("late\n")); r.Status != http.StatusForbidden {
			t.Errorf("PATCH after the timeout: %s, want 403", r)
		}
	})

	t.Run("project pending deletion", func(t *testing.T) {
		doomed := s.CreateProject(t, group, "doomed", "private")
		s.PushCI(t, doomed.Path, dev, map[string]string{".gitlab-ci.yml": livenessCI})
		j := begin(t, doomed)
		s.Expect(t, "DELETE", testserver.API+"/projects/"+testserver.Itoa(doomed.ID), s.RootToken, nil, http.StatusAccepted)
		s.WantDead(t, j.Token, doomed.Path)
		// GitLab's authenticate_job! refuses the runner's calls too:
		// "403 Forbidden - Project has been deleted!".
		if r := s.PatchTrace(t, j.ID, j.Token, 0, []byte("x\n")); r.Status != http.StatusForbidden {
			t.Errorf("PATCH trace of a job whose project is pending deletion: %s, want 403", r)
		}
		if r := j.Update(t, map[string]any{"state": "running"}); r.Status != http.StatusForbidden {
			t.Errorf("keep-alive PUT of a job whose project is pending deletion: %s, want 403", r)
		}
	})

	t.Run("user blocked", func(t *testing.T) {
		blocky := s.CreateUser(t, "blocky")
		s.AddMember(t, "groups", group, blocky.ID, 30)
		s.CreatePipeline(t, app.ID, blocky.Token, nil)
		j := begin(t, app)
		if j.Payload.JobInfo.UserID != blocky.ID {
			t.Errorf("job_info.user_id %d, want the pipeline's user %d", j.Payload.JobInfo.UserID, blocky.ID)
		}
		s.Expect(t, "POST", testserver.API+"/users/"+testserver.Itoa(blocky.ID)+"/block", s.RootToken, nil, http.StatusCreated)
		s.WantDead(t, j.Token, app.Path)
		// Blocking ended the job (blocked_test.go): unblocking does not
		// bring its token back.
		s.Expect(t, "POST", testserver.API+"/users/"+testserver.Itoa(blocky.ID)+"/unblock", s.RootToken, nil, http.StatusCreated)
		s.WantDead(t, j.Token, app.Path)
		if st := status(t, app, j); st != "failed" {
			t.Errorf("status %s, want failed", st)
		}
	})

	t.Run("retried", func(t *testing.T) {
		s.CreatePipeline(t, app.ID, dev.Token, nil)
		old := begin(t, app)
		old.FinishOK(t, "failed")
		s.WantDead(t, old.Token, app.Path)
		n := s.Expect(t, "POST", testserver.API+base+"/jobs/"+testserver.Itoa(old.ID)+"/retry", dev.Token, nil, http.StatusCreated).Object(t)
		newID := testserver.Num(t, n, "id")
		if newID == old.ID {
			t.Fatalf("retry returned the same job %d", newID)
		}
		s.WantDead(t, old.Token, app.Path)
		nj := begin(t, app)
		if nj.ID != newID || nj.Token == old.Token {
			t.Errorf("after the retry the runner got job %d (new token %v), want %d with a new token", nj.ID, nj.Token != old.Token, newID)
		}
		s.WantDead(t, old.Token, app.Path)
		if r := s.UpdateJob(t, old.ID, old.Token, map[string]any{"state": "running"}); r.Status != http.StatusForbidden {
			t.Errorf("PUT running on the retried (old) job: %s, want 403", r)
		}
		nj.FinishOK(t, "success")
		s.WantDead(t, nj.Token, app.Path)
	})

	t.Run("other credentials", func(t *testing.T) {
		if r := s.Do(t, "GET", testserver.API+"/job", dev.Token, nil); r.Status != http.StatusNotFound {
			t.Errorf("GET /job with a personal access token: %s, want 404", r)
		}
		if r := s.Do(t, "GET", testserver.API+"/job", "", nil); r.Status != http.StatusUnauthorized {
			t.Errorf("GET /job anonymously: %s, want 401", r)
		}
		if r := s.GetJob(t, "cwjob-"+strings.Repeat("A", 49)); r.Status != http.StatusUnauthorized {
			t.Errorf("GET /job with an unknown job token: %s, want 401", r)
		}
	})
	rc.ExpectNoJob(t)
}

// TestJobTokenReplicas: two servers on one PostgreSQL database (and one
// data directory, as two processes of one host): a job finished through
// one is refused by the other on the very next request.
func TestJobTokenReplicas(t *testing.T) {
	if !testdb.HavePostgres() {
		t.Skipf("skipping: two replicas need PostgreSQL; set %s", testdb.EnvPostgres)
	}
	dbURL := testdb.Postgres(t)
	dataDir := t.TempDir()
	a := testserver.New(t, testserver.Options{DatabaseURL: dbURL, DataDir: dataDir})
	b := testserver.New(t, testserver.Options{DatabaseURL: dbURL, DataDir: dataDir})
	group := a.CreateGroup(t, "rep", 0, "private")
	p := a.CreateProject(t, group, "app", "private")
	dev := a.CreateUser(t, "dev")
	b.Remember(dev.Token)
	a.AddMember(t, "groups", group, dev.ID, 40)
	_, runnerToken := a.CreateRunner(t, nil)
	b.Remember(runnerToken)
	rcA, rcB := a.NewRunnerClient(runnerToken), b.NewRunnerClient(runnerToken)

	t.Run("finished on A, refused on B", func(t *testing.T) {
		a.PushCI(t, p.Path, dev, map[string]string{".gitlab-ci.yml": livenessCI})
		j := rcA.TakeJob(t)
		b.Remember(j.Token)
		j.Start(t)
		a.WantLive(t, j.Token, j.ID, p.Path)
		b.WantLive(t, j.Token, j.ID, p.Path)
		j.AppendTrace(t, "hello\n")
		j.FinishOK(t, "success")
		b.WantDead(t, j.Token, p.Path)
		a.WantDead(t, j.Token, p.Path)
	})

	t.Run("canceled on B, seen by the runner on A", func(t *testing.T) {
		// A runner that last spoke to A is answered at once by B.
		pid := b.CreatePipeline(t, p.ID, dev.Token, nil)
		rcB.LastUpdate = rcA.LastUpdate
		r := rcB.Request(t)
		if r.Status != http.StatusCreated || r.Elapsed > time.Second {
			t.Fatalf("job request to B with A's last_update: %s after %v; want 201 at once", r, r.Elapsed)
		}
		j := rcB.DecodeJob(t, r)
		a.Remember(j.Token)
		j.Start(t)
		j.RC = rcA // the runner's further calls go to A
		a.WantLive(t, j.Token, j.ID, p.Path)
		b.Expect(t, "POST", testserver.API+"/projects/"+testserver.Itoa(p.ID)+"/pipelines/"+testserver.Itoa(pid)+"/cancel", dev.Token, nil, http.StatusCreated)
		if r := j.AppendTrace(t, "canceling?\n"); r.Header.Get("Job-Status") != "canceling" {
			t.Errorf("PATCH to A after a cancel on B: Job-Status %q, want canceling", r.Header.Get("Job-Status"))
		}
		b.WantLive(t, j.Token, j.ID, p.Path)
		j.FinishOK(t, "failed")
		b.WantDead(t, j.Token, p.Path)
		a.WantDead(t, j.Token, p.Path)
	})
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	return strings.Join(lines[:min(n, len(lines))], "\n")
}

// queueReplicas starts two servers on one PostgreSQL database (skipped
// without): A, and B, which runs its background work (the listener that
// hears of jobs A queues) and holds runners up to 20 s. It makes a project
// with a Maintainer and an instance runner, and returns the runner's
// token.
func queueReplicas(t *testing.T) (a, b *testserver.Server, p testserver.Project, dev testserver.User, runnerToken string) {
	t.Helper()
	if !testdb.HavePostgres() {
		t.Skipf("skipping: two replicas need PostgreSQL; set %s", testdb.EnvPostgres)
	}
	dbURL := testdb.Postgres(t)
	dataDir := t.TempDir()
	a = testserver.New(t, testserver.Options{DatabaseURL: dbURL, DataDir: dataDir})
	b = testserver.New(t, testserver.Options{DatabaseURL: dbURL, DataDir: dataDir, LongPoll: 20 * time.Second, Run: true})
	group := a.CreateGroup(t, "queue", 0, "private")
	p = a.CreateProject(t, group, "app", "private")
	dev = a.CreateUser(t, "dev")
	a.AddMember(t, "groups", group, dev.ID, 40)
	_, runnerToken = a.CreateRunner(t, nil)
	b.Remember(runnerToken)
	return a, b, p, dev, runnerToken
}

// TestQueueWakesReplicas: a runner long-polling replica B is answered as
// soon as a pipeline created through replica A queues a job, not when its
// poll times out (PostgreSQL LISTEN/NOTIFY between replicas).
func TestQueueWakesReplicas(t *testing.T) {
	a, b, p, dev, runnerToken := queueReplicas(t)
	rc := b.NewRunnerClient(runnerToken)
	if r := rc.Request(t); r.Status != http.StatusNoContent {
		t.Fatalf("first job request to B: %s, want 204", r)
	}
	// B's listener connects when Run starts; give it a moment so that the
	// test measures the wake-up, not the connection.
	time.Sleep(300 * time.Millisecond)

	// The held request runs in its own goroutine, which must not fail the
	// test (t.Fatal there would stop only that goroutine and show as a
	// timeout): it hands its answer or its error back.
	type answer struct {
		r   *testserver.Resp
		err error
	}
	held := make(chan answer, 1)
	var pushed atomic.Bool
	last := rc.LastUpdate
	go func() {
		for {
			r, err := b.Try(rc.BuildRequest(t, last))
			// B's listener may connect only now on a busy machine, and
			// the connection itself wakes held runners (for what it may
			// have missed): before the push, that 204 is no answer to it.
			if err == nil && r.Status == http.StatusNoContent && !pushed.Load() {
				last = r.Header.Get("X-GitLab-Last-Update")
				continue
			}
			held <- answer{r, err}
			return
		}
	}()
	time.Sleep(300 * time.Millisecond) // the request is now held by B
	pushed.Store(true)
	a.PushCI(t, p.Path, dev, map[string]string{".gitlab-ci.yml": livenessCI})
	select {
	case h := <-held:
		if h.err != nil {
			t.Fatalf("held job request to B: %v", h.err)
		}
		r := h.r
		if r.Status != http.StatusCreated {
			t.Fatalf("held job request to B: %s, want 201 with the job queued through A", r)
		}
		j := rc.DecodeJob(t, r)
		a.Remember(j.Token)
		b.Remember(j.Token)
		if r.Elapsed > 5*time.Second {
			t.Errorf("B answered after %v; want at once when A queued the job", r.Elapsed)
		}
		j.FinishOK(t, "success")
	case <-time.After(15 * time.Second):
		t.Fatal("B still held the runner 15 s after A queued a job: replicas are not woken")
	}
}

// TestQueueHoldsForeignVersion: behind a load balancer that spreads
// requests over replicas, a runner's last_update is mostly another
// replica's version. With nothing pending for the runner, replica B holds
// it as it holds a runner current on B, and answers it when a job is
// queued (here through replica A), rather than answering 204 at once: that
// had idle runners poll without pause (e2e TestReplicasBehindBalancer
// counted about 850 immediate 204s against 7 held requests).
func TestQueueHoldsForeignVersion(t *testing.T) {
	a, b, p, dev, runnerToken := queueReplicas(t)
	rcA, rcB := a.NewRunnerClient(runnerToken), b.NewRunnerClient(runnerToken)
	if r := rcA.Request(t); r.Status != http.StatusNoContent {
		t.Fatalf("first job request to A: %s, want 204", r)
	}
	fromA := rcA.LastUpdate
	if fromA == "" {
		t.Fatal("A answered 204 without X-GitLab-Last-Update")
	}
	time.Sleep(300 * time.Millisecond) // B's listener connects (TestQueueWakesReplicas)

	// Every request to B carries A's version. B's listener may still
	// connect and wake a held request once; any more answers before the
	// push mean B did not hold the runner at all.
	type answer struct {
		r      *testserver.Resp
		err    error
		before int // answers before this one
	}
	held := make(chan answer, 1)
	var pushed atomic.Bool
	go func() {
		early := 0
		for {
			r, err := b.Try(rcB.BuildRequest(t, fromA))
			if err == nil && r.Status == http.StatusNoContent && !pushed.Load() && early < 20 {
				early++
				continue
			}
			held <- answer{r, err, early}
			return
		}
	}()
	time.Sleep(300 * time.Millisecond)
	pushed.Store(true)
	a.PushCI(t, p.Path, dev, map[string]string{".gitlab-ci.yml": livenessCI})
	select {
	case h := <-held:
		if h.err != nil {
			t.Fatalf("job request to B with A's version: %v", h.err)
		}
		if h.before > 1 {
			t.Errorf("B answered %d requests with A's version at once while nothing was queued; want them held", h.before)
		}
		if h.r.Status != http.StatusCreated {
			t.Fatalf("held job request to B: %s, want 201 with the job queued through A", h.r)
		}
		j := rcB.DecodeJob(t, h.r)
		a.Remember(j.Token)
		b.Remember(j.Token)
		j.FinishOK(t, "success")
	case <-time.After(15 * time.Second):
		t.Fatal("B still held the runner 15 s after A queued a job")
	}
}
