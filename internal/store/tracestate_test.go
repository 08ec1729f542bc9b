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
			if _, err := st.AppendTrace(ctx, j.ID, 0, 9, 1, []byte("\x01\x00\x00\x00cwjob-Qx7"), []byte("log ")); err != nil {
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
