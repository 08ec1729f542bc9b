package ci_test

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/ciwarden/ciwarden/internal/ci"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/secretbox"
	"github.com/ciwarden/ciwarden/internal/store"
)

const (
	traceToken  = "cwjob-Qx7vN2kLp9RtZ4mW8sHc3yJd6fB1gA5eU0oKiTnVbXq_-2hF9"
	traceSecret = "dpl-Rk3vQ9zLm2Xw7Tb5Hn8Jc4"
)

func traceBox(t *testing.T, fill byte) *secretbox.Box {
	t.Helper()
	b, err := secretbox.New(bytes.Repeat([]byte{fill}, secretbox.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// unread fails the test if the service reads the body.
type unread struct{ t *testing.T }

func (u unread) Read([]byte) (int, error) {
	u.t.Error("the body was read")
	return 0, io.EOF
}

// TestTracesAppend drives the trace service on one job: chunks at the
// right and wrong offsets, the sealed state between them, the flush, the
// bound on the whole log, and a state it cannot open.
func TestTracesAppend(t *testing.T) {
	forEachDialect(t, func(t *testing.T, f *fixture) {
		p := f.pipelineFor(t, "variables:\n  KEY:\n    value: "+traceSecret+"\n    masked: true\njob:\n  script: [echo]\n")
		var leaks int
		tr := &ci.Traces{Store: f.st, Box: traceBox(t, 1), Log: slog.New(slog.DiscardHandler), OnLeak: func() { leaks++ }}
		job := func() *model.Job {
			t.Helper()
			return f.job(t, p.ID, "job")
		}
		stored := func() string {
			t.Helper()
			b, err := f.st.Trace(ctx, job().ID)
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
		appendAt := func(j *model.Job, offset int64, data string) (int64, bool, error) {
			t.Helper()
			return tr.Append(ctx, j, traceToken, offset, strings.NewReader(data))
		}

		// A runner has the job: chunks are stored only while it runs.
		if _, err := f.svc.UpdateJob(ctx, job().ID, ci.EvRun, nil); err != nil {
			t.Fatal(err)
		}
		j := job()
		// Not where the log ends: refused before the body is read.
		if size, taken, err := tr.Append(ctx, j, traceToken, 5, unread{t}); size != 0 || taken || err != nil {
			t.Fatalf("Append at 5 of an empty log = %d, %v, %v; want 0, false, nil", size, taken, err)
		}
		chunk1 := "key " + traceSecret[:10]
		if size, taken, err := appendAt(j, 0, chunk1); size != int64(len(chunk1)) || !taken || err != nil {
			t.Fatalf("Append = %d, %v, %v", size, taken, err)
		}
		j = job()
		if j.TraceSize != int64(len(chunk1)) || len(j.TraceState) == 0 || !tr.Box.Current(j.TraceState) {
			t.Fatalf("job after Append: size %d, state of %d bytes, want %d and a state sealed with the instance key", j.TraceSize, len(j.TraceState), len(chunk1))
		}
		if bytes.Contains(j.TraceState, []byte(traceSecret[:8])) {
			t.Fatal("the held start of the masked value is in trace_state in clear")
		}
		if got := stored(); got != "key " {
			t.Errorf("stored %q while the value's start is held, want %q", got, "key ")
		}

		// A request that read the job before another one appended: the
		// compare-and-set refuses it and says where the log is.
		stale := *j
		chunk2 := traceSecret[10:] + " token " + traceToken[:20]
		if _, taken, err := appendAt(j, j.TraceSize, chunk2); !taken || err != nil {
			t.Fatalf("Append: %v, %v", taken, err)
		}
		want := int64(len(chunk1) + len(chunk2))
		if size, taken, err := appendAt(&stale, stale.TraceSize, "again"); size != want || taken || err != nil {
			t.Fatalf("stale Append = %d, %v, %v; want %d, false, nil", size, taken, err, want)
		}

		// Over the bound on the whole log.
		big := *job()
		big.TraceSize = ci.MaxTraceSize - 1
		if _, _, err := appendAt(&big, big.TraceSize, "xx"); !errors.Is(err, model.ErrTooLarge) {
			t.Fatalf("Append past MaxTraceSize: %v, want model.ErrTooLarge", err)
		}

		// Another instance key cannot resume the state: an error, and
		// nothing stored.
		other := &ci.Traces{Store: f.st, Box: traceBox(t, 2), Log: slog.New(slog.DiscardHandler)}
		before := stored()
		j = job()
		if _, _, err := other.Append(ctx, j, traceToken, j.TraceSize, strings.NewReader(traceToken[20:])); !errors.Is(err, secretbox.ErrOpen) {
			t.Fatalf("Append with another key: %v, want secretbox.ErrOpen", err)
		}
		if err := other.Flush(ctx, j, traceToken); !errors.Is(err, secretbox.ErrOpen) {
			t.Fatalf("Flush with another key: %v, want secretbox.ErrOpen", err)
		}
		if got := stored(); got != before || job().TraceSize != j.TraceSize {
			t.Fatalf("stored %q after refused requests, want %q", got, before)
		}

		if _, taken, err := appendAt(j, j.TraceSize, traceToken[20:]); !taken || err != nil {
			t.Fatalf("Append: %v, %v", taken, err)
		}
		if n := tr.CachedMaskers(); n == 0 {
			t.Fatalf("no masker cached while the job's log is open")
		}
		if err := tr.Flush(ctx, j, traceToken); err != nil {
			t.Fatal(err)
		}
		// The log is complete: its masker is not kept.
		if n := tr.CachedMaskers(); n != 0 {
			t.Errorf("%d maskers cached after the job's Flush, want 0", n)
		}
		if got, want := stored(), "key [MASKED] token [MASKED]"; got != want {
			t.Errorf("stored log %q, want %q", got, want)
		}
		if j = job(); len(j.TraceState) != 0 {
			t.Errorf("trace_state holds %d bytes after Flush", len(j.TraceState))
		}
		if err := tr.Flush(ctx, j, traceToken); err != nil {
			t.Errorf("a second Flush: %v", err)
		}

		tr.Scan(ctx, j, traceToken)
		if leaks != 0 {
			t.Errorf("Scan of a masked log counted %d leaks", leaks)
		}
		// A log that holds a raw secret (masking failed elsewhere).
		if err := f.st.Tx(ctx, func(q *store.Queries) error {
			mark := store.TraceMark{Size: j.TraceSize, CRC: j.TraceCRC, State: j.TraceState}
			_, err := q.AppendTrace(ctx, j.ID, mark, mark, []byte(traceSecret))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		tr.Scan(ctx, j, traceToken)
		if leaks != 1 {
			t.Errorf("Scan of a log with a masked value counted %d leaks, want 1", leaks)
		}
	})
}

// TestTracesRefuseWithoutMaskedVariables: when a job's masked CI/CD
// variables cannot be read, a chunk is refused with the error and nothing
// is stored: masking never falls back to a rule set without them.
func TestTracesRefuseWithoutMaskedVariables(t *testing.T) {
	forEachDialect(t, func(t *testing.T, f *fixture) {
		p := f.pipelineFor(t, "job:\n  script: [echo]\n")
		boom := errors.New("database gone")
		tr := &ci.Traces{Store: f.st, Box: traceBox(t, 1), Log: slog.New(slog.DiscardHandler),
			MaskedVariables: func(*model.Job) ([]string, error) { return nil, boom }}
		j := f.job(t, p.ID, "job")
		if _, err := f.svc.UpdateJob(ctx, j.ID, ci.EvRun, nil); err != nil {
			t.Fatal(err)
		}
		j = f.job(t, p.ID, "job")
		if _, taken, err := tr.Append(ctx, j, traceToken, 0, strings.NewReader("secret "+traceSecret+"\n")); taken || !errors.Is(err, boom) {
			t.Fatalf("Append: taken %v, err %v; want refused with %v", taken, err, boom)
		}
		if b, err := f.st.Trace(ctx, j.ID); err != nil || len(b) != 0 {
			t.Errorf("stored log %q (%v), want nothing", b, err)
		}
	})
}

// TestTracesReadMaskedVariablesOnce: a job's masked CI/CD variables are
// read on its first chunk, not on every chunk (each read is database
// reads and decryption on the log's hot path), and still masked in each.
func TestTracesReadMaskedVariablesOnce(t *testing.T) {
	forEachDialect(t, func(t *testing.T, f *fixture) {
		p := f.pipelineFor(t, "job:\n  script: [echo]\n")
		reads := 0
		tr := &ci.Traces{Store: f.st, Box: traceBox(t, 1), Log: slog.New(slog.DiscardHandler),
			MaskedVariables: func(*model.Job) ([]string, error) { reads++; return []string{traceSecret}, nil }}
		j := f.job(t, p.ID, "job")
		if _, err := f.svc.UpdateJob(ctx, j.ID, ci.EvRun, nil); err != nil {
			t.Fatal(err)
		}
		var offset int64
		for _, chunk := range []string{"one " + traceSecret + "\n", "two " + traceSecret + "\n", "three\n"} {
			j = f.job(t, p.ID, "job")
			size, taken, err := tr.Append(ctx, j, traceToken, offset, strings.NewReader(chunk))
			if err != nil || !taken {
				t.Fatalf("Append at %d: taken %v, err %v", offset, taken, err)
			}
			offset = size
		}
		if reads != 1 {
			t.Errorf("masked variables read %d times for three chunks, want 1", reads)
		}
		if b, _ := f.st.Trace(ctx, j.ID); strings.Contains(string(b), traceSecret) || strings.Count(string(b), "[MASKED]") != 2 {
			t.Errorf("stored log %q, want the secret masked twice", b)
		}
	})
}
