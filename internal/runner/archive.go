package runner

import (
	"archive/zip"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"syscall"
)

// Artifact formats the runner can produce (runner-protocol.md §10.1).
const (
	formatZip  = "zip"
	formatGzip = "gzip"
	formatRaw  = "raw"
)

// artifactFileName is the multipart file name for an archive, as
// gitlab-runner names it: the entry's name with the format's extension.
func artifactFileName(name, format string) string {
	name = filepath.Base(name)
	if name == "" || name == "." || name == "/" {
		name = "artifacts"
	}
	switch format {
	case formatZip:
		return name + ".zip"
	case formatGzip:
		return name + ".gz"
	}
	return name
}

// archiveWriter streams the collected files (slash paths relative to
// root, sorted) in one format. It reads every file as it goes, so it can
// run again from the start when an upload is retried.
type archiveWriter func(w io.Writer, root string, files []string) error

func archiverFor(format string) (archiveWriter, error) {
	switch format {
	case "", formatZip:
		return writeZip, nil
	case formatGzip:
		return writeGzip, nil
	case formatRaw:
		return writeRaw, nil
	}
	return nil, fmt.Errorf("unsupported artifact format %q", format)
}

// openNoFollow opens a collected regular file without following a
// symlink that replaced it since it was collected.
func openNoFollow(root, rel string) (*os.File, fs.FileInfo, error) {
	f, err := os.OpenFile(filepath.Join(root, filepath.FromSlash(rel)), os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, nil, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !info.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("%s: not a regular file", rel)
	}
	return f, info, nil
}

// writeZip writes a zip with each entry's mode and modification time:
// directories, regular files (deflated) and symlinks (their target as
// content, the zip convention). Files that vanished since they were
// collected are left out; other kinds (sockets, devices) are skipped.
func writeZip(w io.Writer, root string, files []string) error {
	zw := zip.NewWriter(w)
	for _, rel := range files {
		full := filepath.Join(root, filepath.FromSlash(rel))
		info, err := os.Lstat(full)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		hdr, err := zip.FileInfoHeader(info)
		if err != nil {
			return err
		}
		hdr.Name = rel
		switch mode := info.Mode(); {
		case mode.IsDir():
			hdr.Name += "/"
			hdr.Method = zip.Store
			if _, err := zw.CreateHeader(hdr); err != nil {
				return err
			}
		case mode&fs.ModeSymlink != 0:
			target, err := os.Readlink(full)
			if err != nil {
				return err
			}
			hdr.Method = zip.Store
			ew, err := zw.CreateHeader(hdr)
			if err != nil {
				return err
			}
			if _, err := io.WriteString(ew, target); err != nil {
				return err
			}
		case mode.IsRegular():
			f, _, err := openNoFollow(root, rel)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return err
			}
			hdr.Method = zip.Deflate
			ew, err := zw.CreateHeader(hdr)
			if err == nil {
				_, err = io.Copy(ew, f)
			}
			f.Close()
			if err != nil {
				return fmt.Errorf("%s: %w", rel, err)
			}
		}
	}
	return zw.Close()
}

// writeGzip writes one gzip member per regular file, named after it, one
// after another (GitLab reads concatenated members, e.g. several JUnit
// reports).
func writeGzip(w io.Writer, root string, files []string) error {
	for _, rel := range files {
		f, info, err := openNoFollow(root, rel)
		if err != nil {
			continue // directories, symlinks, vanished files
		}
		zw := gzip.NewWriter(w)
		zw.Name = path.Base(rel)
		zw.ModTime = info.ModTime()
		_, err = io.Copy(zw, f)
		f.Close()
		if err == nil {
			err = zw.Close()
		}
		if err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
	}
	return nil
}

// errRawFileCount: the raw format is one file as it is.
var errRawFileCount = errors.New("the raw artifact format needs exactly one regular file")

// writeRaw sends the only regular file as it is.
func writeRaw(w io.Writer, root string, files []string) error {
	regular := regularFiles(files, root)
	if len(regular) != 1 {
		return fmt.Errorf("%w, found %d", errRawFileCount, len(regular))
	}
	f, _, err := openNoFollow(root, regular[0])
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

func regularFiles(files []string, root string) []string {
	var out []string
	for _, rel := range files {
		if info, err := os.Lstat(filepath.Join(root, filepath.FromSlash(rel))); err == nil && info.Mode().IsRegular() {
			out = append(out, rel)
		}
	}
	return out
}
