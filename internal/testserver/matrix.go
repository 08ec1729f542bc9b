package testserver

import (
	"testing"

	"github.com/ciwarden/ciwarden/internal/testblob"
	"github.com/ciwarden/ciwarden/internal/testdb"
)

// ForEachDialect runs fn as a subtest per database: SQLite, and
// PostgreSQL with CIWARDEN_TEST_POSTGRES_URL (skipped, saying so,
// without).
func ForEachDialect(t *testing.T, fn func(t *testing.T, dialect string)) {
	t.Helper()
	testdb.ForEachDialect(t, fn)
}

// ForEachStorage runs fn on a server of each database with each blob
// store: the filesystem, and S3 (a versitygw started for the test;
// skipped when versitygw is not installed). o is the rest of the options.
func ForEachStorage(t *testing.T, o Options, fn func(t *testing.T, s *Server)) {
	t.Helper()
	ForEachDialect(t, func(t *testing.T, dialect string) {
		for _, storage := range []string{"fs", "s3"} {
			t.Run(storage, func(t *testing.T) {
				o := o
				o.Dialect = dialect
				if storage == "s3" {
					o.S3 = testblob.Start(t)
				}
				fn(t, New(t, o))
			})
		}
	})
}
