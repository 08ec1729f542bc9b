package runnerapi_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// TestAbandonedJobFails (issue 20 item 6, runner-protocol.md §11): a
// runner takes two jobs and then calls about only one of them (keep-alive
// PUTs and log PATCHes). The other fails with runner_system_failure once
// its runner has been silent for --runner-contact-timeout, its token dies
// (401 on the API and git, 403 with Job-Status on the runner protocol),
// while the job whose runner keeps calling runs on past that time and
// ends as its runner reports.
func TestAbandonedJobFails(t *testing.T) {
	testserver.ForEachDialect(t, func(t *testing.T, dialect string) {
		const timeout = 4 * time.Second
		s := testserver.New(t, testserver.Options{Dialect: dialect, Run: true, RunnerContactTimeout: timeout})
		e := s.NewTeamCI(t, "left:\n  script: [a]\nkept:\n  script: [b]\n")
		p := e.Project
		abandoned, alive := e.Runner.TakeJob(t), e.Runner.TakeJob(t)
		abandoned.Start(t)
		alive.Start(t)
		s.WantLive(t, abandoned.Token, abandoned.ID, p.Path)

		calls := 0
		call := func() {
			t.Helper()
			calls++
			if calls%2 == 0 {
				alive.AppendTrace(t, fmt.Sprintf("line %d\n", calls))
				return
			}
			if r := alive.Update(t, map[string]any{"state": "running"}); r.Status != http.StatusOK || r.Header.Get("Job-Status") != "running" {
				t.Fatalf("keep-alive: %s (Job-Status %q), want 200 running", r, r.Header.Get("Job-Status"))
			}
		}
		deadline := time.Now().Add(2 * time.Minute)
		for s.Job(t, p.ID, abandoned.ID)["status"] == "running" {
			if time.Now().After(deadline) {
				t.Fatalf("the abandoned job still runs %v after its runner's last call", 2*time.Minute)
			}
			call()
			time.Sleep(250 * time.Millisecond)
		}
		st := s.Job(t, p.ID, abandoned.ID)
		if st["status"] != "failed" || st["failure_reason"] != "runner_system_failure" {
			t.Fatalf("abandoned job: status %v, failure_reason %v; want failed, runner_system_failure", st["status"], st["failure_reason"])
		}
		s.WantDead(t, abandoned.Token, p.Path)
		if r := abandoned.Update(t, map[string]any{"state": "running"}); r.Status != http.StatusForbidden || r.Header.Get("Job-Status") != "failed" {
			t.Errorf("the abandoned job's keep-alive: %s (Job-Status %q), want 403 failed", r, r.Header.Get("Job-Status"))
		}

		// The job whose runner keeps calling outlives the timeout.
		for until := time.Now().Add(timeout + time.Second); time.Now().Before(until); {
			call()
			time.Sleep(250 * time.Millisecond)
		}
		if st := s.Job(t, p.ID, alive.ID); st["status"] != "running" {
			t.Fatalf("the job whose runner kept calling: %v, want running", st["status"])
		}
		alive.FinishOK(t, "success")
		if st := s.Job(t, p.ID, alive.ID); st["status"] != "success" {
			t.Errorf("the kept job: %v, want success", st["status"])
		}
	})
}
