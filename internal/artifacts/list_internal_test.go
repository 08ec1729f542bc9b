package artifacts

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ciwarden/ciwarden/internal/model"
)

// zipOf is an archive holding names, each with its name as content,
// written as they are: no upload check runs here, so names the upload
// refuses can be tried against the listing.
func zipOf(t *testing.T, names ...string) *zip.Reader {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, n := range names {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: n, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(n, "/") {
			w.Write([]byte(n))
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	return zr
}

func names(l *Listing) string {
	var out []string
	for _, e := range l.Entries {
		s := e.Path
		if e.Dir {
			s += "/"
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

// TestListDir: directories (also implied ones) before files, each sorted;
// zip-slip, control-character and over-long names never listed; a
// directory with nothing under it is not found.
func TestListDir(t *testing.T) {
	t.Parallel()
	zr := zipOf(t, "./", "b.txt", "a/", "a/x.txt", "c/d/e.txt", "../evil.txt", "/etc/passwd", "a/../../up.txt",
		"ctl\x01.txt", `a\win.txt`, "C:/drive.txt", strings.Repeat("n", maxNameLen+1), "a/./dot.txt")
	for _, c := range []struct{ dir, want string }{
		{"", "a/ c/ b.txt"},
		{"a", "a/x.txt"},
		{"c", "c/d/"},
		{"c/d", "c/d/e.txt"},
	} {
		l, err := listDir(zr, c.dir)
		if err != nil {
			t.Fatalf("listDir(%q): %v", c.dir, err)
		}
		if got := names(l); got != c.want || l.Truncated {
			t.Errorf("listDir(%q) = %q (truncated %v), want %q", c.dir, got, l.Truncated, c.want)
		}
	}
	for _, dir := range []string{"nope", "b.txt", "a/x.txt", ".."} {
		if _, err := listDir(zr, dir); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("listDir(%q): %v, want not found", dir, err)
		}
	}
	if l, _ := listDir(zipOf(t), ""); len(l.Entries) != 0 {
		t.Errorf("an empty archive lists %q", names(l))
	}
}

// TestListDirBounded: a directory with more children than a page shows
// is cut there, and says so.
func TestListDirBounded(t *testing.T) {
	t.Parallel()
	var many []string
	for i := range maxListShown + 5 {
		many = append(many, fmt.Sprintf("f/%05d", i))
	}
	l, err := listDir(zipOf(t, many...), "f")
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Entries) != maxListShown || !l.Truncated || l.Entries[0].Path != "f/00000" {
		t.Errorf("listing of %d files: %d entries, truncated %v", len(many), len(l.Entries), l.Truncated)
	}
}
