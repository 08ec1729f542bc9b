package runner

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestWriteZipRoundTrip(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{"out/a.txt": "alpha", "out/sub/b.bin": string(bytes.Repeat([]byte{7}, 100000))})
	if err := os.Chmod(filepath.Join(root, "out/sub/b.bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	mtime := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(root, "out/a.txt"), mtime, mtime); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a.txt", filepath.Join(root, "out/link")); err != nil {
		t.Fatal(err)
	}
	_, files := collect(t, root, []string{"out"}, nil, false)

	var buf bytes.Buffer
	if err := writeZip(&buf, root, files); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	byName := map[string]*zip.File{}
	for _, f := range zr.File {
		names = append(names, f.Name)
		byName[f.Name] = f
	}
	want := []string{"out/", "out/a.txt", "out/link", "out/sub/", "out/sub/b.bin"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("entries %q, want %q", names, want)
	}
	read := func(name string) string {
		rc, err := byName[name].Open()
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		b, _ := io.ReadAll(rc)
		return string(b)
	}
	if got := read("out/a.txt"); got != "alpha" {
		t.Fatalf("a.txt = %q", got)
	}
	if got := byName["out/a.txt"].Modified.UTC(); !got.Equal(mtime) {
		t.Fatalf("mtime %v, want %v", got, mtime)
	}
	if m := byName["out/a.txt"].Mode(); m != 0o644 {
		t.Fatalf("a.txt mode %v", m)
	}
	if m := byName["out/sub/b.bin"].Mode(); m != 0o755 {
		t.Fatalf("b.bin mode %v", m)
	}
	if byName["out/sub/b.bin"].Method != zip.Deflate || byName["out/sub/b.bin"].CompressedSize64 >= 100000 {
		t.Fatalf("b.bin not deflated: method %d, %d bytes", byName["out/sub/b.bin"].Method, byName["out/sub/b.bin"].CompressedSize64)
	}
	if !byName["out/"].Mode().IsDir() {
		t.Fatalf("out/ mode %v", byName["out/"].Mode())
	}
	if m := byName["out/link"].Mode(); m&fs.ModeSymlink == 0 || read("out/link") != "a.txt" {
		t.Fatalf("link mode %v target %q", m, read("out/link"))
	}

	// Extracting it elsewhere gives back the same tree.
	dest := t.TempDir()
	f := tempArchive(t, buf.Bytes())
	if err := extractArchive(f, int64(buf.Len()), dest, 0); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dest, "out/sub/b.bin")); len(b) != 100000 {
		t.Fatalf("b.bin: %d bytes", len(b))
	}
	if info, _ := os.Stat(filepath.Join(dest, "out/sub/b.bin")); info.Mode().Perm() != 0o755 {
		t.Fatalf("b.bin mode after extraction %v", info.Mode())
	}
	if info, _ := os.Stat(filepath.Join(dest, "out/a.txt")); !info.ModTime().Equal(mtime) {
		t.Fatalf("a.txt mtime after extraction %v", info.ModTime())
	}
	if target, err := os.Readlink(filepath.Join(dest, "out/link")); err != nil || target != "a.txt" {
		t.Fatalf("link: %q %v", target, err)
	}
}

func TestWriteGzipAndRaw(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{"reports/a.xml": "<a/>", "reports/b.xml": "<b/>"})
	_, files := collect(t, root, []string{"reports/*.xml"}, nil, false)

	var buf bytes.Buffer
	if err := writeGzip(&buf, root, files); err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		zr.Multistream(false)
		b, _ := io.ReadAll(zr)
		got = append(got, zr.Name+"="+string(b))
		if err := zr.Reset(&buf); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if want := []string{"a.xml=<a/>", "b.xml=<b/>"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("members %q, want %q", got, want)
	}

	buf.Reset()
	if err := writeRaw(&buf, root, files); !errors.Is(err, errRawFileCount) {
		t.Fatalf("raw of two files: %v", err)
	}
	buf.Reset()
	if err := writeRaw(&buf, root, files[:1]); err != nil || buf.String() != "<a/>" {
		t.Fatalf("raw: %q %v", buf.String(), err)
	}
}

func TestArtifactFileName(t *testing.T) {
	cases := []struct{ name, format, want string }{
		{"", "zip", "artifacts.zip"},
		{"build-output", "zip", "build-output.zip"},
		{"junit.xml", "gzip", "junit.xml.gz"},
		{"dir/evil/../name", "zip", "name.zip"},
		{"report.json", "raw", "report.json"},
	}
	for _, c := range cases {
		if got := artifactFileName(c.name, c.format); got != c.want {
			t.Errorf("artifactFileName(%q, %q) = %q, want %q", c.name, c.format, got, c.want)
		}
	}
}
