package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	sqlitedrv "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

var errNotFound = model.ErrNotFound

// dialect is everything that differs between SQLite and PostgreSQL.
type dialect interface {
	name() string
	driver() string
	goose() goose.Dialect
	configure(db *sql.DB)
	migrations() (fs.FS, error)
	// rebind turns the "?" placeholders our queries are written with
	// into the dialect's own.
	rebind(query string) string
	// mapErr turns constraint violations into model errors.
	mapErr(err error) error
	// lockRow takes a write lock on one row for the rest of the
	// transaction.
	lockRow(ctx context.Context, q *Queries, table string, id int64) error
	// migrationLocker serializes migrations across processes, or is nil
	// where one process owns the database.
	migrationLocker() (lock.SessionLocker, error)
	// lazyCommit lets the transaction's commit return before its write
	// reaches the disk, for writes that a crash may lose because the
	// protocol finds and repairs the loss.
	lazyCommit(ctx context.Context, q *Queries) error
}

type sqliteDialect struct{}

func (sqliteDialect) name() string         { return "sqlite" }
func (sqliteDialect) driver() string       { return "sqlite" }
func (sqliteDialect) goose() goose.Dialect { return goose.DialectSQLite3 }
func (sqliteDialect) configure(db *sql.DB) {
	// One writer at a time is SQLite's model; a small pool keeps readers
	// concurrent under WAL while busy_timeout queues writers.
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
}
func (sqliteDialect) migrations() (fs.FS, error) {
	return rewriteMigrations(strings.NewReplacer("{{ID}}", "INTEGER PRIMARY KEY AUTOINCREMENT", "{{BLOB}}", "BLOB"))
}
func (sqliteDialect) rebind(q string) string { return q }

// A SQLite database belongs to one process (store.Shared is false).
func (sqliteDialect) migrationLocker() (lock.SessionLocker, error) { return nil, nil }
func (sqliteDialect) mapErr(err error) error {
	var se *sqlitedrv.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %s", model.ErrConflict, se.Error())
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("%w: %s", model.ErrNotFound, se.Error())
		}
	}
	return err
}

// SQLite in WAL mode with synchronous=NORMAL (the DSN) syncs the WAL at
// checkpoints, not at every commit: every commit is lazy already.
func (sqliteDialect) lazyCommit(context.Context, *Queries) error { return nil }

// PostgreSQL waits at every commit until the WAL is flushed to disk; with
// a hundred jobs sending log chunks the commits queued on that flush
// (wait events WALWrite and WALSync, issue 20 item 7). Off for one
// transaction, its commit returns at once and the WAL writer flushes it
// within a fraction of a second: a crash of the database or its host in
// between loses the transaction whole (never half of it, never anything
// else's), which is what SQLite's synchronous=NORMAL risks on a power cut.
func (postgresDialect) lazyCommit(ctx context.Context, q *Queries) error {
	_, err := q.exec(ctx, "SET LOCAL synchronous_commit = off")
	return err
}

// SQLite transactions begin IMMEDIATE (see the DSN), so the transaction
// already holds the database's write lock.
func (sqliteDialect) lockRow(context.Context, *Queries, string, int64) error { return nil }

func (postgresDialect) lockRow(ctx context.Context, q *Queries, table string, id int64) error {
	var got int64
	err := q.queryRow(ctx, "SELECT id FROM "+table+" WHERE id = ? FOR UPDATE", id).Scan(&got)
	return notFound(err, table)
}

// postgresDialect caches each query's rebound text; the set of query
// texts is fixed by the code, so the cache stays small.
type postgresDialect struct{ rebound *sync.Map }

func (postgresDialect) name() string         { return "postgres" }
func (postgresDialect) driver() string       { return "pgx" }
func (postgresDialect) goose() goose.Dialect { return goose.DialectPostgres }

// migrationLocker is a session advisory lock: replicas starting together
// on one database (a first install, or an upgrade that adds migrations)
// take turns, the later ones finding the work done. Polled every second
// for up to five minutes.
func (postgresDialect) migrationLocker() (lock.SessionLocker, error) {
	return lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
}
func (postgresDialect) configure(db *sql.DB) {
	db.SetMaxOpenConns(32)
	// As many idle as open: with fewer, a busy replica closed a connection
	// whenever more than the idle bound were returned at once and opened
	// another on the next burst (a backend started, every statement
	// prepared again: five new sessions a second with 100 running jobs,
	// issue 20 item 7). Connections idle for a while still close, so
	// a quiet replica gives its share of max_connections back.
	db.SetMaxIdleConns(32)
	db.SetConnMaxIdleTime(5 * time.Minute)
}
func (postgresDialect) migrations() (fs.FS, error) {
	return rewriteMigrations(strings.NewReplacer("{{ID}}", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", "{{BLOB}}", "BYTEA"))
}

func (p postgresDialect) rebind(q string) string {
	if v, ok := p.rebound.Load(q); ok {
		return v.(string)
	}
	var b strings.Builder
	n := 0
	inQuote := false
	for i := 0; i < len(q); i++ {
		c := q[i]
		if c == '\'' {
			inQuote = !inQuote
		}
		if c == '?' && !inQuote {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	out := b.String()
	p.rebound.Store(q, out)
	return out
}

func (postgresDialect) mapErr(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505":
			return fmt.Errorf("%w: %s", model.ErrConflict, pe.ConstraintName)
		case "23503":
			return fmt.Errorf("%w: %s", model.ErrNotFound, pe.ConstraintName)
		}
	}
	return err
}
