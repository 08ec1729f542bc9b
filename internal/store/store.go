// Package store is ciwarden's one database layer: the same queries over
// SQLite (modernc.org/sqlite) and PostgreSQL (pgx), with embedded goose
// migrations. Dialect differences live in dialect.go and nowhere else.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing/fstest"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	"github.com/pressly/goose/v3"

	"github.com/ciwarden/ciwarden/internal/secretbox"
	_ "modernc.org/sqlite" // registers "sqlite"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Store is the database. Its query methods live on Queries, which Store
// embeds and which a transaction shares.
type Store struct {
	Queries
	db    *sql.DB
	stmts *stmtCache
	dsn   string // for connections of its own (PostgreSQL LISTEN)
}

// Queries runs statements against the database or inside one transaction.
type Queries struct {
	ex execer
	d  dialect
	// hub hears of changes; pending collects a transaction's until commit.
	hub     *changeHub
	pending *[]change
	// box seals and opens the run values kept sealed (seal.go).
	box *secretbox.Box
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Open connects to databaseURL: "postgres://..." (or "postgresql://...")
// selects PostgreSQL; "sqlite://PATH", "file:PATH" or a bare path selects
// SQLite. It checks the connection, so a wrong URL fails here with a clear
// error rather than at the first request.
func Open(ctx context.Context, databaseURL string) (*Store, error) {
	d, dsn, err := parseURL(databaseURL)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open(d.driver(), dsn)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	d.configure(db)
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to %s database: %s", d.name(), cleanErr(err, databaseURL))
	}
	stmts := newStmtCache(db)
	return &Store{Queries: Queries{ex: stmts, d: d, hub: new(changeHub)}, db: db, stmts: stmts, dsn: dsn}, nil
}

// cleanErr keeps a connection error from repeating the URL, which may
// carry a password.
func cleanErr(err error, databaseURL string) string {
	msg := err.Error()
	if u, perr := url.Parse(databaseURL); perr == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	// pgx joins its attempts with newlines; an operator reads one line.
	return strings.Join(strings.Fields(msg), " ")
}

func parseURL(raw string) (dialect, string, error) {
	switch {
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		if _, err := url.Parse(raw); err != nil {
			return nil, "", fmt.Errorf("malformed database URL: %v", redactURLError(err))
		}
		return postgresDialect{rebound: new(sync.Map)}, raw, nil
	case strings.HasPrefix(raw, "sqlite://"):
		return sqliteFile(strings.TrimPrefix(raw, "sqlite://"))
	case strings.HasPrefix(raw, "file:"):
		return sqliteFile(strings.TrimPrefix(raw, "file:"))
	case strings.Contains(raw, "://"):
		scheme, _, _ := strings.Cut(raw, "://")
		return nil, "", fmt.Errorf("unsupported database URL scheme %q: use postgres://... or sqlite://PATH", scheme)
	case raw == "":
		return nil, "", errors.New("empty database URL")
	default:
		return sqliteFile(raw)
	}
}

func redactURLError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return "cannot parse"
}

func sqliteFile(path string) (dialect, string, error) {
	path, _, _ = strings.Cut(path, "?")
	// The path part is URL-escaped where it must be (SQLiteURL writes
	// it so): %3F for a '?' that belongs to a directory name, %25 for '%'.
	if p, err := url.PathUnescape(path); err == nil {
		path = p
	}
	if path == "" {
		return nil, "", errors.New("sqlite database URL names no file")
	}
	if dir := filepath.Dir(path); dir != "" {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return nil, "", fmt.Errorf("sqlite database directory %s does not exist", dir)
		}
	}
	// WAL lets readers proceed during a write; foreign keys are off by
	// default in SQLite; busy_timeout makes writers queue instead of failing.
	dsn := "file:" + sqliteURIEscaper.Replace(path) + "?_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	return sqliteDialect{}, dsn, nil
}

// sqliteURIEscaper escapes what SQLite's URI file names give a meaning
// (https://www.sqlite.org/uri.html): '%' starts an escape, '?' the
// parameters and '#' a fragment, so a data directory named "ci#1" or
// "100%" would otherwise open another file.
var sqliteURIEscaper = strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")

// SQLiteURL is the database URL of the SQLite file at path, escaped so
// that Open reads the same path back.
func SQLiteURL(path string) string {
	return "sqlite://" + strings.NewReplacer("%", "%25", "?", "%3F").Replace(path)
}

// Dialect names the database in use ("sqlite" or "postgres").
func (s *Store) Dialect() string { return s.d.name() }

// DB exposes the handle for tests and health checks.
func (s *Store) DB() *sql.DB { return s.db }

// Close closes the database.
func (s *Store) Close() error {
	s.stmts.close()
	return s.db.Close()
}

// Ping checks the database answers; /-/readiness uses it.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	return s.db.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// Migrate applies every pending embedded migration.
func (s *Store) Migrate(ctx context.Context) error {
	p, err := s.migrations()
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// migrations is the dialect's migrations, run under its lock.
func (s *Store) migrations() (*goose.Provider, error) {
	fsys, err := s.d.migrations()
	if err != nil {
		return nil, err
	}
	var opts []goose.ProviderOption
	locker, err := s.d.migrationLocker()
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	if locker != nil {
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(s.d.goose(), s.db, fsys, opts...)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return p, nil
}

// Tx runs fn in one transaction, committing when it returns nil.
func (s *Store) Tx(ctx context.Context, fn func(q *Queries) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	var pending []change
	if err := fn(&Queries{ex: tx, d: s.d, hub: s.hub, pending: &pending, box: s.box}); err != nil {
		tx.Rollback()
		return err
	}
	err = tx.Commit()
	// Even a failed commit publishes: a listener forgetting a row it did
	// not need to costs a re-read, keeping a stale one is a live token.
	if len(pending) > 0 {
		s.hub.publish(pending)
	}
	return err
}

// rewriteMigrations applies a dialect's replacements to every embedded
// migration, so the schema is written once.
func rewriteMigrations(repl *strings.Replacer) (fs.FS, error) {
	out := fstest.MapFS{}
	err := fs.WalkDir(migrationFiles, "migrations", func(path string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		b, err := migrationFiles.ReadFile(path)
		if err != nil {
			return err
		}
		out[strings.TrimPrefix(path, "migrations/")] = &fstest.MapFile{Data: []byte(repl.Replace(string(b)))}
		return nil
	})
	return out, err
}

func (q *Queries) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return q.ex.ExecContext(ctx, q.d.rebind(query), args...)
}

func (q *Queries) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return q.ex.QueryContext(ctx, q.d.rebind(query), args...)
}

func (q *Queries) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return q.ex.QueryRowContext(ctx, q.d.rebind(query), args...)
}

// insert runs an INSERT ... RETURNING id.
func (q *Queries) insert(ctx context.Context, query string, args ...any) (int64, error) {
	var id int64
	err := q.queryRow(ctx, query+" RETURNING id", args...).Scan(&id)
	return id, q.d.mapErr(err)
}

// notFound turns sql.ErrNoRows into model.ErrNotFound with a subject.
func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, errNotFound)
	}
	return err
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func nullMicros(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMicro()
}

func fromNullMicros(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

// rowScanner is a row, or one table's part of a joined row.
type rowScanner = interface{ Scan(...any) error }

// scanFunc is a rowScanner made of a function.
type scanFunc func(dest ...any) error

func (f scanFunc) Scan(dest ...any) error { return f(dest...) }

// scanJoined scans one row of a join with each table's own scanner
// (scanJob, scanProject...), the row's columns being theirs in order: each
// scanner hands over its destinations and the row is scanned once all
// have, before any of them reads what it scanned.
func scanJoined(row rowScanner, scans ...func(rowScanner) error) error {
	var dest []any
	var next func(i int) error
	next = func(i int) error {
		if i == len(scans) {
			return row.Scan(dest...)
		}
		return scans[i](scanFunc(func(d ...any) error {
			dest = append(dest, d...)
			return next(i + 1)
		}))
	}
	return next(0)
}

// qualified writes a column list made for one table ("id, name,
// COALESCE(namespace_id, 0)") with each column taken from alias, for a
// join.
func qualified(alias, cols string) string {
	parts := strings.Split(cols, ", ")
	for i, c := range parts {
		switch {
		case strings.HasPrefix(c, "COALESCE("):
			parts[i] = "COALESCE(" + alias + "." + strings.TrimPrefix(c, "COALESCE(")
		case c != "" && strings.Trim(c, "abcdefghijklmnopqrstuvwxyz_") == "":
			parts[i] = alias + "." + c
		}
	}
	return strings.Join(parts, ", ")
}

// idArgs is ids as the arguments of an IN (placeholders(len(ids))) list.
func idArgs(ids []int64) []any {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return args
}

// placeholders returns "?, ?, ?" for n arguments.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}
