package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/ciwarden/ciwarden/internal/store"
)

type changeRecorder struct {
	mu     sync.Mutex
	events []string
}

func (r *changeRecorder) add(e string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}
func (r *changeRecorder) JobChanged(int64)      { r.add("job") }
func (r *changeRecorder) PipelineChanged(int64) { r.add("pipeline") }
func (r *changeRecorder) Reset()                { r.add("reset") }
func (r *changeRecorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events)
}

// Changes reach listeners after the write (outside a transaction), after
// commit (inside one) and never for a rolled-back transaction: a cache
// evicting before commit could be refilled with the old row.
func TestChangesPublishedAfterCommit(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		rec := &changeRecorder{}
		st.Listen(rec)
		u := newUser(t, st, "changer")

		if err := st.SetUserBlocked(ctx, u.ID, true); err != nil {
			t.Fatal(err)
		}
		if n := rec.count(); n != 1 {
			t.Fatalf("outside a transaction: %d changes heard, want 1", n)
		}

		err := st.Tx(ctx, func(q *store.Queries) error {
			if err := q.SetUserBlocked(ctx, u.ID, false); err != nil {
				return err
			}
			if n := rec.count(); n != 1 {
				t.Errorf("inside the transaction, before commit: %d changes heard, want still 1", n)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n := rec.count(); n != 2 {
			t.Errorf("after commit: %d changes heard, want 2", n)
		}

		boom := errors.New("boom")
		err = st.Tx(ctx, func(q *store.Queries) error {
			if err := q.SetUserBlocked(ctx, u.ID, true); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Tx: %v, want boom", err)
		}
		if n := rec.count(); n != 2 {
			t.Errorf("after rollback: %d changes heard, want still 2", n)
		}
	})
}
