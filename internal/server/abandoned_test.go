package server_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestAbandonedJobFails (issue 20 item 6, runner-protocol.md §11): a
// runner takes two jobs and then calls about only one of them (keep-alive
// PUTs and log PATCHes). The other fails with runner_system_failure once
// its runner has been silent for --runner-contact-timeout, its token dies
// (401 on the API and git, 403 with Job-Status on the runner protocol),
// while the job whose runner keeps calling runs on past that time and
// ends as its runner reports.
func TestAbandonedJobFails(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		const timeout = 4 * time.Second
		s := newServer(t, serverOpts{dialect: dialect, Run: true, RunnerContactTimeout: timeout})
		p, dev, tok := runnerFixture(t, s)
		s.pushCI(t, p, dev, map[string]string{".gitlab-ci.yml": "left:\n  script: [a]\nkept:\n  script: [b]\n"})
		rc := s.newRunnerClient(tok)
		abandoned, alive := rc.takeJob(t), rc.takeJob(t)
		abandoned.start(t)
		alive.start(t)
		s.wantLive(t, abandoned.Token, abandoned.ID, p.Path)

		calls := 0
		call := func() {
			t.Helper()
			calls++
			if calls%2 == 0 {
				alive.appendTrace(t, fmt.Sprintf("line %d\n", calls))
				return
			}
			if r := alive.update(t, map[string]any{"state": "running"}); r.Status != http.StatusOK || r.Header.Get("Job-Status") != "running" {
				t.Fatalf("keep-alive: %s (Job-Status %q), want 200 running", r, r.Header.Get("Job-Status"))
			}
		}
		deadline := time.Now().Add(2 * time.Minute)
		for s.jobState(t, p, abandoned.ID)["status"] == "running" {
			if time.Now().After(deadline) {
				t.Fatalf("the abandoned job still runs %v after its runner's last call", 2*time.Minute)
			}
			call()
			time.Sleep(250 * time.Millisecond)
		}
		st := s.jobState(t, p, abandoned.ID)
		if st["status"] != "failed" || st["failure_reason"] != "runner_system_failure" {
			t.Fatalf("abandoned job: status %v, failure_reason %v; want failed, runner_system_failure", st["status"], st["failure_reason"])
		}
		s.wantDead(t, abandoned.Token, p.Path)
		if r := abandoned.update(t, map[string]any{"state": "running"}); r.Status != http.StatusForbidden || r.Header.Get("Job-Status") != "failed" {
			t.Errorf("the abandoned job's keep-alive: %s (Job-Status %q), want 403 failed", r, r.Header.Get("Job-Status"))
		}

		// The job whose runner keeps calling outlives the timeout.
		for until := time.Now().Add(timeout + time.Second); time.Now().Before(until); {
			call()
			time.Sleep(250 * time.Millisecond)
		}
		if st := s.jobState(t, p, alive.ID); st["status"] != "running" {
			t.Fatalf("the job whose runner kept calling: %v, want running", st["status"])
		}
		alive.finishOK(t, "success")
		if st := s.jobState(t, p, alive.ID); st["status"] != "success" {
			t.Errorf("the kept job: %v, want success", st["status"])
		}
	})
}
