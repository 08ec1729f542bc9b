package ci_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/ci"
	"github.com/ciwarden/ciwarden/internal/model"
)

// runnerID is the runner the tests pretend to be.
const runnerID = 7

// update applies ev to the named job as a runner would.
func (f *fixture) update(tb testing.TB, pipelineID int64, name string, ev ci.Event) *model.Job {
	tb.Helper()
	j := f.job(tb, pipelineID, name)
	var mutate func(*model.Job)
	if ev == ci.EvRun {
		now := f.clock.Now()
		mutate = func(j *model.Job) { j.RunnerID, j.StartedAt = runnerID, &now }
	}
	out, err := f.svc.UpdateJob(ctx, j.ID, ev, mutate)
	if err != nil {
		tb.Fatalf("UpdateJob(%s, %s): %v", name, ev, err)
	}
	return out
}

// pass runs the named jobs and lets them succeed, one after another.
func (f *fixture) pass(tb testing.TB, pipelineID int64, names ...string) {
	tb.Helper()
	for _, n := range names {
		f.update(tb, pipelineID, n, ci.EvRun)
		f.update(tb, pipelineID, n, ci.EvSucceed)
	}
}

// fail runs the named jobs and lets them fail.
func (f *fixture) fail(tb testing.TB, pipelineID int64, names ...string) {
	tb.Helper()
	for _, n := range names {
		f.update(tb, pipelineID, n, ci.EvRun)
		f.update(tb, pipelineID, n, ci.EvDrop)
	}
}

func wantNotAllowed(tb testing.TB, what string, err error) {
	tb.Helper()
	if !errors.Is(err, ci.ErrNotAllowed) {
		tb.Fatalf("%s: err = %v, want ci.ErrNotAllowed", what, err)
	}
}

func TestProcessStages(t *testing.T) {
	forEachDialect(t, func(t *testing.T, f *fixture) {
		p := f.pipelineFor(t, `stages: [build, test, deploy]
build:
  stage: build
  script: [b]
test1:
  stage: test
  script: [t]
test2:
  stage: test
  script: [t]
deploy:
  stage: deploy
  script: [d]
on-fail:
  stage: deploy
  script: [notify]
  when: on_failure
always:
  stage: deploy
  script: [report]
  when: always
`)
		f.expect(t, "created", p.ID, "pending", "build=pending test1=created test2=created deploy=created on-fail=created always=created")
		if p.StartedAt != nil {
			t.Fatalf("pending pipeline StartedAt %v", p.StartedAt)
		}
		start := f.clock.Now().Add(time.Minute)
		f.clock.Add(time.Minute)
		j := f.update(t, p.ID, "build", ci.EvRun)
		if j.Status != model.StatusRunning || j.RunnerID != runnerID || j.StartedAt == nil || !j.StartedAt.Equal(start) {
			t.Fatalf("UpdateJob(run) returned %+v", j)
		}
		f.expect(t, "build running", p.ID, "running", "build=running test1=created test2=created deploy=created on-fail=created always=created")
		if got := f.pipeline(t, p.ID); got.StartedAt == nil || !got.StartedAt.Equal(start) {
			t.Fatalf("running pipeline StartedAt %v, want %v", got.StartedAt, start)
		}
		f.clock.Add(time.Minute)
		j = f.update(t, p.ID, "build", ci.EvSucceed)
		if j.Status != model.StatusSuccess || j.FinishedAt == nil || !j.FinishedAt.Equal(f.clock.Now()) {
			t.Fatalf("UpdateJob(succeed) returned %+v", j)
		}
		f.expect(t, "build done", p.ID, "running", "build=success test1=pending test2=pending deploy=created on-fail=created always=created")
		f.pass(t, p.ID, "test1")
		f.expect(t, "test1 done", p.ID, "running", "build=success test1=success test2=pending deploy=created on-fail=created always=created")
		f.update(t, p.ID, "test2", ci.EvRun)
		f.expect(t, "test2 running", p.ID, "running", "build=success test1=success test2=running deploy=created on-fail=created always=created")
		f.update(t, p.ID, "test2", ci.EvSucceed)
		f.expect(t, "test done", p.ID, "running", "build=success test1=success test2=success deploy=pending on-fail=skipped always=pending")
		f.pass(t, p.ID, "deploy")
		f.expect(t, "deploy done", p.ID, "running", "build=success test1=success test2=success deploy=success on-fail=skipped always=pending")
		f.clock.Add(time.Minute)
		f.pass(t, p.ID, "always")
		f.expect(t, "all done", p.ID, "success", "build=success test1=success test2=success deploy=success on-fail=skipped always=success")
		if got := f.pipeline(t, p.ID); !got.StartedAt.Equal(start) || !got.FinishedAt.Equal(f.clock.Now()) {
			t.Fatalf("StartedAt %v (want %v), FinishedAt %v (want %v)", got.StartedAt, start, got.FinishedAt, f.clock.Now())
		}
		// A finished job takes no more events.
		b := f.job(t, p.ID, "build")
		for _, ev := range []ci.Event{ci.EvRun, ci.EvSucceed, ci.EvDrop, ci.EvEnqueue, ci.EvPlay} {
			_, err := f.svc.UpdateJob(ctx, b.ID, ev, nil)
			wantNotAllowed(t, "UpdateJob(success, "+string(ev)+")", err)
		}
	})
}

func TestProcessFailure(t *testing.T) {
	forEachDialect(t, func(t *testing.T, f *fixture) {
		p := f.pipelineFor(t, `stages: [build, test, deploy]
build:
  stage: build
  script: [b]
lint:
  stage: build
  script: [l]
test:
  stage: test
  script: [t]
deploy:
  stage: deploy
  script: [d]
rollback:
  stage: deploy
  script: [r]
  when: on_failure
report:
  stage: deploy
  script: [r]
  when: always
`)
		f.expect(t, "created", p.ID, "pending", "build=pending lint=pending test=created deploy=created rollback=created report=created")
		f.fail(t, p.ID, "build")
		// The stage is not over: nothing later is decided yet.
		f.expect(t, "build failed", p.ID, "running", "build=failed lint=pending test=created deploy=created rollback=created report=created")
		f.pass(t, p.ID, "lint")
		f.expect(t, "build stage over", p.ID, "running", "build=failed lint=success test=skipped deploy=skipped rollback=pending report=pending")
		f.pass(t, p.ID, "rollback")
		f.expect(t, "rollback done", p.ID, "running", "build=failed lint=success test=skipped deploy=skipped rollback=success report=pending")
		f.pass(t, p.ID, "report")
		f.expect(t, "all done", p.ID, "failed", "build=failed lint=success test=skipped deploy=skipped rollback=success report=success")
		if d := f.job(t, p.ID, "deploy"); d.FinishedAt == nil || d.QueuedAt != nil {
			t.Fatalf("skipped job: finished %v queued %v", d.FinishedAt, d.QueuedAt)
		}
	})
}

// TestProcessDAGAfterSkipped: a DAG job runs only when its needs
// succeeded. A need skipped because an earlier stage failed must skip it
// (GitLab's ProcessBuildService: on_success with needs requires
// "success"; only stage-based jobs also accept "skipped").
func TestProcessDAGAfterSkipped(t *testing.T) {
	forEachDialect(t, func(t *testing.T, f *fixture) {
		p := f.pipelineFor(t, `stages: [build, test, deploy]
build:
  stage: build
  script: [b]
test:
  stage: test
  script: [t]
publish:
  stage: deploy
  script: [p]
  needs: [test]
cleanup:
  stage: deploy
  script: [c]
  needs: [test]
  when: always
`)
		f.fail(t, p.ID, "build")
		f.expect(t, "build failed", p.ID, "running", "build=failed test=skipped publish=skipped cleanup=pending")
	})
}

func TestProcessAllowFailure(t *testing.T) {
	forEachDialect(t, func(t *testing.T, f *fixture) {
		p := f.pipelineFor(t, `stages: [test, deploy]
flaky:
  stage: test
  script: [f]
  allow_failure: true
solid:
  stage: test
  script: [s]
deploy:
  stage: deploy
  script: [d]
`)
		f.fail(t, p.ID, "flaky")
		// GitLab's composite: a failure that is allowed counts as success
		// with warnings, which with pending jobs is pending.
		f.expect(t, "flaky failed", p.ID, "pending", "flaky=failed solid=pending deploy=created")
		f.pass(t, p.ID, "solid")
		f.expect(t, "test stage over", p.ID, "running", "flaky=failed solid=success deploy=pending")
		f.pass(t, p.ID, "deploy")
		f.expect(t, "all done", p.ID, "success", "flaky=failed solid=success deploy=success")
	})
}

func TestProcessBlockingManual(t *testing.T) {
	forEachDialect(t, func(t *testing.T, f *fixture) {
		p := f.pipelineFor(t, `stages: [build, gate, deploy]
build:
  stage: build
  script: [b]
approve:
  stage: gate
  script: [a]
  rules:
    - when: manual
optional:
  stage: gate
  script: [o]
  when: manual
deploy:
  stage: deploy
  script: [d]
`)
		if j := f.job(t, p.ID, "approve"); j.AllowFailure || j.When != "manual" {
			t.Fatalf("approve: allow_failure %v when %s; a rule's when: manual is blocking", j.AllowFailure, j.When)
		}
		if j := f.job(t, p.ID, "optional"); !j.AllowFailure {
			t.Fatalf("optional: a job-level when: manual is allow_failure by default")
		}
		f.pass(t, p.ID, "build")
		f.expect(t, "waiting for a person", p.ID, "manual", "build=success approve=manual optional=manual deploy=created")
		// A runner cannot take a manual job.
		_, err := f.svc.UpdateJob(ctx, f.job(t, p.ID, "approve").ID, ci.EvRun, nil)
		wantNotAllowed(t, "UpdateJob(manual, run)", err)

		f.update(t, p.ID, "approve", ci.EvPlay)
		f.expect(t, "played", p.ID, "running", "build=success approve=pending optional=manual deploy=created")
		f.pass(t, p.ID, "approve")
		// The optional manual job does not hold the next stage.
		f.expect(t, "gate passed", p.ID, "running", "build=success approve=success optional=manual deploy=pending")
		f.pass(t, p.ID, "deploy")
		f.expect(t, "all done", p.ID, "success", "build=success approve=success optional=manual deploy=success")
	})
}

func TestProcessDAG(t *testing.T) {
	forEachDialect(t, func(t *testing.T, f *fixture) {
		p := f.pipelineFor(t, `stages: [build, test, deploy]
build-a:
  stage: build
  script: [a]
build-b:
  stage: build
  script: [b]
test-a:
  stage: test
  script: [ta]
  needs: [build-a]
test-b:
  stage: test
  script: [tb]
deploy-a:
  stage: deploy
  script: [da]
  needs: [test-a]
deploy-all:
  stage: deploy
  script: [d]
`)
		f.expect(t, "created", p.ID, "pending", "build-a=pending build-b=pending test-a=created test-b=created deploy-a=created deploy-all=created")
		f.update(t, p.ID, "build-b", ci.EvRun)
		f.pass(t, p.ID, "build-a")
		f.expect(t, "build-a done", p.ID, "running", "build-a=success build-b=running test-a=pending test-b=created deploy-a=created deploy-all=created")
		f.pass(t, p.ID, "test-a")
		f.expect(t, "test-a done", p.ID, "running", "build-a=success build-b=running test-a=success test-b=created deploy-a=pending deploy-all=created")
		f.pass(t, p.ID, "deploy-a")
		f.expect(t, "deploy-a done", p.ID, "running", "build-a=success build-b=running test-a=success test-b=created deploy-a=success deploy-all=created")
		f.update(t, p.ID, "build-b", ci.EvSucceed)
		f.expect(t, "build done", p.ID, "running", "build-a=success build-b=success test-a=success test-b=pending deploy-a=success deploy-all=created")
		f.pass(t, p.ID, "test-b")
		f.expect(t, "test done", p.ID, "running", "build-a=success build-b=success test-a=success test-b=success deploy-a=success deploy-all=pending")
		f.pass(t, p.ID, "deploy-all")
		f.expect(t, "all done", p.ID, "success", "build-a=success build-b=success test-a=success test-b=success deploy-a=success deploy-all=success")

		// A failed need skips the DAG job without waiting for the stage.
		q := f.pipelineFor(t, `stages: [build, test]
build-a:
  stage: build
  script: [a]
build-b:
  stage: build
  script: [b]
test-a:
  stage: test
  script: [ta]
  needs: [build-a]
`)
		f.fail(t, q.ID, "build-a")
		f.expect(t, "need failed", q.ID, "running", "build-a=failed build-b=pending test-a=skipped")
		f.pass(t, q.ID, "build-b")
		f.expect(t, "all done", q.ID, "failed", "build-a=failed build-b=success test-a=skipped")
	})
}

const cancelConfig = `stages: [build, test]
busy:
  stage: build
  script: [a]
orphan:
  stage: build
  script: [o]
queued:
  stage: build
  script: [q]
done:
  stage: build
  script: [d]
test:
  stage: test
  script: [t]
`

func TestCancel(t *testing.T) {
	forEachDialect(t, func(t *testing.T, f *fixture) {
		p := f.pipelineFor(t, cancelConfig)
		f.update(t, p.ID, "busy", ci.EvRun) // taken by runner 7
		o := f.job(t, p.ID, "orphan")
		if _, err := f.svc.UpdateJob(ctx, o.ID, ci.EvRun, nil); err != nil { // running, no runner recorded
			t.Fatal(err)
		}
		f.pass(t, p.ID, "done")
		f.expect(t, "before", p.ID, "running", "busy=running orphan=running queued=pending done=success test=created")

		f.clock.Add(time.Minute)
		if err := f.svc.Cancel(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
		// The running job with a runner waits for it in canceling; the
		// pipeline is not over until it settles.
		f.expect(t, "canceled", p.ID, "running", "busy=canceling orphan=canceled queued=canceled done=success test=canceled")
		if b := f.job(t, p.ID, "busy"); b.FinishedAt != nil || b.RunnerID != runnerID {
			t.Fatalf("canceling job: finished %v runner %d", b.FinishedAt, b.RunnerID)
		}
		for _, n := range []string{"orphan", "queued", "test"} {
			if j := f.job(t, p.ID, n); j.FinishedAt == nil || !j.FinishedAt.Equal(f.clock.Now()) {
				t.Fatalf("%s: FinishedAt %v, want %v", n, j.FinishedAt, f.clock.Now())
			}
		}
		// Canceling twice changes nothing; canceling a finished job is refused.
		if err := f.svc.Cancel(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
		f.expect(t, "canceled again", p.ID, "running", "busy=canceling orphan=canceled queued=canceled done=success test=canceled")
		_, err := f.svc.CancelJob(ctx, f.job(t, p.ID, "done").ID)
		wantNotAllowed(t, "CancelJob(success)", err)
		_, err = f.svc.CancelJob(ctx, f.job(t, p.ID, "busy").ID)
		wantNotAllowed(t, "CancelJob(canceling)", err)

		// The runner reports the end of the canceled job.
		f.clock.Add(time.Minute)
		f.update(t, p.ID, "busy", ci.EvCancel)
		f.expect(t, "settled", p.ID, "canceled", "busy=canceled orphan=canceled queued=canceled done=success test=canceled")
		if got := f.pipeline(t, p.ID); !got.FinishedAt.Equal(f.clock.Now()) {
			t.Fatalf("canceled pipeline FinishedAt %v, want %v", got.FinishedAt, f.clock.Now())
		}

		// CancelJob on one job: the others go on.
		q := f.pipelineFor(t, cancelConfig)
		j, err := f.svc.CancelJob(ctx, f.job(t, q.ID, "queued").ID)
		if err != nil || j.Status != model.StatusCanceled {
			t.Fatalf("CancelJob(pending) = %+v, %v", j, err)
		}
		f.update(t, q.ID, "busy", ci.EvRun)
		j, err = f.svc.CancelJob(ctx, f.job(t, q.ID, "busy").ID)
		if err != nil || j.Status != model.StatusCanceling {
			t.Fatalf("CancelJob(running) = %+v, %v", j, err)
		}
		f.expect(t, "one canceled", q.ID, "running", "busy=canceling orphan=pending queued=canceled done=pending test=created")
		f.update(t, q.ID, "busy", ci.EvSucceed) // the runner finished anyway
		f.pass(t, q.ID, "orphan", "done")
		f.expect(t, "stage over", q.ID, "canceled", "busy=success orphan=success queued=canceled done=success test=skipped")
	})
}

func TestRetryJob(t *testing.T) {
	forEachDialect(t, func(t *testing.T, f *fixture) {
		p := f.pipelineFor(t, `stages: [build, test]
build:
  stage: build
  script: [b]
test:
  stage: test
  script: [t]
ship:
  stage: test
  script: [s]
  when: manual
`)
		old := f.job(t, p.ID, "build")
		_, err := f.svc.RetryJob(ctx, old.ID, f.user.ID)
		wantNotAllowed(t, "RetryJob(pending)", err)
		f.update(t, p.ID, "build", ci.EvRun)
		_, err = f.svc.RetryJob(ctx, old.ID, f.user.ID)
		wantNotAllowed(t, "RetryJob(running)", err)
		f.update(t, p.ID, "build", ci.EvDrop)
		f.expect(t, "failed", p.ID, "failed", "build=failed test=skipped ship=skipped")

		f.clock.Add(time.Minute)
		n, err := f.svc.RetryJob(ctx, old.ID, f.user.ID)
		if err != nil {
			t.Fatal(err)
		}
		// RetryJob answers with the job as stored after processing: queued.
		if n.ID == old.ID || n.Name != "build" || n.PipelineID != p.ID || n.Retried || n.Status != model.StatusPending {
			t.Fatalf("RetryJob returned %+v (old ID %d)", n, old.ID)
		}
		f.expect(t, "retried", p.ID, "pending", "build=pending test=created ship=created")
		if got := f.job(t, p.ID, "build"); got.ID != n.ID || !got.CreatedAt.Equal(f.clock.Now()) || got.StartedAt != nil || got.FinishedAt != nil || got.RunnerID != 0 {
			t.Fatalf("new job %+v", got)
		}
		all, err := f.st.PipelineJobs(ctx, p.ID, true)
		if err != nil {
			t.Fatal(err)
		}
		var retried []string
		for _, j := range all {
			if j.Retried {
				retried = append(retried, fmt.Sprintf("%s#%d=%s", j.Name, j.ID, j.Status))
			}
		}
		if want := fmt.Sprintf("build#%d=failed", old.ID); strings.Join(retried, " ") != want {
			t.Fatalf("retried jobs %v, want %s", retried, want)
		}
		_, err = f.svc.RetryJob(ctx, old.ID, f.user.ID)
		wantNotAllowed(t, "RetryJob(retried)", err)
		_, err = f.svc.UpdateJob(ctx, old.ID, ci.EvRun, nil)
		wantNotAllowed(t, "UpdateJob(old failed job, run)", err)

		f.pass(t, p.ID, "build")
		f.expect(t, "build passed", p.ID, "running", "build=success test=pending ship=manual")
		f.pass(t, p.ID, "test")
		f.expect(t, "all done", p.ID, "success", "build=success test=success ship=manual")

		// A successful job may be retried too; the pipeline runs again.
		f.clock.Add(time.Minute)
		tj, err := f.svc.RetryJob(ctx, f.job(t, p.ID, "test").ID, f.user.ID)
		if err != nil {
			t.Fatal(err)
		}
		f.expect(t, "test retried", p.ID, "running", "build=success ship=manual test=pending")
		if tj.UserID != f.user.ID {
			t.Fatalf("retry user %d", tj.UserID)
		}
		f.pass(t, p.ID, "test")
		f.expect(t, "done again", p.ID, "success", "build=success ship=manual test=success")
	})
}

func TestRetryPipeline(t *testing.T) {
	forEachDialect(t, func(t *testing.T, f *fixture) {
		p := f.pipelineFor(t, `stages: [build, test]
a:
  stage: build
  script: [a]
b:
  stage: build
  script: [b]
c:
  stage: build
  script: [c]
test:
  stage: test
  script: [t]
`)
		err := f.svc.RetryPipeline(ctx, p.ID, f.user.ID)
		wantNotAllowed(t, "RetryPipeline(nothing failed)", err)
		f.fail(t, p.ID, "a")
		if _, err := f.svc.CancelJob(ctx, f.job(t, p.ID, "b").ID); err != nil {
			t.Fatal(err)
		}
		f.pass(t, p.ID, "c")
		f.expect(t, "failed", p.ID, "failed", "a=failed b=canceled c=success test=skipped")
		oldA, oldC := f.job(t, p.ID, "a"), f.job(t, p.ID, "c")

		if err := f.svc.RetryPipeline(ctx, p.ID, f.user.ID); err != nil {
			t.Fatal(err)
		}
		f.expect(t, "retried", p.ID, "running", "c=success a=pending b=pending test=created")
		if a := f.job(t, p.ID, "a"); a.ID == oldA.ID {
			t.Fatal("a was not replaced")
		}
		if c := f.job(t, p.ID, "c"); c.ID != oldC.ID {
			t.Fatal("a successful job was retried")
		}
		f.pass(t, p.ID, "a", "b")
		f.expect(t, "build passed", p.ID, "running", "c=success a=success b=success test=pending")
		f.pass(t, p.ID, "test")
		f.expect(t, "all done", p.ID, "success", "c=success a=success b=success test=success")
		err = f.svc.RetryPipeline(ctx, p.ID, f.user.ID)
		wantNotAllowed(t, "RetryPipeline(success)", err)
	})
}

func TestErase(t *testing.T) {
	forEachDialect(t, func(t *testing.T, f *fixture) {
		p := f.pipelineFor(t, `stages: [build, test]
a:
  stage: build
  script: [a]
b:
  stage: build
  script: [b]
test:
  stage: test
  script: [t]
`)
		a := f.job(t, p.ID, "a")
		_, err := f.svc.Erase(ctx, a.ID)
		wantNotAllowed(t, "Erase(pending)", err)
		_, err = f.svc.Erase(ctx, f.job(t, p.ID, "test").ID)
		wantNotAllowed(t, "Erase(created)", err)
		f.update(t, p.ID, "a", ci.EvRun)
		_, err = f.svc.Erase(ctx, a.ID)
		wantNotAllowed(t, "Erase(running)", err)
		f.update(t, p.ID, "a", ci.EvSucceed)
		f.fail(t, p.ID, "b")

		f.clock.Add(time.Hour)
		for _, n := range []string{"a", "b", "test"} { // success, failed, skipped
			j, err := f.svc.Erase(ctx, f.job(t, p.ID, n).ID)
			if err != nil {
				t.Fatalf("Erase(%s): %v", n, err)
			}
			if j.ErasedAt == nil || !j.ErasedAt.Equal(f.clock.Now()) {
				t.Fatalf("Erase(%s) returned ErasedAt %v", n, j.ErasedAt)
			}
			if got := f.job(t, p.ID, n); got.ErasedAt == nil || !got.ErasedAt.Equal(f.clock.Now()) || got.Status != j.Status {
				t.Fatalf("%s after Erase: %+v", n, got)
			}
			_, err = f.svc.Erase(ctx, j.ID)
			wantNotAllowed(t, "Erase twice", err)
		}
		f.expect(t, "erased", p.ID, "failed", "a=success b=failed test=skipped")
	})
}

// TestConcurrentRunners drives 30 parallel jobs from 30 goroutines at
// once, with a rival runner per job trying to take the same job: each job
// is taken and finished exactly once and the pipeline ends exactly right.
func TestConcurrentRunners(t *testing.T) {
	const n = 30
	var b strings.Builder
	b.WriteString("stages: [build, test]\n")
	for i := range n {
		fmt.Fprintf(&b, "job%02d:\n  stage: build\n  script: [make %d]\n", i, i)
	}
	for i := range 3 {
		fmt.Fprintf(&b, "test%d:\n  stage: test\n  script: [test %d]\n", i, i)
	}
	yaml := b.String()

	forEachDialect(t, func(t *testing.T, f *fixture) {
		p := f.pipelineFor(t, yaml)
		jobs := f.jobs(t, p.ID)
		if len(jobs) != n+3 {
			t.Fatalf("%d jobs, want %d", len(jobs), n+3)
		}
		var first []*model.Job
		for _, j := range jobs[:n] {
			if j.Status != model.StatusPending || j.Stage != "build" {
				t.Fatalf("%s: %s in %s", j.Name, j.Status, j.Stage)
			}
			first = append(first, j)
		}

		// Two runners per job race to take it; the winner finishes it.
		var wg sync.WaitGroup
		var took [n]atomic.Int32
		var winner [n]atomic.Int64
		errs := make(chan error, 4*n)
		start := make(chan struct{})
		for i, j := range first {
			for r := range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					runner := int64(100 + 2*i + r)
					got, err := f.svc.UpdateJob(ctx, j.ID, ci.EvRun, func(j *model.Job) { j.RunnerID = runner })
					switch {
					case errors.Is(err, ci.ErrNotAllowed):
						return // the rival took it
					case err != nil:
						errs <- fmt.Errorf("%s: run (runner %d): %w", j.Name, runner, err)
						return
					case got.Status != model.StatusRunning || got.RunnerID != runner:
						errs <- fmt.Errorf("%s: run returned %s runner %d", j.Name, got.Status, got.RunnerID)
						return
					}
					took[i].Add(1)
					winner[i].Store(runner)
					if _, err := f.svc.UpdateJob(ctx, j.ID, ci.EvSucceed, nil); err != nil {
						errs <- fmt.Errorf("%s: succeed: %w", j.Name, err)
					}
				}()
			}
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if t.Failed() {
			t.FailNow()
		}
		for i, j := range first {
			if c := took[i].Load(); c != 1 {
				t.Errorf("%s was taken %d times", j.Name, c)
			}
			got := f.job(t, p.ID, j.Name)
			if got.ID != j.ID || got.Status != model.StatusSuccess || got.RunnerID != winner[i].Load() || got.FinishedAt == nil {
				t.Errorf("%s: %+v (winner %d)", j.Name, got, winner[i].Load())
			}
		}
		var parts []string
		for i := range n {
			parts = append(parts, fmt.Sprintf("job%02d=success", i))
		}
		want := strings.Join(parts, " ") + " test0=pending test1=pending test2=pending"
		f.expect(t, "first stage done", p.ID, "running", want)
		if all, err := f.st.PipelineJobs(ctx, p.ID, true); err != nil || len(all) != n+3 {
			t.Fatalf("%d jobs in all (err %v), want %d", len(all), err, n+3)
		}

		// A second report of the same end is refused, concurrently too.
		var wg2 sync.WaitGroup
		var refused atomic.Int32
		for _, j := range first {
			wg2.Add(1)
			go func() {
				defer wg2.Done()
				_, err := f.svc.UpdateJob(ctx, j.ID, ci.EvSucceed, nil)
				if errors.Is(err, ci.ErrNotAllowed) {
					refused.Add(1)
				} else {
					t.Errorf("%s: second succeed: %v", j.Name, err)
				}
			}()
		}
		wg2.Wait()
		if refused.Load() != n {
			t.Fatalf("%d of %d second reports refused", refused.Load(), n)
		}

		// The second stage, concurrently as well.
		var wg3 sync.WaitGroup
		for i := range 3 {
			j := f.job(t, p.ID, fmt.Sprintf("test%d", i))
			wg3.Add(1)
			go func() {
				defer wg3.Done()
				if _, err := f.svc.UpdateJob(ctx, j.ID, ci.EvRun, nil); err != nil {
					t.Errorf("%s: run: %v", j.Name, err)
					return
				}
				if _, err := f.svc.UpdateJob(ctx, j.ID, ci.EvSucceed, nil); err != nil {
					t.Errorf("%s: succeed: %v", j.Name, err)
				}
			}()
		}
		wg3.Wait()
		f.expect(t, "all done", p.ID, "success", strings.Join(parts, " ")+" test0=success test1=success test2=success")
	})
}

// TestEraseRaceRetry erases and retries the same failed jobs at once.
// Whatever the order, both must take effect: the old job ends retried
// (so it is not the current job any more) and erased.
func TestEraseRaceRetry(t *testing.T) {
	const n = 40
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "job%02d:\n  script: [make %d]\n", i, i)
	}
	yaml := b.String()
	forEachDialect(t, func(t *testing.T, f *fixture) {
		p := f.pipelineFor(t, yaml)
		old := f.jobs(t, p.ID)
		for _, j := range old {
			f.fail(t, p.ID, j.Name)
		}
		var wg sync.WaitGroup
		for _, j := range old {
			wg.Add(2)
			go func() {
				defer wg.Done()
				if _, err := f.svc.Erase(ctx, j.ID); err != nil {
					t.Errorf("Erase(%s): %v", j.Name, err)
				}
			}()
			go func() {
				defer wg.Done()
				if _, err := f.svc.RetryJob(ctx, j.ID, f.user.ID); err != nil {
					t.Errorf("RetryJob(%s): %v", j.Name, err)
				}
			}()
		}
		wg.Wait()
		var lost []string
		for _, j := range old {
			got, err := f.st.Job(ctx, j.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Retried || got.ErasedAt == nil {
				lost = append(lost, fmt.Sprintf("%s (retried %v, erased %v)", j.Name, got.Retried, got.ErasedAt != nil))
			}
		}
		if len(lost) > 0 {
			t.Errorf("%d of %d old jobs lost an update: %s", len(lost), n, strings.Join(lost, ", "))
		}
		if cur := f.jobs(t, p.ID); len(cur) != n {
			t.Errorf("%d current jobs, want %d", len(cur), n)
		}
	})
}
