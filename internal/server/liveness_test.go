package server_test

// The job token's life (gitlab-compat.md §2, security.md §1): valid while
// its job runs or is canceling, refused on the very next request once the
// job ends in any way, on the API and on git alike, and on every replica.

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/testdb"
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

func TestJobTokenLiveness(t *testing.T) { forEachDialect(t, testJobTokenLiveness) }

func testJobTokenLiveness(t *testing.T, dialect string) {
	// Run: the timeout sweep (and the reaper) run only inside Server.Run.
	s := newServer(t, serverOpts{dialect: dialect, Run: true})
	group := s.createGroup(t, "live", "private")
	app := s.createProject(t, group, "app", "private")
	dev := s.createUser(t, "dev")
	s.addMember(t, "groups", group, dev.ID, 40)
	_, runnerToken := s.createRunner(t, map[string]any{"description": "liveness"})
	rc := s.newRunnerClient(runnerToken)
	base := "/projects/" + itoa(app.ID)

	// begin takes the next job and sends the runner's first PUT; the token
	// works on the API and on git.
	begin := func(t *testing.T, p project) *runningJob {
		t.Helper()
		j := rc.takeJob(t)
		j.start(t)
		s.wantLive(t, j.Token, j.ID, p.Path)
		return j
	}
	status := func(t *testing.T, p project, j *runningJob) string {
		t.Helper()
		st, _ := s.jobState(t, p, j.ID)["status"].(string)
		return st
	}

	t.Run("success", func(t *testing.T) {
		s.pushCI(t, app, dev, map[string]string{".gitlab-ci.yml": livenessCI})
		j := begin(t, app)
		// git itself, as the job's clone would run it.
		g := newGit(t)
		jobURL := s.gitURL("gitlab-ci-token", j.Token, app.Path)
		if out := g.run(t, "", "ls-remote", jobURL, "refs/heads/main"); !strings.HasSuffix(out, "refs/heads/main") {
			t.Errorf("git ls-remote with the live job token: %q", out)
		}
		j.appendTrace(t, "hello\n")
		j.finishOK(t, "success")
		s.wantDead(t, j.Token, app.Path)
		if out, errs, err := g.exec("", "ls-remote", jobURL, "refs/heads/main"); err == nil || !strings.Contains(errs, "HTTP Basic: Access denied") {
			t.Errorf("git ls-remote with the finished job's token: err %v, stdout %q, stderr %q; want a failure saying HTTP Basic: Access denied", err, out, errs)
		}
	})

	t.Run("failed", func(t *testing.T) {
		s.createPipeline(t, app, dev, nil)
		j := begin(t, app)
		j.finishOK(t, "failed")
		if st := status(t, app, j); st != "failed" {
			t.Errorf("status %s, want failed", st)
		}
		s.wantDead(t, j.Token, app.Path)
	})

	t.Run("canceled", func(t *testing.T) {
		s.createPipeline(t, app, dev, nil)
		j := begin(t, app)
		r := s.expect(t, "POST", base+"/jobs/"+itoa(j.ID)+"/cancel", dev.Token, nil, http.StatusCreated).Object(t)
		if r["status"] != "canceling" {
			t.Errorf("cancel of a running job: status %v, want canceling", r["status"])
		}
		// Still valid while canceling, for after_script.
		s.wantLive(t, j.Token, j.ID, app.Path)
		if r := j.update(t, map[string]any{"state": "running"}); r.Status != http.StatusOK || r.Header.Get("Job-Status") != "canceling" {
			t.Errorf("PUT running while canceling: %s, Job-Status %q; want 200 canceling", r, r.Header.Get("Job-Status"))
		}
		j.finishOK(t, "failed")
		if st := status(t, app, j); st != "canceled" {
			t.Errorf("status %s, want canceled", st)
		}
		s.wantDead(t, j.Token, app.Path)
	})

	t.Run("erased", func(t *testing.T) {
		s.createPipeline(t, app, dev, nil)
		j := begin(t, app)
		// A running job cannot be erased; its token keeps working.
		if r := s.api(t, "POST", base+"/jobs/"+itoa(j.ID)+"/erase", dev.Token, nil); r.Status != http.StatusForbidden {
			t.Errorf("erase a running job: %s, want 403", r)
		}
		s.wantLive(t, j.Token, j.ID, app.Path)
		j.finishOK(t, "success")
		s.expect(t, "POST", base+"/jobs/"+itoa(j.ID)+"/erase", dev.Token, nil, http.StatusCreated)
		s.wantDead(t, j.Token, app.Path)
	})

	t.Run("erased while running", func(t *testing.T) {
		// Not reachable through the API (erase needs a finished job), but
		// the token must not outlive an erased job whatever its status.
		s.createPipeline(t, app, dev, nil)
		j := begin(t, app)
		// Through the store, whose changes the token cache hears; a row
		// edited behind the server's back would not be.
		st := s.srv.Store()
		row, err := st.Job(context.Background(), j.ID)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		row.ErasedAt = &now
		if ok, err := st.SetJobStatus(context.Background(), row, row.Status); err != nil || !ok {
			t.Fatalf("erase the running job in the store: %v, %v", ok, err)
		}
		s.wantDead(t, j.Token, app.Path)
		if r := s.patchTrace(t, j.ID, j.Token, 0, []byte("x\n")); r.Status != http.StatusForbidden {
			t.Errorf("PATCH trace of an erased job: %s, want 403", r)
		}
		if r := j.update(t, map[string]any{"state": "running"}); r.Status != http.StatusForbidden {
			t.Errorf("PUT running of an erased job: %s, want 403", r)
		}
	})

	t.Run("timed out", func(t *testing.T) {
		// An ordinary job (default timeout, 1 h) runs meanwhile, as on any
		// busy server; the sweep must still fail the overdue one.
		s.createPipeline(t, app, dev, nil)
		busy := begin(t, app)
		slow := s.createProject(t, group, "slow", "private")
		s.pushCI(t, slow, dev, map[string]string{".gitlab-ci.yml": slowCI})
		j := begin(t, slow)
		if j.Payload.RunnerInfo.Timeout != 3 || len(j.Payload.Steps) == 0 || j.Payload.Steps[0].Timeout != 3 {
			t.Errorf("timeout: 3 seconds: runner_info.timeout %d, steps %+v; want 3", j.Payload.RunnerInfo.Timeout, j.Payload.Steps)
		}
		// The runner has vanished: the server's sweep fails the job.
		deadline := time.Now().Add(10 * time.Second)
		var st map[string]any
		for {
			st = s.jobState(t, slow, j.ID)
			if st["status"] != "running" || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if st["status"] != "failed" || st["failure_reason"] != "job_execution_timeout" {
			t.Fatalf("overdue job: status %v, failure_reason %v; want failed, job_execution_timeout\nscheduler log:\n%s",
				st["status"], st["failure_reason"], firstLines(grepLines(s.logs.String(), "timeouts"), 3))
		}
		s.wantLive(t, busy.Token, busy.ID, app.Path)
		busy.finishOK(t, "success")
		s.wantDead(t, j.Token, slow.Path)
		r := j.update(t, map[string]any{"state": "running"})
		if r.Status != http.StatusForbidden || r.Header.Get("Job-Status") != "failed" {
			t.Errorf("keep-alive PUT after the timeout: %s, Job-Status %q; want 403 failed", r, r.Header.Get("Job-Status"))
		}
		if r := s.patchTrace(t, j.ID, j.Token, 0, []byte("late\n")); r.Status != http.StatusForbidden {
			t.Errorf("PATCH after the timeout: %s, want 403", r)
		}
	})

	t.Run("project pending deletion", func(t *testing.T) {
		doomed := s.createProject(t, group, "doomed", "private")
		s.pushCI(t, doomed, dev, map[string]string{".gitlab-ci.yml": livenessCI})
		j := begin(t, doomed)
		s.expect(t, "DELETE", "/projects/"+itoa(doomed.ID), rootToken, nil, http.StatusAccepted)
		s.wantDead(t, j.Token, doomed.Path)
		// GitLab's authenticate_job! refuses the runner's calls too:
		// "403 Forbidden - Project has been deleted!".
		if r := s.patchTrace(t, j.ID, j.Token, 0, []byte("x\n")); r.Status != http.StatusForbidden {
			t.Errorf("PATCH trace of a job whose project is pending deletion: %s, want 403", r)
		}
		if r := j.update(t, map[string]any{"state": "running"}); r.Status != http.StatusForbidden {
			t.Errorf("keep-alive PUT of a job whose project is pending deletion: %s, want 403", r)
		}
	})

	t.Run("user blocked", func(t *testing.T) {
		blocky := s.createUser(t, "blocky")
		s.addMember(t, "groups", group, blocky.ID, 30)
		s.createPipeline(t, app, blocky, nil)
		j := begin(t, app)
		if j.Payload.JobInfo.UserID != blocky.ID {
			t.Errorf("job_info.user_id %d, want the pipeline's user %d", j.Payload.JobInfo.UserID, blocky.ID)
		}
		s.expect(t, "POST", "/users/"+itoa(blocky.ID)+"/block", rootToken, nil, http.StatusCreated)
		s.wantDead(t, j.Token, app.Path)
		// Blocking ended the job (blocked_test.go): unblocking does not
		// bring its token back.
		s.expect(t, "POST", "/users/"+itoa(blocky.ID)+"/unblock", rootToken, nil, http.StatusCreated)
		s.wantDead(t, j.Token, app.Path)
		if st := status(t, app, j); st != "failed" {
			t.Errorf("status %s, want failed", st)
		}
	})

	t.Run("retried", func(t *testing.T) {
		s.createPipeline(t, app, dev, nil)
		old := begin(t, app)
		old.finishOK(t, "failed")
		s.wantDead(t, old.Token, app.Path)
		n := s.expect(t, "POST", base+"/jobs/"+itoa(old.ID)+"/retry", dev.Token, nil, http.StatusCreated).Object(t)
		newID := num(t, n, "id")
		if newID == old.ID {
			t.Fatalf("retry returned the same job %d", newID)
		}
		s.wantDead(t, old.Token, app.Path)
		nj := begin(t, app)
		if nj.ID != newID || nj.Token == old.Token {
			t.Errorf("after the retry the runner got job %d (new token %v), want %d with a new token", nj.ID, nj.Token != old.Token, newID)
		}
		s.wantDead(t, old.Token, app.Path)
		if r := s.updateJob(t, old.ID, old.Token, map[string]any{"state": "running"}); r.Status != http.StatusForbidden {
			t.Errorf("PUT running on the retried (old) job: %s, want 403", r)
		}
		nj.finishOK(t, "success")
		s.wantDead(t, nj.Token, app.Path)
	})

	t.Run("other credentials", func(t *testing.T) {
		if r := s.api(t, "GET", "/job", dev.Token, nil); r.Status != http.StatusNotFound {
			t.Errorf("GET /job with a personal access token: %s, want 404", r)
		}
		if r := s.api(t, "GET", "/job", "", nil); r.Status != http.StatusUnauthorized {
			t.Errorf("GET /job anonymously: %s, want 401", r)
		}
		if r := s.getJob(t, "cwjob-"+strings.Repeat("A", 49)); r.Status != http.StatusUnauthorized {
			t.Errorf("GET /job with an unknown job token: %s, want 401", r)
		}
	})
	rc.expectNoJob(t)
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
	a := newServer(t, serverOpts{DatabaseURL: dbURL, DataDir: dataDir})
	b := newServer(t, serverOpts{DatabaseURL: dbURL, DataDir: dataDir})
	group := a.createGroup(t, "rep", "private")
	p := a.createProject(t, group, "app", "private")
	dev := a.createUser(t, "dev")
	b.remember(dev.Token)
	a.addMember(t, "groups", group, dev.ID, 40)
	_, runnerToken := a.createRunner(t, nil)
	b.remember(runnerToken)
	rcA, rcB := a.newRunnerClient(runnerToken), b.newRunnerClient(runnerToken)

	t.Run("finished on A, refused on B", func(t *testing.T) {
		a.pushCI(t, p, dev, map[string]string{".gitlab-ci.yml": livenessCI})
		j := rcA.takeJob(t)
		b.remember(j.Token)
		j.start(t)
		a.wantLive(t, j.Token, j.ID, p.Path)
		b.wantLive(t, j.Token, j.ID, p.Path)
		j.appendTrace(t, "hello\n")
		j.finishOK(t, "success")
		b.wantDead(t, j.Token, p.Path)
		a.wantDead(t, j.Token, p.Path)
	})

	t.Run("canceled on B, seen by the runner on A", func(t *testing.T) {
		// A runner that last spoke to A is answered at once by B.
		pid := b.createPipeline(t, p, dev, nil)
		rcB.lastUpdate = rcA.lastUpdate
		r := rcB.request(t)
		if r.Status != http.StatusCreated || r.Elapsed > time.Second {
			t.Fatalf("job request to B with A's last_update: %s after %v; want 201 at once", r, r.Elapsed)
		}
		j := rcB.decodeJob(t, r)
		a.remember(j.Token)
		j.start(t)
		j.rc = rcA // the runner's further calls go to A
		a.wantLive(t, j.Token, j.ID, p.Path)
		b.expect(t, "POST", "/projects/"+itoa(p.ID)+"/pipelines/"+itoa(pid)+"/cancel", dev.Token, nil, http.StatusCreated)
		if r := j.appendTrace(t, "canceling?\n"); r.Header.Get("Job-Status") != "canceling" {
			t.Errorf("PATCH to A after a cancel on B: Job-Status %q, want canceling", r.Header.Get("Job-Status"))
		}
		b.wantLive(t, j.Token, j.ID, p.Path)
		j.finishOK(t, "failed")
		b.wantDead(t, j.Token, p.Path)
		a.wantDead(t, j.Token, p.Path)
	})
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	return strings.Join(lines[:min(n, len(lines))], "\n")
}

// TestQueueWakesReplicas: a runner long-polling replica B is answered as
// soon as a pipeline created through replica A queues a job, not when its
// poll times out (PostgreSQL LISTEN/NOTIFY between replicas).
func TestQueueWakesReplicas(t *testing.T) {
	if !testdb.HavePostgres() {
		t.Skipf("skipping: two replicas need PostgreSQL; set %s", testdb.EnvPostgres)
	}
	dbURL := testdb.Postgres(t)
	dataDir := t.TempDir()
	a := newServer(t, serverOpts{DatabaseURL: dbURL, DataDir: dataDir})
	b := newServer(t, serverOpts{DatabaseURL: dbURL, DataDir: dataDir, LongPoll: 20 * time.Second, Run: true})
	group := a.createGroup(t, "wake", "private")
	p := a.createProject(t, group, "app", "private")
	dev := a.createUser(t, "dev")
	a.addMember(t, "groups", group, dev.ID, 40)
	_, runnerToken := a.createRunner(t, nil)
	b.remember(runnerToken)
	rc := b.newRunnerClient(runnerToken)
	if r := rc.request(t); r.Status != http.StatusNoContent {
		t.Fatalf("first job request to B: %s, want 204", r)
	}
	// B's listener connects when Run starts; give it a moment so that the
	// test measures the wake-up, not the connection.
	time.Sleep(300 * time.Millisecond)

	held := make(chan *resp, 1)
	go func() { held <- rc.request(t) }()
	time.Sleep(300 * time.Millisecond) // the request is now held by B
	a.pushCI(t, p, dev, map[string]string{".gitlab-ci.yml": livenessCI})
	select {
	case r := <-held:
		if r.Status != http.StatusCreated {
			t.Fatalf("held job request to B: %s, want 201 with the job queued through A", r)
		}
		j := rc.decodeJob(t, r)
		a.remember(j.Token)
		b.remember(j.Token)
		if r.Elapsed > 5*time.Second {
			t.Errorf("B answered after %v; want at once when A queued the job", r.Elapsed)
		}
		j.finishOK(t, "success")
	case <-time.After(15 * time.Second):
		t.Fatal("B still held the runner 15 s after A queued a job: replicas are not woken")
	}
}
