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
	"net/url"
	"os"
	"path/filepath"
	"strings"
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
		return "sqlite://" + filepath.Join(t.TempDir(), "ciwarden.db")
	case "postgres":
		return Postgres(t)
	}
	t.Fatalf("testdb: unknown dialect %q", dialect)
	return ""
}

// Postgres creates a database on the server named by
// CIWARDEN_TEST_POSTGRES_URL and drops it when the test ends.
func Postgres(t testing.TB) string {
	t.Helper()
	admin := lookupEnv()
	if admin == "" {
		t.Skipf("skipping PostgreSQL: set %s (for example postgres://postgres@127.0.0.1:5432/postgres) to run against PostgreSQL", EnvPostgres)
	}
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

// HavePostgres reports whether PostgreSQL tests will run.
func HavePostgres() bool { return lookupEnv() != "" }

func lookupEnv() string {
	return strings.TrimSpace(os.Getenv(EnvPostgres))
}
