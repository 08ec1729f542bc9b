package server

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/testdb"
)

// TestCreateMarkerAtOnce: replicas creating the marker of a shared
// directory at the same moment all read one ID, and leave no temporary.
func TestCreateMarkerAtOnce(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, storageMarker)
	ids := make([]string, 16)
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i := range ids {
		wg.Add(1)
		go func() { defer wg.Done(); ids[i], errs[i] = createMarker(path) }()
	}
	wg.Wait()
	for i := range ids {
		if errs[i] != nil || ids[i] != ids[0] || len(ids[0]) != 32 {
			t.Fatalf("createMarker %d: %q, %v; the first said %q", i, ids[i], errs[i], ids[0])
		}
	}
	if got, err := readMarker(path); err != nil || got != ids[0] {
		t.Fatalf("readMarker = %q, %v; want %q", got, err, ids[0])
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("%d entries in the directory, want the marker alone", len(entries))
	}
}

// TestVerifyStorage: the first start records its directory's identity;
// the same directory passes again; another directory, empty or with
// another marker, is refused with what to set; an install from before
// identities adopts its directory's marker, or the directory it holds
// data in, but not an empty directory while the database has data.
func TestVerifyStorage(t *testing.T) {
	testdb.ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		st := testdb.Store(t, dialect)
		holds := false
		dirOf := func(dir string) sharedDir {
			return sharedDir{key: "repositories", dir: dir, what: "repositories directory", data: "repositories", fix: "set --repositories-dir",
				expected: func(context.Context) (bool, error) { return holds, nil },
				present: func(dir string) bool {
					return holdsEntry(dir, func(n string) bool { return strings.HasSuffix(n, ".git") })
				}}
		}
		now := time.Now()
		first := filepath.Join(t.TempDir(), "repos") // created by the check
		if err := verifyStorage(ctx, st, dirOf(first), now); err != nil {
			t.Fatalf("first start: %v", err)
		}
		marker, err := readMarker(filepath.Join(first, storageMarker))
		if err != nil || marker == "" {
			t.Fatalf("marker after the first start: %q, %v", marker, err)
		}
		if got, err := st.StorageID(ctx, "repositories"); err != nil || got != marker {
			t.Fatalf("recorded id %q, %v; want the marker's %q", got, err, marker)
		}
		if err := verifyStorage(ctx, st, dirOf(first), now); err != nil {
			t.Fatalf("second start: %v", err)
		}

		empty := t.TempDir()
		err = verifyStorage(ctx, st, dirOf(empty), now)
		want := "repositories directory " + empty + " holds no repositories of this instance (it has no storage id, its database expects " + marker + "): on several hosts, set --repositories-dir"
		if err == nil || err.Error() != want {
			t.Fatalf("an empty directory: %v\nwant %s", err, want)
		}
		if _, err := os.Stat(filepath.Join(empty, storageMarker)); !os.IsNotExist(err) {
			t.Errorf("a refused directory got a marker: %v", err)
		}
		other := t.TempDir()
		otherID, _ := createMarker(filepath.Join(other, storageMarker))
		if err := verifyStorage(ctx, st, dirOf(other), now); err == nil || !strings.Contains(err.Error(), "(its storage id is "+otherID+", its database expects "+marker+")") {
			t.Fatalf("a directory of other storage: %v", err)
		}

		// An install from before identities: the database records none.
		forget := func() {
			t.Helper()
			if _, err := st.DB().ExecContext(ctx, "DELETE FROM storage_ids"); err != nil {
				t.Fatal(err)
			}
		}
		forget()
		if err := verifyStorage(ctx, st, dirOf(first), now); err != nil {
			t.Fatalf("adopting the marker: %v", err)
		}
		if got, _ := st.StorageID(ctx, "repositories"); got != marker {
			t.Fatalf("adopted %q, want %q", got, marker)
		}
		forget()
		holds = true
		bare := t.TempDir()
		if err := verifyStorage(ctx, st, dirOf(bare), now); err == nil || !strings.Contains(err.Error(), "holds no repositories of this instance (its database has some)") {
			t.Fatalf("an empty directory while the database has projects: %v", err)
		}
		if got, _ := st.StorageID(ctx, "repositories"); got != "" {
			t.Fatalf("the refused directory was recorded: %q", got)
		}
		if err := os.Mkdir(filepath.Join(bare, "1.git"), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := verifyStorage(ctx, st, dirOf(bare), now); err != nil {
			t.Fatalf("a directory with the repositories and no marker yet: %v", err)
		}
		if got, _ := readMarker(filepath.Join(bare, storageMarker)); got == "" || got == marker {
			t.Fatalf("marker %q after adoption", got)
		}
	})
}

// TestBuiltinRunnerPerReplica: a replica's built-in runner is registered
// once and found again by the replica's name; another replica gets its
// own; the token is kept sealed, never in clear; the runner of an old
// data directory's token file becomes the first replica's and the file
// goes.
func TestBuiltinRunnerPerReplica(t *testing.T) {
	testdb.ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		dataDir, dbURL := testdb.TempDir(t), testdb.URL(t, dialect)
		start := func(name, key string) *Server {
			t.Helper()
			s, err := New(ctx, Config{DataDir: dataDir, DatabaseURL: dbURL, ReplicaName: name, InstanceKey: key}, nil, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.store.Close() })
			return s
		}
		a := start("a", "")
		legacyTok, legacyID := legacyRunner(t, a)
		tok, r, err := a.builtinRunner(ctx, true)
		if err != nil || r == nil || r.ID != legacyID || tok != legacyTok {
			t.Fatalf("replica a: runner %v, %v; want the token file's, %d", r, err, legacyID)
		}
		if _, err := os.Stat(filepath.Join(dataDir, legacyBuiltinTokenFile)); !os.IsNotExist(err) {
			t.Errorf("the token file is still there: %v", err)
		}
		var sealed []byte
		if err := a.store.DB().QueryRowContext(ctx, "SELECT token_sealed FROM builtin_runners WHERE replica_name = 'a'").Scan(&sealed); err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(sealed, []byte(tok)) || bytes.Contains(sealed, []byte(tok[len(auth.RunnerTokenPrefix):])) {
			t.Fatalf("the built-in runner's token is stored in clear")
		}

		b := start("b", "")
		if _, r, err := b.builtinRunner(ctx, false); r != nil || err != nil {
			t.Fatalf("replica b before registering: %v, %v; want none", r, err)
		}
		tokB, rb, err := b.builtinRunner(ctx, true)
		if err != nil || rb.ID == legacyID || tokB == tok || rb.Description != "built-in runner (b)" {
			t.Fatalf("replica b: runner %+v, %v; want one of its own", rb, err)
		}
		for _, s := range []*Server{a, b, start("a", ""), start("b", "")} {
			tokAgain, again, err := s.builtinRunner(ctx, true)
			want := map[string]int64{"a": legacyID, "b": rb.ID}[s.cfg.ReplicaName]
			if err != nil || again.ID != want || (s.cfg.ReplicaName == "b" && tokAgain != tokB) {
				t.Fatalf("replica %s again: %v, %v; want runner %d", s.cfg.ReplicaName, again, err, want)
			}
		}
		var n int
		if err := a.store.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM runners").Scan(&n); err != nil || n != 2 {
			t.Fatalf("%d runners, %v; want 2", n, err)
		}
		// A replica with another instance key cannot use the token: it
		// says so rather than register another runner.
		other := start("b", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
		if _, _, err := other.builtinRunner(ctx, true); err == nil || !strings.Contains(err.Error(), "CIWARDEN_INSTANCE_KEY") {
			t.Fatalf("another instance key: %v", err)
		}
	})
}

// legacyRunner writes an old data directory's token file for a runner
// created in st, and returns its token and ID.
func legacyRunner(t *testing.T, s *Server) (string, int64) {
	t.Helper()
	tok := auth.NewSecret(auth.RunnerTokenPrefix)
	r := &model.Runner{Type: model.InstanceRunner, Description: "built-in runner", RunUntagged: true}
	if err := s.store.CreateRunner(context.Background(), r, auth.Digest(tok)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.cfg.DataDir, legacyBuiltinTokenFile), []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return tok, r.ID
}
