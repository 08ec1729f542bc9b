package runnerapi_test

import (
	"fmt"
	"hash/crc32"
	"net/http"
	"strings"
	"testing"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// The final update's log check (issue 20 item 4, runner-protocol.md §7):
// a log the server holds only part of is asked for again (412), and one
// that cannot be mended ends with a last line saying it is incomplete,
// never as if it were whole.

// incompleteMark starts the line the server appends to a log that does not
// match the runner's checksum.
const incompleteMark = "WARNING: this job log is incomplete"

// finalUpdate is the runner's final PUT reporting log as the log it sent,
// with its features (trace_reset among them unless withoutReset).
func finalUpdate(t testing.TB, j *testserver.RunningJob, log []byte, withoutReset bool) *testserver.Resp {
	t.Helper()
	sum := fmt.Sprintf("crc32:%08x", crc32.ChecksumIEEE(log))
	fields := map[string]any{"state": "success", "checksum": sum, "output": map[string]any{"checksum": sum, "bytesize": len(log)}}
	if withoutReset {
		info := testserver.RunnerInfoBody()
		features := testserver.RunnerFeatures()
		delete(features, "trace_reset")
		info["features"] = features
		fields["info"] = info
	}
	return j.Update(t, fields)
}

// TestLostLogIsResent: a runner sends a first chunk, the server dies, the
// next chunk never arrives (the runner's calls fail while it is down), and
// the job ends while a restarted server answers. The final update reports
// the whole log: the restarted server asks for it again (412, the job
// still running), the runner resends from 0 as gitlab-runner does, the 416
// says where the server's copy ends, the rest is appended, and the final
// update repeated then ends the job with the whole log and nothing more.
func TestLostLogIsResent(t *testing.T) {
	testserver.ForEachDialect(t, func(t *testing.T, dialect string) {
		// A child process, so that the server dies as a crash ends it.
		first := testserver.New(t, testserver.Options{Dialect: dialect, Process: true})
		j, p := traceJob(t, first)
		j.AppendTrace(t, "first line\n")
		have := len(j.Sent)

		first.Kill(t)
		lost := []byte("second line, sent while the server was down\n")
		if r, err := first.Try(first.RunnerCall(t, "PATCH", "/jobs/"+testserver.Itoa(j.ID)+"/trace", lost, false)); err == nil {
			t.Fatalf("PATCH to a stopped server: %s, want a failed call", r)
		}
		j.Sent = append(j.Sent, lost...) // the runner's log, which it reports whole

		s := first.Restart(t)
		j.RC.S = s
		r := finalUpdate(t, j, j.Sent, false)
		if r.Status != http.StatusPreconditionFailed || r.Header.Get("Job-Status") != "running" {
			t.Fatalf("final PUT over a short log: %s (Job-Status %q), want 412 running", r, r.Header.Get("Job-Status"))
		}
		if st := s.Job(t, p.ID, j.ID); st["status"] != "running" {
			t.Fatalf("job %v after the 412, want running", st["status"])
		}
		r = s.PatchTrace(t, j.ID, j.Token, 0, j.Sent)
		if r.Status != http.StatusRequestedRangeNotSatisfiable || r.Header.Get("Range") != fmt.Sprintf("0-%d", have) {
			t.Fatalf("resend from 0: %s (Range %q), want 416 with Range 0-%d", r, r.Header.Get("Range"), have)
		}
		if r = s.PatchTrace(t, j.ID, j.Token, have, j.Sent[have:]); r.Status != http.StatusAccepted {
			t.Fatalf("the missing bytes: %s, want 202", r)
		}
		if r = finalUpdate(t, j, j.Sent, false); r.Status != http.StatusOK || r.Header.Get("Job-Status") != "success" {
			t.Fatalf("final PUT over the mended log: %s (Job-Status %q), want 200 success", r, r.Header.Get("Job-Status"))
		}
		if got := storedTrace(t, s, p, j.ID); got != string(j.Sent) {
			t.Errorf("stored log %q, want the runner's whole log %q", got, j.Sent)
		}
		if st := s.Job(t, p.ID, j.ID); st["status"] != "success" {
			t.Errorf("job %v, want success", st["status"])
		}
		s.WantDead(t, j.Token, p.Path)
	})
}

// TestIncompleteLogIsMarked: when the log cannot be mended, the runner's
// final state is stored and the log says it is incomplete: a runner that
// does not resend is asked 3 times and then heard; a runner without
// trace_reset, or a log as long as the runner's but different, which no
// resend can mend, is not asked at all. A log that matches gets no mark.
func TestIncompleteLogIsMarked(t *testing.T) {
	testserver.ForEachDialect(t, func(t *testing.T, dialect string) {
		s := testserver.New(t, testserver.Options{Dialect: dialect})
		e := s.NewTeamCI(t, "a:\n  script: [echo a]\nb:\n  script: [echo b]\nc:\n  script: [echo c]\nd:\n  script: [echo d]\n")
		p := e.Project
		take := func() *testserver.RunningJob {
			t.Helper()
			j := e.Runner.TakeJob(t)
			j.Start(t)
			j.AppendTrace(t, "Running the script\n")
			return j
		}
		const runnerLog = "Running the script\n$ make\nJob succeeded\n"
		wantMarked := func(j *testserver.RunningJob, runnerSize int) {
			t.Helper()
			if st := s.Job(t, p.ID, j.ID); st["status"] != "success" {
				t.Errorf("job %d: %v, want success (the runner's state)", j.ID, st["status"])
			}
			got := storedTrace(t, s, p, j.ID)
			want := fmt.Sprintf("%s\n%s: the runner sent %d bytes (crc32:", j.Sent, incompleteMark, runnerSize)
			if !strings.HasPrefix(got, want) || !strings.HasSuffix(got, fmt.Sprintf("the server received %d bytes (crc32:%08x)\n", len(j.Sent), crc32.ChecksumIEEE(j.Sent))) {
				t.Errorf("job %d: stored log %q, want what arrived and then %q...", j.ID, got, want)
			}
			s.WantDead(t, j.Token, "")
		}

		// A runner that promises to resend but does not.
		j := take()
		for i := range 3 {
			if r := finalUpdate(t, j, []byte(runnerLog), false); r.Status != http.StatusPreconditionFailed {
				t.Fatalf("final PUT %d over a short log: %s, want 412", i+1, r)
			}
		}
		if r := finalUpdate(t, j, []byte(runnerLog), false); r.Status != http.StatusOK || r.Header.Get("Job-Status") != "success" {
			t.Fatalf("final PUT after 3 requests to resend: %s (Job-Status %q), want 200 success", r, r.Header.Get("Job-Status"))
		}
		wantMarked(j, len(runnerLog))
		// Its repeat, within the final-call grace, changes nothing.
		if r := finalUpdate(t, j, []byte(runnerLog), false); r.Status != http.StatusOK {
			t.Errorf("repeated final PUT: %s, want 200", r)
		}
		if n := strings.Count(storedTrace(t, s, p, j.ID), incompleteMark); n != 1 {
			t.Errorf("the log says %d times that it is incomplete, want once", n)
		}

		// A runner that cannot resend (no trace_reset) is heard at once.
		j = take()
		if r := finalUpdate(t, j, []byte(runnerLog), true); r.Status != http.StatusOK {
			t.Fatalf("final PUT without trace_reset over a short log: %s, want 200", r)
		}
		wantMarked(j, len(runnerLog))

		// A log of the runner's size but other bytes: a resend appends,
		// it cannot replace, so nobody is asked.
		j = take()
		other := []byte(strings.ToUpper(string(j.Sent)))
		if r := finalUpdate(t, j, other, false); r.Status != http.StatusOK {
			t.Fatalf("final PUT over a log of the same size but other bytes: %s, want 200", r)
		}
		wantMarked(j, len(other))

		// The log that matches ends the job with no mark.
		j = take()
		j.FinishOK(t, "success")
		if got := storedTrace(t, s, p, j.ID); got != string(j.Sent) {
			t.Errorf("a matching log is stored as %q, want %q", got, j.Sent)
		}
	})
}
