package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/store"
	"github.com/ciwarden/ciwarden/internal/testdb"
)

// forEachDialect runs fn once per database against a fresh, migrated store.
func forEachDialect(t *testing.T, fn func(t *testing.T, st *store.Store)) {
	t.Helper()
	for _, dialect := range testdb.Dialects {
		t.Run(dialect, func(t *testing.T) {
			st := openStore(t, testdb.URL(t, dialect))
			if got := st.Dialect(); got != dialect {
				t.Fatalf("Dialect() = %q, want %q", got, dialect)
			}
			fn(t, st)
		})
	}
}

func openStore(t *testing.T, url string) *store.Store {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, url)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	// Registered after testdb's own cleanup, so it runs first: the store
	// must let go of the database before PostgreSQL drops it.
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	testdb.GiveKey(t, st)
	return st
}

var ctx = context.Background()

func allPage() store.Page { return store.Page{Number: 1, PerPage: 100} }

func newUser(t *testing.T, st *store.Store, username string) *model.User {
	t.Helper()
	u := &model.User{Username: username, Name: "User " + username, Email: username + "@example.com"}
	if err := st.Tx(ctx, func(q *store.Queries) error { return q.CreateUser(ctx, u) }); err != nil {
		t.Fatalf("CreateUser(%s): %v", username, err)
	}
	return u
}

// newGroup creates a group under parent (nil: top level), computing the
// full path and name the way the projects service does.
func newGroup(t *testing.T, st *store.Store, parent *model.Namespace, path string, vis model.Visibility) *model.Namespace {
	t.Helper()
	return newGroupNamed(t, st, parent, path, strings.ToUpper(path[:1])+path[1:], vis)
}

func newGroupNamed(t *testing.T, st *store.Store, parent *model.Namespace, path, name string, vis model.Visibility) *model.Namespace {
	t.Helper()
	n := &model.Namespace{Kind: model.NamespaceGroup, Name: name, Path: path, FullPath: path, FullName: name, Visibility: vis}
	if parent != nil {
		n.ParentID = &parent.ID
		n.FullPath = parent.FullPath + "/" + path
		n.FullName = parent.FullName + " / " + name
	}
	if err := st.CreateNamespace(ctx, n); err != nil {
		t.Fatalf("CreateNamespace(%s): %v", n.FullPath, err)
	}
	return n
}

func newProject(t *testing.T, st *store.Store, nsID int64, path string, vis model.Visibility) *model.Project {
	t.Helper()
	p := &model.Project{Name: "Project " + path, Path: path, NamespaceID: nsID, Visibility: vis, DefaultBranch: "main"}
	if err := st.CreateProject(ctx, p); err != nil {
		t.Fatalf("CreateProject(%s): %v", path, err)
	}
	return p
}

// loadProject reloads p with its namespace, as ProjectAccessLevel needs.
func loadProject(t *testing.T, st *store.Store, id int64) *model.Project {
	t.Helper()
	p, err := st.Project(ctx, id)
	if err != nil {
		t.Fatalf("Project(%d): %v", id, err)
	}
	return p
}

func loadNamespace(t *testing.T, st *store.Store, id int64) *model.Namespace {
	t.Helper()
	n, err := st.Namespace(ctx, id)
	if err != nil {
		t.Fatalf("Namespace(%d): %v", id, err)
	}
	return n
}

func addMember(t *testing.T, st *store.Store, kind string, sourceID, userID int64, level model.AccessLevel, expires *time.Time) {
	t.Helper()
	m := &model.Member{SourceKind: kind, SourceID: sourceID, UserID: userID, AccessLevel: level, ExpiresAt: expires}
	if err := st.AddMember(ctx, m); err != nil {
		t.Fatalf("AddMember(%s %d, user %d): %v", kind, sourceID, userID, err)
	}
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: error = %v, want %v", what, err, target)
	}
}

func ptrTime(t time.Time) *time.Time { return &t }

// past and future are expiry instants safely either side of now.
func past() *time.Time   { return ptrTime(time.Now().Add(-time.Hour).UTC()) }
func future() *time.Time { return ptrTime(time.Now().Add(240 * time.Hour).UTC()) }

func sameStrings(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("%s = %q, want %q", what, got, want)
	}
}

func sortedStrings(s []string) []string {
	s = append([]string(nil), s...)
	sort.Strings(s)
	return s
}

// count runs a COUNT(*) through the raw handle; query must take no
// arguments, since placeholders differ between dialects.
func count(t *testing.T, st *store.Store, query string) int {
	t.Helper()
	var n int
	if err := st.DB().QueryRowContext(ctx, query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func TestMigrate(t *testing.T) {
	for _, dialect := range testdb.Dialects {
		t.Run(dialect, func(t *testing.T) {
			url := testdb.URL(t, dialect)
			st := openStore(t, url)
			u := newUser(t, st, "kept")
			for _, table := range []string{"users", "personal_access_tokens", "namespaces", "projects", "project_members", "group_members"} {
				count(t, st, "SELECT COUNT(*) FROM "+table)
			}
			applied := count(t, st, "SELECT COUNT(*) FROM goose_db_version WHERE version_id > 0")
			if applied < 1 {
				t.Fatalf("goose_db_version holds %d applied migrations, want at least 1", applied)
			}

			// Migrating again, on the same handle and on a new one, must
			// neither fail nor record or touch anything.
			if err := st.Migrate(ctx); err != nil {
				t.Fatalf("second Migrate: %v", err)
			}
			st2 := openStore(t, url)
			if got := count(t, st2, "SELECT COUNT(*) FROM goose_db_version WHERE version_id > 0"); got != applied {
				t.Fatalf("after re-migrating, %d applied migrations recorded, want %d", got, applied)
			}
			got, err := st2.UserByUsername(ctx, "kept")
			if err != nil {
				t.Fatalf("user after re-migrating: %v", err)
			}
			if got.ID != u.ID || got.NamespaceID != u.NamespaceID {
				t.Fatalf("user after re-migrating = %+v, want %+v", got, u)
			}
			if err := st2.Ping(ctx); err != nil {
				t.Fatalf("Ping: %v", err)
			}
		})
	}
}

// TestConcurrentFirstMigrate: replicas starting together on one empty
// PostgreSQL database all migrate it, once (issue 20 item 1: without the
// advisory lock, some failed on duplicate type names).
func TestConcurrentFirstMigrate(t *testing.T) {
	if !testdb.HavePostgres() {
		t.Skipf("skipping PostgreSQL: set %s", testdb.EnvPostgres)
	}
	for trial := range 3 {
		url := testdb.URL(t, "postgres")
		const n = 4
		errs := make(chan error, n)
		for range n {
			go func() {
				st, err := store.Open(ctx, url)
				if err != nil {
					errs <- err
					return
				}
				defer st.Close()
				errs <- st.Migrate(ctx)
			}()
		}
		for range n {
			if err := <-errs; err != nil {
				t.Fatalf("trial %d: concurrent Migrate: %v", trial, err)
			}
		}
		st := openStore(t, url)
		if got := count(t, st, "SELECT COUNT(DISTINCT version_id) FROM goose_db_version WHERE version_id > 0"); got != count(t, st, "SELECT COUNT(*) FROM goose_db_version WHERE version_id > 0") {
			t.Errorf("trial %d: a migration was recorded twice", trial)
		}
	}
}

func TestOpenRejectsBadURLs(t *testing.T) {
	for _, url := range []string{"", "mysql://localhost/db", "sqlite://", "sqlite:///no/such/dir/x.db"} {
		if st, err := store.Open(ctx, url); err == nil {
			st.Close()
			t.Errorf("Open(%q) succeeded, want an error", url)
		}
	}
}

// TestSQLitePathWithURICharacters: a data directory whose name holds
// characters that SQLite's URI file names treat specially ('#' starts a
// fragment, '%' an escape, '?' the parameters) opens the database at
// exactly that path, not a file with a truncated or decoded name.
func TestSQLitePathWithURICharacters(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ci#1 100%41?x")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "ciwarden.db")
	st, err := store.Open(ctx, store.SQLiteURL(path))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not at %s: %v", path, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(dir))
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("files beside the data directory: %q, want only it", names)
	}
}

func TestTxRollsBack(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		boom := errors.New("boom")
		err := st.Tx(ctx, func(q *store.Queries) error {
			if err := q.CreateUser(ctx, &model.User{Username: "ghost", Name: "Ghost", Email: "ghost@example.com"}); err != nil {
				return err
			}
			return boom
		})
		wantErr(t, "Tx", err, boom)
		if _, err := st.UserByUsername(ctx, "ghost"); !errors.Is(err, model.ErrNotFound) {
			t.Fatalf("user after rollback: err = %v, want ErrNotFound", err)
		}
		if _, err := st.NamespaceByPath(ctx, "ghost"); !errors.Is(err, model.ErrNotFound) {
			t.Fatalf("personal namespace after rollback: err = %v, want ErrNotFound", err)
		}
	})
}

func fullPaths(ns []*model.Namespace) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.FullPath
	}
	return out
}

func projectPaths(ps []*model.Project) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.FullPath()
	}
	return out
}

func itoa(id int64) string { return fmt.Sprint(id) }
