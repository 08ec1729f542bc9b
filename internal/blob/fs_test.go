package blob

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/model"
)

func newTestFS(t *testing.T) *FS {
	t.Helper()
	s, err := NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func fsTemporaries(t *testing.T, s Store) int {
	t.Helper()
	entries, err := fs.ReadDir(s.(*FS).root.FS(), tmpDir)
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

var fsBackend = backend{
	open:        func(t *testing.T, _ int64) Store { return newTestFS(t) },
	temporaries: fsTemporaries,
}

func TestFS(t *testing.T) { runConformance(t, fsBackend) }

func TestFSCleanTemp(t *testing.T) {
	s := newTestFS(t)
	mustPut(t, s, "keep/me", []byte("object"))
	dir := s.root.Name()
	old := time.Now().Add(-time.Hour)
	for _, name := range []string{"AAAA", "BBBB"} {
		p := filepath.Join(dir, tmpDir, name)
		if err := os.WriteFile(p, []byte("half an upload"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, tmpDir, "fresh"), []byte("in flight"), 0o600); err != nil {
		t.Fatal(err)
	}
	if n, err := s.CleanTemp(t.Context(), time.Now().Add(-time.Minute)); err != nil || n != 2 {
		t.Fatalf("CleanTemp(a minute ago) = %d, %v; want 2", n, err)
	}
	if n := fsTemporaries(t, s); n != 1 {
		t.Fatalf("%d temporaries left, want the fresh one", n)
	}
	if n, err := s.CleanTemp(t.Context(), time.Now().Add(time.Second)); err != nil || n != 1 {
		t.Fatalf("CleanTemp(now) = %d, %v; want 1", n, err)
	}
	if got := readAll(t, s, "keep/me"); string(got) != "object" {
		t.Fatalf("CleanTemp touched an object: %q", got)
	}
}

// TestFSCleanTempOwners: servers sharing a directory (replicas on one
// data directory) remove only their own temporaries at start, and those
// of no owner (written before owners were named), never another's upload
// in progress.
func TestFSCleanTempOwners(t *testing.T) {
	a := newTestFS(t)
	a.SetOwner("replica-a")
	dir := a.root.Name()
	b, err := NewFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	b.SetOwner("replica-b")
	for _, name := range []string{"replica-a~AAAA", "replica-b~BBBB", "CCCC", "replica-a.x~DDDD"} {
		if err := os.WriteFile(filepath.Join(dir, tmpDir, name), []byte("half an upload"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := a.CleanTemp(t.Context(), time.Now().Add(time.Second)); err != nil || n != 2 {
		t.Fatalf("CleanTemp of replica-a = %d, %v; want 2 (its own and the unowned one)", n, err)
	}
	var left []string
	entries, _ := os.ReadDir(filepath.Join(dir, tmpDir))
	for _, e := range entries {
		left = append(left, e.Name())
	}
	if want := []string{"replica-a.x~DDDD", "replica-b~BBBB"}; !slices.Equal(left, want) {
		t.Fatalf("left %q, want %q", left, want)
	}
	// A Put's temporary carries its owner's name.
	mustPut(t, b, "k", []byte("v"))
	if n, err := b.CleanTemp(t.Context(), time.Now().Add(time.Second)); err != nil || n != 1 {
		t.Fatalf("CleanTemp of replica-b = %d, %v; want 1", n, err)
	}
}

func TestFSKeyClashes(t *testing.T) {
	s := newTestFS(t)
	mustPut(t, s, "a/b", []byte("file"))
	if _, err := s.Put(t.Context(), "a/b/c", bytes.NewReader([]byte("x")), 1); !errors.Is(err, ErrConflict) || !errors.Is(err, model.ErrConflict) {
		t.Fatalf("Put under a file = %v, want ErrConflict", err)
	}
	mustPut(t, s, "x/y/z", []byte("deep"))
	if _, err := s.Put(t.Context(), "x/y", bytes.NewReader([]byte("x")), 1); !errors.Is(err, ErrConflict) {
		t.Fatalf("Put onto a directory = %v, want ErrConflict", err)
	}
	for _, k := range []string{"x/y", "x", "a/b/c"} {
		if _, err := s.Stat(t.Context(), k); !errors.Is(err, ErrNotFound) {
			t.Errorf("Stat(%s) = %v, want ErrNotFound", k, err)
		}
		if _, err := s.Open(t.Context(), k); !errors.Is(err, ErrNotFound) {
			t.Errorf("Open(%s) = %v, want ErrNotFound", k, err)
		}
		if err := s.Delete(t.Context(), k); err != nil {
			t.Errorf("Delete(%s) = %v, want nil", k, err)
		}
	}
	if got := listKeys(t, s, ""); !slices.Equal(got, []string{"a/b", "x/y/z"}) {
		t.Fatalf("List = %v", got)
	}
	if n := fsTemporaries(t, s); n != 0 {
		t.Fatalf("%d temporaries left", n)
	}
}

func TestFSDeletePrunesEmptyDirectories(t *testing.T) {
	s := newTestFS(t)
	mustPut(t, s, "p/q/r/1", []byte("1"))
	mustPut(t, s, "p/q/2", []byte("2"))
	dir := s.root.Name()
	if err := s.Delete(t.Context(), "p/q/r/1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "p/q/r")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("p/q/r still there: %v", err)
	}
	if err := s.Delete(t.Context(), "p/q/2"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "p")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("p still there: %v", err)
	}
	for _, keep := range []string{dir, filepath.Join(dir, tmpDir)} {
		if _, err := os.Stat(keep); err != nil {
			t.Fatalf("%s removed: %v", keep, err)
		}
	}
	// The pruned directories come back for the next Put.
	mustPut(t, s, "p/q/r/1", []byte("again"))
}

// A symbolic link planted under the root must not lead a key outside it.
func TestFSSymlinkCannotEscapeRoot(t *testing.T) {
	s := newTestFS(t)
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("outside"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(s.root.Name(), "evil")); err != nil {
		t.Fatal(err)
	}
	if o, err := s.Open(t.Context(), "evil/secret"); err == nil {
		o.Close()
		t.Fatal("Open followed a symlink out of the root")
	}
	if _, err := s.Put(t.Context(), "evil/planted", bytes.NewReader([]byte("x")), 1); err == nil {
		t.Fatal("Put followed a symlink out of the root")
	}
	if _, err := os.Stat(filepath.Join(outside, "planted")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a file appeared outside the root: %v", err)
	}
	if got := listKeys(t, s, ""); len(got) != 0 {
		t.Fatalf("List follows the symlink: %v", got)
	}
}

func TestFSLayoutAndModes(t *testing.T) {
	s := newTestFS(t)
	mustPut(t, s, "m/file", []byte("x"))
	dir := s.root.Name()
	st, err := os.Stat(filepath.Join(dir, "m", "file"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm()&0o007 != 0 {
		t.Fatalf("object mode %v is world-accessible", st.Mode())
	}
	// Files that are not valid keys (dropped there by hand) are not listed.
	for _, name := range []string{".hidden", "bad name"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if got := listKeys(t, s, ""); !slices.Equal(got, []string{"m/file"}) {
		t.Fatalf("List = %v", got)
	}
}

// failingWriter accepts n writes and then fails, as a full disk does.
type failingWriter struct{ n int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.n == 0 {
		return 0, errors.New("no space left on device")
	}
	w.n--
	return len(p), nil
}

// A write error stops the copy soon, instead of after reading the whole
// upload for nothing.
func TestCopyPipelinedStopsOnWriteError(t *testing.T) {
	r := &repeatReader{block: randomBytes(KiB, 1), n: 1 << 40}
	err := copyPipelined(t.Context(), &failingWriter{n: 3}, r)
	if !errors.Is(err, errWrite) {
		t.Fatalf("err = %v, want a write error", err)
	}
	if limit := int64((3 + 2*copyBuffers + 1) * copyBufSize); r.off > limit {
		t.Fatalf("read %d bytes after the write failed, want at most %d", r.off, limit)
	}
}
