// Package testdb gives tests real databases: a fresh SQLite file always,
// and a fresh PostgreSQL database when CIWARDEN_TEST_POSTGRES_URL is set
// (created for the test and dropped after it). Without that variable the
// PostgreSQL case is skipped with a message saying so.
package testdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
)

// EnvPostgres names the variable holding an admin URL of a PostgreSQL
// server, such as postgres://postgres@127.0.0.1:5432/postgres.
const EnvPostgres = "CIWARDEN_TEST_POSTGRES_URL"

// Dialects are the databases every store-backed test runs against.
var Dialects = []string{"sqlite", "postgres"}

// URL returns a database URL of the given dialect for one test, fresh and
// empty, cleaned up when the test ends. For postgres without
// CIWARDEN_TEST_POSTGRES_URL it skips the test.
func URL(t testing.TB, dialect string) string {
	t.Helper()
	switch dialect {
	case "sqlite":
		return "sqlite://" + filepath.Join(TempDir(t), "ciwarden.db")
	case "postgres":
		return Postgres(t)
	}
	t.Fatalf("testdb: unknown dialect %q", dialect)
	return ""
}

// TempDir is a fresh directory removed when the test ends, like
// t.TempDir, but whose path never holds '#' or '?' (t.TempDir names it
// after the test, and a repeated subtest name gets "#01"): the store opens
// SQLite through a file: URI, where those characters end the path.
func TempDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ciwarden-test-")
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("testdb: remove %s: %v", dir, err)
		}
	})
	return dir
}

// ForEachDialect runs fn as a subtest per database: SQLite, and
// PostgreSQL with CIWARDEN_TEST_POSTGRES_URL (skipped, saying so,
// without). testserver.ForEachDialect calls it; the server package's own
// tests, which cannot import the harness, call it directly.
func ForEachDialect(t *testing.T, fn func(t *testing.T, dialect string)) {
	t.Helper()
	for _, d := range Dialects {
		t.Run(d, func(t *testing.T) {
			if d == "postgres" {
				RequirePostgres(t)
			}
			fn(t, d)
		})
	}
}

// RequirePostgres skips t, saying how to run it, without
// CIWARDEN_TEST_POSTGRES_URL.
func RequirePostgres(t testing.TB) {
	t.Helper()
	if lookupEnv() == "" {
		pgSkipped.Add(1)
		t.Skipf("skipping PostgreSQL: set %s (for example postgres://postgres@127.0.0.1:5432/postgres) to run against PostgreSQL", EnvPostgres)
	}
}

// Postgres creates a database on the server named by
// CIWARDEN_TEST_POSTGRES_URL and drops it when the test ends.
func Postgres(t testing.TB) string {
	t.Helper()
	RequirePostgres(t)
	admin := lookupEnv()
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("%s: %v", EnvPostgres, err)
	}
	var b [6]byte
	rand.Read(b[:])
	name := "ciwarden_test_" + hex.EncodeToString(b[:])
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatalf("open %s: %v", EnvPostgres, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		db.Close()
		t.Fatalf("create test database: %v", err)
	}
	pgCreated.Add(1)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("drop test database %s: %v", name, err)
		}
		db.Close()
	})
	u.Path = "/" + name
	return u.String()
}

// pgCreated and pgSkipped count this test binary's PostgreSQL databases
// and the tests that skipped for want of one, for Summary.
var pgCreated, pgSkipped atomic.Int64

// HavePostgres reports whether PostgreSQL tests will run.
func HavePostgres() bool { return lookupEnv() != "" }

func lookupEnv() string {
	return strings.TrimSpace(os.Getenv(EnvPostgres))
}

// Summary says which databases this test binary ran against, and why
// PostgreSQL did not when it did not: one phrase for a summary line.
func Summary() string {
	pg := "PostgreSQL: not used here"
	switch {
	case pgCreated.Load() > 0:
		pg = fmt.Sprintf("PostgreSQL: yes (%d databases)", pgCreated.Load())
	case pgSkipped.Load() > 0:
		pg = fmt.Sprintf("PostgreSQL: NO, %d tests skipped (%s is not set)", pgSkipped.Load(), EnvPostgres)
	}
	return "SQLite: yes; " + pg
}
