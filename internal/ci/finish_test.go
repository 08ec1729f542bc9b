package ci_test

import (
	"testing"

	"github.com/ciwarden/ciwarden/internal/ci"
	"github.com/ciwarden/ciwarden/internal/model"
)

// TestFailRunnerJobs: the jobs a dead runner held end as its final updates
// would have: failed with runner_system_failure (retried when retry: says
// so), canceled when they were being canceled; another runner's job and
// finished jobs are untouched.
func TestFailRunnerJobs(t *testing.T) {
	const config = `mine:
  script: [a]
  allow_failure: true
stopping:
  script: [b]
flaky:
  script: [c]
  retry:
    max: 1
    when: [runner_system_failure]
theirs:
  script: [d]
done:
  script: [e]
`
	forEachDialect(t, func(t *testing.T, f *fixture) {
		p := f.pipelineFor(t, config)
		f.update(t, p.ID, "mine", ci.EvRun)
		f.update(t, p.ID, "stopping", ci.EvRun)
		f.update(t, p.ID, "flaky", ci.EvRun)
		f.pass(t, p.ID, "done")
		if _, err := f.svc.UpdateJob(ctx, f.job(t, p.ID, "theirs").ID, ci.EvRun, func(j *model.Job) { j.RunnerID = runnerID + 1 }); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.CancelJob(ctx, f.job(t, p.ID, "stopping").ID); err != nil {
			t.Fatal(err)
		}
		f.expect(t, "before", p.ID, "running", "mine=running stopping=canceling flaky=running theirs=running done=success")
		flaky := f.job(t, p.ID, "flaky")

		n, err := f.svc.FailRunnerJobs(ctx, runnerID)
		if err != nil || n != 3 {
			t.Fatalf("FailRunnerJobs = %d, %v; want 3 jobs", n, err)
		}
		f.expect(t, "after", p.ID, "running", "mine=failed stopping=canceled theirs=running done=success flaky=pending")
		if j := f.job(t, p.ID, "mine"); j.FailureReason != "runner_system_failure" {
			t.Errorf("mine: failure_reason %q, want runner_system_failure", j.FailureReason)
		}
		all, err := f.st.PipelineJobs(ctx, p.ID, true)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range all {
			if j.ID == flaky.ID && (j.Status != model.StatusFailed || !j.Retried || j.FailureReason != "runner_system_failure") {
				t.Errorf("flaky's first attempt: %s retried=%v reason %q", j.Status, j.Retried, j.FailureReason)
			}
		}
		if n, err := f.svc.FailRunnerJobs(ctx, runnerID); err != nil || n != 0 {
			t.Errorf("FailRunnerJobs again = %d, %v; want nothing left", n, err)
		}
	})
}
