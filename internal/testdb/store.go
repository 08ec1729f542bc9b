package testdb

import (
	"context"
	"testing"

	"github.com/ciwarden/ciwarden/internal/secretbox"
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
	GiveKey(tb, st)
	if err := st.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	return st
}

// GiveKey gives st an instance key of the test's own: the store seals run
// values with it (store/seal.go).
func GiveKey(tb testing.TB, st *store.Store) {
	box, err := secretbox.New(secretbox.NewKey())
	if err != nil {
		tb.Fatal(err)
	}
	st.SetBox(box)
}
