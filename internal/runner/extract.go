package runner

import (
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// errUnsafeEntry: an archive entry that would write outside the build
// directory. The whole extraction stops at the first one.
var errUnsafeEntry = errors.New("unsafe archive entry")

// errTooBig: the archive expands to more than the runner accepts.
var errTooBig = errors.New("archive expands beyond the limit")

var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// sniffFormat tells the format from the first bytes, as gitlab-runner's
// downloader does: gzip magic means gzip, zstd magic tar.zst, anything
// else is read as zip.
func sniffFormat(head []byte) string {
	switch {
	case bytes.HasPrefix(head, gzipMagic):
		return formatGzip
	case bytes.HasPrefix(head, zstdMagic):
		return "tarzstd"
	}
	return formatZip
}

// extractor writes archive entries under root and nowhere else: entry
// names are checked lexically (no absolute paths, no `..`), symlinks may
// only point inside, and every directory on the way is resolved on disk
// (a symlink already in the checkout must not lead out either).
type extractor struct {
	realRoot string
	limit    int64 // most bytes written in all; <= 0: no limit
	written  int64
}

// extractArchive extracts the archive in f (size bytes) into root.
func extractArchive(f *os.File, size int64, root string, limit int64) error {
	real, err := filepath.EvalSymlinks(root)
	if err != nil {
		return err
	}
	e := &extractor{realRoot: real, limit: limit}
	head := make([]byte, 4)
	n, _ := f.ReadAt(head, 0)
	switch sniffFormat(head[:n]) {
	case formatGzip:
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		return e.gzip(f)
	case "tarzstd":
		return errors.New("tar.zst artifacts are not supported by this runner")
	}
	zr, err := zip.NewReader(f, size)
	if err != nil {
		return fmt.Errorf("reading zip: %w", err)
	}
	return e.zip(zr)
}

// safeName turns an entry name into a clean relative slash path, or
// refuses it. Backslashes count as separators: a zip made on Windows
// may use them, and `..\..\x` must not slip through.
func safeName(name string) (string, error) {
	n := strings.ReplaceAll(name, `\`, "/")
	if strings.ContainsRune(n, 0) || path.IsAbs(n) || (len(n) >= 2 && n[1] == ':') {
		return "", fmt.Errorf("%w: %q is an absolute path", errUnsafeEntry, name)
	}
	for _, seg := range strings.Split(n, "/") {
		if seg == ".." {
			return "", fmt.Errorf("%w: %q contains '..'", errUnsafeEntry, name)
		}
	}
	return path.Clean(n), nil
}

func (e *extractor) zip(zr *zip.Reader) error {
	for _, zf := range zr.File {
		rel, err := safeName(zf.Name)
		if err != nil {
			return err
		}
		if rel == "." {
			continue
		}
		mode := zf.Mode()
		switch {
		case mode.IsDir():
			dir, err := e.mkdirs(rel)
			if err != nil {
				return err
			}
			// Keep the directory writable for what comes after.
			if err := os.Chmod(dir, (mode.Perm()|0o700)&0o777); err != nil {
				return err
			}
		case mode&fs.ModeSymlink != 0:
			rc, err := zf.Open()
			if err != nil {
				return err
			}
			target, err := io.ReadAll(io.LimitReader(rc, 4096))
			rc.Close()
			if err != nil {
				return err
			}
			if err := e.symlink(rel, string(target)); err != nil {
				return err
			}
		case mode.IsRegular():
			rc, err := zf.Open()
			if err != nil {
				return err
			}
			err = e.file(rel, rc, mode.Perm(), zf.Modified)
			rc.Close()
			if err != nil {
				return err
			}
		default:
			// Devices, pipes and sockets have no place in artifacts.
		}
	}
	return nil
}

// gzip extracts each member as the file its header names.
func (e *extractor) gzip(r io.Reader) error {
	br := bufio.NewReader(r)
	zr, err := gzip.NewReader(br)
	if err != nil {
		return fmt.Errorf("reading gzip: %w", err)
	}
	for {
		zr.Multistream(false)
		if zr.Name == "" {
			return errors.New("gzip artifact without a file name")
		}
		rel, err := safeName(zr.Name)
		if err != nil {
			return err
		}
		if err := e.file(rel, zr, 0o644, zr.ModTime); err != nil {
			return err
		}
		if err := zr.Reset(br); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("reading gzip: %w", err)
		}
	}
}

// mkdirs creates the directories of rel one at a time under the root,
// resolving each on disk, and returns the real path of the last one.
func (e *extractor) mkdirs(rel string) (string, error) {
	cur := e.realRoot
	if rel == "." {
		return cur, nil
	}
	for _, seg := range strings.Split(rel, "/") {
		next := filepath.Join(cur, seg)
		info, err := os.Lstat(next)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if err := os.Mkdir(next, 0o755); err != nil {
				return "", err
			}
		case err != nil:
			return "", err
		case info.Mode()&fs.ModeSymlink != 0:
			real, err := filepath.EvalSymlinks(next)
			if err != nil {
				return "", fmt.Errorf("%w: %s: %v", errUnsafeEntry, rel, err)
			}
			if !within(e.realRoot, real) {
				return "", fmt.Errorf("%w: %s leads outside the build directory through a symlink", errUnsafeEntry, rel)
			}
			if st, err := os.Stat(real); err != nil || !st.IsDir() {
				return "", fmt.Errorf("%s: not a directory", path.Join(rel, seg))
			}
			next = real
		case !info.IsDir():
			return "", fmt.Errorf("%s: not a directory", rel)
		}
		cur = next
	}
	return cur, nil
}

// within reports whether p is dir or below it (both clean and absolute).
func within(dir, p string) bool {
	r, err := filepath.Rel(dir, p)
	return err == nil && r != ".." && !strings.HasPrefix(r, ".."+string(filepath.Separator))
}

// replaceable makes way for a new entry at p: an existing file or
// symlink is removed (never followed), a directory is an error.
func replaceable(p, rel string) error {
	info, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if info.IsDir() {
		return fmt.Errorf("%s: a directory is in the way", rel)
	}
	return os.Remove(p)
}

// file writes one regular file, counting its bytes against the limit
// rather than trusting the archive's declared sizes.
func (e *extractor) file(rel string, r io.Reader, perm fs.FileMode, mtime time.Time) error {
	dir, err := e.mkdirs(path.Dir(rel))
	if err != nil {
		return err
	}
	p := filepath.Join(dir, path.Base(rel))
	if err := replaceable(p, rel); err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, (perm&0o777)|0o600)
	if err != nil {
		return err
	}
	src := r
	if e.limit > 0 {
		src = io.LimitReader(r, e.limit-e.written+1)
	}
	n, err := io.Copy(f, src)
	e.written += n
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && e.limit > 0 && e.written > e.limit {
		err = fmt.Errorf("%w of %d bytes", errTooBig, e.limit)
	}
	if err != nil {
		os.Remove(p)
		return err
	}
	// The mode as archived, umask aside, as gitlab-runner restores it.
	if err := os.Chmod(p, perm&0o777); err != nil {
		return err
	}
	if !mtime.IsZero() {
		_ = os.Chtimes(p, mtime, mtime)
	}
	return nil
}

// symlink creates a link whose target, read relative to the link's
// directory, stays inside the build directory.
func (e *extractor) symlink(rel, target string) error {
	t := strings.ReplaceAll(target, `\`, "/")
	if target == "" || path.IsAbs(t) || strings.ContainsRune(t, 0) {
		return fmt.Errorf("%w: symlink %s points to %q, outside the build directory", errUnsafeEntry, rel, target)
	}
	if res := path.Join(path.Dir(rel), t); res == ".." || strings.HasPrefix(res, "../") {
		return fmt.Errorf("%w: symlink %s points to %q, outside the build directory", errUnsafeEntry, rel, target)
	}
	dir, err := e.mkdirs(path.Dir(rel))
	if err != nil {
		return err
	}
	// Again from the directory's real path: a symlinked directory on
	// the way may sit at another depth than its name suggests.
	if !within(e.realRoot, filepath.Join(dir, filepath.FromSlash(t))) {
		return fmt.Errorf("%w: symlink %s points to %q, outside the build directory", errUnsafeEntry, rel, target)
	}
	p := filepath.Join(dir, path.Base(rel))
	if err := replaceable(p, rel); err != nil {
		return err
	}
	return os.Symlink(target, p)
}
