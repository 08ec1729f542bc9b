package store_test

import (
	"testing"

	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/store"
)

// TestTraceStateMigration: the migration that brought sealed masker states
// drops every state stored in clear before it, of running and finished
// jobs alike: it may hold the start of a job token (issue 13 item 2).
func TestTraceStateMigration(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		f := newArtFixture(t, st)
		_, jobs := f.pipeline("main", model.StatusRunning, "running", "done")
		// Back to before the migration, as an upgraded database is (the
		// later migrations' down steps too).
		if err := st.MigrateDownTo(ctx, 9); err != nil {
			t.Fatal(err)
		}
		for _, j := range jobs {
			if _, err := st.AppendTrace(ctx, j.ID, store.TraceMark{}, store.TraceMark{Size: 9, CRC: 1, State: []byte("\x01\x00\x00\x00cwjob-Qx7")}, []byte("log ")); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		if n := count(t, st, "SELECT COUNT(*) FROM jobs WHERE trace_state IS NOT NULL"); n != 0 {
			t.Errorf("%d jobs keep a trace_state stored in clear", n)
		}
		if n := count(t, st, "SELECT COUNT(*) FROM job_trace_chunks"); n != 2 {
			t.Errorf("%d log chunks left, want the 2 stored", n)
		}
	})
}

// TestAppendTraceCompareAndSet: a chunk is stored only on the log's mark
// as stored, size, CRC and sealed masker state alike, since the caller may
// hold the token cache's lagging copy of the job; a chunk refused stores
// no text.
func TestAppendTraceCompareAndSet(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		f := newArtFixture(t, st)
		_, jobs := f.pipeline("main", model.StatusRunning, "job")
		j := jobs[0]
		first := store.TraceMark{Size: 5, CRC: 11, State: []byte("state-1")}
		if ok, err := st.AppendTrace(ctx, j.ID, store.TraceMark{}, first, []byte("one ")); err != nil || !ok {
			t.Fatalf("first chunk on the empty log: %v, %v; want stored", ok, err)
		}
		next := store.TraceMark{Size: 9, CRC: 12, State: nil}
		for name, stale := range map[string]store.TraceMark{
			"size":     {},
			"crc":      {Size: 5, CRC: 10, State: first.State},
			"state":    {Size: 5, CRC: 11, State: []byte("state-0")},
			"no state": {Size: 5, CRC: 11},
		} {
			if ok, err := st.AppendTrace(ctx, j.ID, stale, next, []byte("stale ")); err != nil || ok {
				t.Errorf("a chunk on a stale mark (%s): %v, %v; want refused", name, ok, err)
			}
		}
		if ok, err := st.AppendTrace(ctx, j.ID, first, next, []byte("two")); err != nil || !ok {
			t.Fatalf("a chunk on the stored mark: %v, %v; want stored", ok, err)
		}
		if ok, err := st.AppendTrace(ctx, j.ID, next, store.TraceMark{Size: 10}, []byte("!")); err != nil || !ok {
			t.Fatalf("a chunk on a mark without state: %v, %v; want stored", ok, err)
		}
		if got, err := st.Trace(ctx, j.ID); err != nil || string(got) != "one two!" {
			t.Errorf("stored log %q, %v; want %q", got, err, "one two!")
		}
		cur, err := st.Job(ctx, j.ID)
		if err != nil || cur.TraceSize != 10 || cur.TraceCRC != 0 || cur.TraceState != nil {
			t.Errorf("job's mark after the chunks: %d, %d, %q, %v; want 10, 0, none", cur.TraceSize, cur.TraceCRC, cur.TraceState, err)
		}
	})
}
