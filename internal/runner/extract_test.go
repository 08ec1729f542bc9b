package runner

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

type zent struct {
	name, body string
	mode       fs.FileMode
}

// zipOf builds a zip by hand, so entries can be as hostile as needed.
func zipOf(t *testing.T, entries ...zent) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		h.SetMode(mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func tempArchive(t *testing.T, data []byte) *os.File {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "archive")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// listTree lists every path under dir, for "nothing written" checks.
func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && p != dir {
			r, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(r))
		}
		return nil
	})
	sort.Strings(out)
	return out
}

func TestExtractRefusesEscapes(t *testing.T) {
	cases := []struct {
		name    string
		entries []zent
		msg     string
	}{
		{"zip slip", []zent{{name: "../escaped.txt", body: "x"}}, "contains '..'"},
		{"zip slip deep", []zent{{name: "a/../../escaped.txt", body: "x"}}, "contains '..'"},
		{"backslash slip", []zent{{name: `..\escaped.txt`, body: "x"}}, "contains '..'"},
		{"absolute", []zent{{name: "/tmp/escaped.txt", body: "x"}}, "absolute path"},
		{"drive letter", []zent{{name: "C:/escaped.txt", body: "x"}}, "absolute path"},
		{"symlink to absolute", []zent{{name: "link", body: "/etc", mode: fs.ModeSymlink | 0o777}}, "outside the build directory"},
		{"symlink up", []zent{{name: "a/link", body: "../../secret", mode: fs.ModeSymlink | 0o777}}, "outside the build directory"},
		{"write through an escaping symlink", []zent{
			{name: "inner", body: ".", mode: fs.ModeSymlink | 0o777},
			{name: "inner/inner/inner/l", body: "../../x", mode: fs.ModeSymlink | 0o777},
		}, "outside the build directory"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			dest := filepath.Join(parent, "build")
			if err := os.Mkdir(dest, 0o755); err != nil {
				t.Fatal(err)
			}
			data := zipOf(t, tc.entries...)
			err := extractArchive(tempArchive(t, data), int64(len(data)), dest, 0)
			if !errors.Is(err, errUnsafeEntry) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want an unsafe entry error with %q", err, tc.msg)
			}
			for _, p := range listTree(t, parent) {
				if p != "build" && !strings.HasPrefix(p, "build/") {
					t.Fatalf("written outside the build directory: %s", p)
				}
			}
			for _, p := range listTree(t, dest) {
				if p != "inner" { // the harmless first entry of the last case
					t.Fatalf("written: %s", p)
				}
			}
		})
	}
}

// A symlink already in the checkout that leads out must not be written
// through, nor replaced by following it.
func TestExtractDoesNotFollowExistingSymlinks(t *testing.T) {
	parent := t.TempDir()
	dest := filepath.Join(parent, "build")
	outside := filepath.Join(parent, "outside")
	writeTree(t, parent, map[string]string{"build/": "", "outside/victim": "original"})
	if err := os.Symlink(outside, filepath.Join(dest, "dir")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "victim"), filepath.Join(dest, "file")); err != nil {
		t.Fatal(err)
	}

	data := zipOf(t, zent{name: "dir/new.txt", body: "x"})
	err := extractArchive(tempArchive(t, data), int64(len(data)), dest, 0)
	if !errors.Is(err, errUnsafeEntry) {
		t.Fatalf("write through dir symlink: %v", err)
	}
	if _, err := os.Stat(filepath.Join(outside, "new.txt")); err == nil {
		t.Fatal("written outside through a symlinked directory")
	}

	// An entry named like an existing symlink replaces the link itself.
	data = zipOf(t, zent{name: "file", body: "replaced"})
	if err := extractArchive(tempArchive(t, data), int64(len(data)), dest, 0); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(outside, "victim")); string(b) != "original" {
		t.Fatalf("victim = %q", b)
	}
	if info, _ := os.Lstat(filepath.Join(dest, "file")); !info.Mode().IsRegular() {
		t.Fatalf("file mode %v", info.Mode())
	}
}

func TestExtractInsideSymlinksAndOverwrite(t *testing.T) {
	dest := t.TempDir()
	writeTree(t, dest, map[string]string{"keep/old.txt": "old", "over.txt": "before"})
	data := zipOf(t,
		zent{name: "real/", mode: fs.ModeDir | 0o755},
		zent{name: "real/f.txt", body: "f"},
		zent{name: "alias", body: "real", mode: fs.ModeSymlink | 0o777},
		zent{name: "alias/g.txt", body: "g"}, // through an inside symlink: fine
		zent{name: "./over.txt", body: "after"},
	)
	if err := extractArchive(tempArchive(t, data), int64(len(data)), dest, 0); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{"real/g.txt": "g", "over.txt": "after", "keep/old.txt": "old"} {
		if b, _ := os.ReadFile(filepath.Join(dest, p)); string(b) != want {
			t.Errorf("%s = %q, want %q", p, b, want)
		}
	}
}

func TestExtractSizeLimit(t *testing.T) {
	dest := t.TempDir()
	// 10 MiB of zeros compresses to a few KiB: the bound is on what is
	// written, not on what the archive says or weighs.
	data := zipOf(t, zent{name: "small", body: "ok"}, zent{name: "bomb", body: strings.Repeat("\x00", 10<<20)})
	err := extractArchive(tempArchive(t, data), int64(len(data)), dest, 1<<20)
	if !errors.Is(err, errTooBig) {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dest, "bomb")); err == nil {
		t.Fatal("the oversized file was left behind")
	}
	if err := extractArchive(tempArchive(t, data), int64(len(data)), t.TempDir(), 11<<20); err != nil {
		t.Fatalf("within the limit: %v", err)
	}
}

func TestExtractSniffsGzip(t *testing.T) {
	var buf bytes.Buffer
	for _, m := range []struct{ name, body string }{{"junit.xml", "<testsuites/>"}, {"two.txt", "2"}} {
		zw := gzip.NewWriter(&buf)
		zw.Name = m.name
		zw.Write([]byte(m.body))
		zw.Close()
	}
	if got := sniffFormat(buf.Bytes()); got != formatGzip {
		t.Fatalf("sniffed %q", got)
	}
	dest := t.TempDir()
	if err := extractArchive(tempArchive(t, buf.Bytes()), int64(buf.Len()), dest, 0); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dest, "junit.xml")); string(b) != "<testsuites/>" {
		t.Fatalf("junit.xml = %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(dest, "two.txt")); string(b) != "2" {
		t.Fatalf("two.txt = %q", b)
	}

	// A gzip member naming a path outside is refused like a zip entry.
	buf.Reset()
	zw := gzip.NewWriter(&buf)
	zw.Name = "../evil"
	zw.Write([]byte("x"))
	zw.Close()
	if err := extractArchive(tempArchive(t, buf.Bytes()), int64(buf.Len()), dest, 0); !errors.Is(err, errUnsafeEntry) {
		t.Fatalf("err = %v", err)
	}

	if got := sniffFormat([]byte("PK\x03\x04")); got != formatZip {
		t.Fatalf("zip sniffed as %q", got)
	}
	if got := sniffFormat([]byte{0x28, 0xb5, 0x2f, 0xfd}); got != "tarzstd" {
		t.Fatalf("zstd sniffed as %q", got)
	}
	garbage := []byte("not an archive at all")
	if err := extractArchive(tempArchive(t, garbage), int64(len(garbage)), dest, 0); err == nil || !strings.Contains(err.Error(), "reading zip") {
		t.Fatalf("garbage: %v", err)
	}
}
