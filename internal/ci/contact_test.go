package ci_test

import (
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/ci"
)

// TestSilentRunnerFailsItsJob (issue 20 item 6): a running job whose
// runner has not called for the contact timeout fails with
// runner_system_failure (a job being canceled ends canceled); a job
// whose runner called within it does not. Contact is written at most once
// every timeout/5, and a sweep counts silence only once its process has
// listened for the timeout: a server that was down while its runners
// retried does not fail their jobs the moment it starts.
func TestSilentRunnerFailsItsJob(t *testing.T) {
	const config = `quiet:
  script: [a]
talking:
  script: [b]
stopping:
  script: [c]
`
	const timeout = 5 * time.Minute
	forEachDialect(t, func(t *testing.T, f *fixture) {
		f.svc.RunnerContactTimeout = timeout
		p := f.pipelineFor(t, config)
		for _, name := range []string{"quiet", "talking", "stopping"} {
			f.update(t, p.ID, name, ci.EvRun)
		}
		if _, err := f.svc.CancelJob(ctx, f.job(t, p.ID, "stopping").ID); err != nil {
			t.Fatal(err)
		}
		start := f.clock.Now()
		heard := func(name string) {
			t.Helper()
			if err := f.svc.Heard(ctx, f.job(t, p.ID, name)); err != nil {
				t.Fatal(err)
			}
		}
		contacted := func(name string) time.Time {
			t.Helper()
			j := f.job(t, p.ID, name)
			if j.ContactedAt == nil {
				return time.Time{}
			}
			return *j.ContactedAt
		}

		// A call right after the start writes nothing: the start is as
		// recent as a contact.
		f.clock.Add(time.Second)
		heard("talking")
		if c := contacted("talking"); !c.IsZero() {
			t.Fatalf("contact written %v after the start: the throttle did not hold", c)
		}
		// Once timeout/5 passed, a call is written; the next one soon
		// after is not.
		f.clock.Add(time.Minute)
		heard("talking")
		if c := contacted("talking"); !c.Equal(f.clock.Now()) {
			t.Fatalf("contact %v, want %v", c, f.clock.Now())
		}
		f.clock.Add(30 * time.Second)
		heard("talking")
		if c := contacted("talking"); !c.Equal(f.clock.Now().Add(-30 * time.Second)) {
			t.Fatalf("contact %v rewritten 30 s after the last one", c)
		}
		for f.clock.Now().Sub(start) <= timeout+time.Minute {
			f.clock.Add(time.Minute)
			heard("talking")
		}
		f.expect(t, "silent, before any sweep", p.ID, "running", "quiet=running talking=running stopping=canceling")

		// A process that has listened for less than the timeout fails
		// nothing, however long the silence.
		f.svc.Sweep(ctx, f.clock.Now().Add(-timeout+time.Second))
		f.expect(t, "swept by a process just started", p.ID, "running", "quiet=running talking=running stopping=canceling")

		f.svc.Sweep(ctx, start)
		f.expect(t, "swept", p.ID, "running", "quiet=failed talking=running stopping=canceled")
		if j := f.job(t, p.ID, "quiet"); j.FailureReason != "runner_system_failure" {
			t.Errorf("quiet: failure_reason %q, want runner_system_failure", j.FailureReason)
		}

		// The talking job's runner falls silent in turn.
		f.clock.Add(timeout)
		f.svc.Sweep(ctx, start)
		f.expect(t, "talking went silent", p.ID, "running", "quiet=failed talking=running stopping=canceled")
		f.clock.Add(time.Minute)
		f.svc.Sweep(ctx, start)
		f.expect(t, "talking silent for the timeout", p.ID, "failed", "quiet=failed talking=failed stopping=canceled")
	})
}
