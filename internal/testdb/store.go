package testdb

import (
	"context"
	"testing"

	"github.com/ciwarden/ciwarden/internal/store"
)

// Store opens a fresh, migrated database of dialect for one test, closed
// when the test ends.
func Store(tb testing.TB, dialect string) *store.Store {
	tb.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, URL(tb, dialect))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	return st
}
