package artifacts

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"unicode"

	"github.com/ciwarden/ciwarden/internal/blob"
	"github.com/ciwarden/ciwarden/internal/model"
)

// Reading artifact zips straight from blob storage, never whole: the
// central directory is at the end, and one entry is a range of the file.

// readAheadSize is how much blockReaderAt reads at a time.
const readAheadSize = 64 << 10

// blockReaderAt turns archive/zip's many small ReadAts (4 KiB through a
// bufio.Reader for the directory and for each entry's data) into few
// sequential reads of the Object: it reads ahead a block at a time with
// Seek and Read, so on S3 the reads of one region are one streamed GET
// rather than one ranged GET per 4 KiB. It is safe for concurrent use
// (archive/zip needs no more), though the handlers read one entry at a
// time.
type blockReaderAt struct {
	mu     sync.Mutex
	obj    blob.Object
	size   int64
	pos    int64 // the Object's stream position
	block  []byte
	buf    []byte // block[:n], the bytes at bufOff
	bufOff int64
}

func newBlockReaderAt(obj blob.Object) *blockReaderAt {
	return &blockReaderAt{obj: obj, size: obj.Size(), block: make([]byte, readAheadSize)}
}

func (r *blockReaderAt) ReadAt(p []byte, off int64) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	total := 0
	for len(p) > 0 {
		if off >= r.size {
			return total, io.EOF
		}
		if off >= r.bufOff && off < r.bufOff+int64(len(r.buf)) {
			c := copy(p, r.buf[off-r.bufOff:])
			p, off, total = p[c:], off+int64(c), total+c
			continue
		}
		if off != r.pos {
			if _, err := r.obj.Seek(off, io.SeekStart); err != nil {
				return total, err
			}
			r.pos = off
		}
		n, err := io.ReadFull(r.obj, r.block[:min(int64(len(r.block)), r.size-off)])
		r.pos += int64(n)
		r.buf, r.bufOff = r.block[:n], off
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// openZip reads a zip's central directory from a blob.
func openZip(obj blob.Object) (*zip.Reader, error) {
	return zip.NewReader(newBlockReaderAt(obj), obj.Size())
}

// unsafeEntryName reports why name cannot be an artifact path, or "" when
// it can. It applies to every entry of an uploaded archive and to every
// path a later read asks for, so that what is refused at upload can never
// be named afterwards. Refused: what could write outside the directory a
// runner extracts into (zip slip: an absolute path, a drive letter, a
// backslash, which is a separator on Windows, a ".." segment); a "."
// segment, which names the same file as the path without it (README:
// "any path with a . or .. segment"); and NUL and other control
// characters, which no file name needs and which would reach logs and
// terminals raw (issue 13 item 5).
func unsafeEntryName(name string) string {
	switch {
	case name == "":
		return "an empty name"
	case strings.ContainsRune(name, 0):
		return "a NUL byte"
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return "a control character"
	case strings.ContainsRune(name, '\\'):
		return "a backslash"
	case strings.HasPrefix(name, "/"):
		return "an absolute path"
	case len(name) >= 2 && name[1] == ':' && (name[0]|0x20 >= 'a' && name[0]|0x20 <= 'z'):
		return "a drive letter"
	}
	for seg := range strings.SplitSeq(name, "/") {
		switch seg {
		case "..":
			return "a .. segment"
		case ".":
			return "a . segment"
		}
	}
	return ""
}

// rootEntry is the directory entry of the archive's root, which
// gitlab-runner writes for `paths: [.]`: it names the extraction
// directory itself, no file, and an archive holding it is accepted.
const rootEntry = "./"

// checkZip refuses an archive that is not a zip or holds an entry that
// cannot be an artifact path.
func checkZip(obj blob.Object) error {
	zr, err := openZip(obj)
	if err != nil {
		return model.Refuse(model.ErrInvalid, "artifacts archive is not a valid zip file")
	}
	for _, f := range zr.File {
		if f.Name == rootEntry {
			continue
		}
		if why := unsafeEntryName(f.Name); why != "" {
			return model.Refuse(model.ErrInvalid, fmt.Sprintf("artifacts archive entry %q has %s", printable(f.Name), why))
		}
	}
	return nil
}

// printable keeps a hostile name out of a JSON message's way: NUL and
// other control characters are shown as "?", and it is cut at 200 bytes.
func printable(s string) string {
	s = strings.ToValidUTF8(s, "?")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, s)
}

// findEntry is the regular file at path in the zip, or nil.
func findEntry(zr *zip.Reader, path string) *zip.File {
	for _, f := range zr.File {
		if f.Name == path && !strings.HasSuffix(f.Name, "/") && f.Mode().IsRegular() {
			return f
		}
	}
	return nil
}

// Bounds of a listing (issue 19 item 3): an archive's directory is read
// whole by archive/zip, but what a listing walks and returns is capped,
// so a hostile archive with millions of entries or megabyte names costs
// one bounded pass and one bounded page.
const (
	maxListScan  = 100_000 // entries a listing looks at
	maxListShown = 1_000   // children one directory page returns
	maxNameLen   = 1_024   // bytes of an entry name a listing shows or a request may name
)

// DirEntry is one child of a directory in an archive.
type DirEntry struct {
	Name string // the last segment
	Path string // the whole path in the archive, without a trailing slash
	Dir  bool
	Size uint64 // a file's uncompressed size
}

// Listing is one directory of an archive: its subdirectories then its
// regular files, each sorted by name.
type Listing struct {
	Path      string // "" for the root
	Entries   []DirEntry
	Truncated bool // more entries than the bounds let through
}

// listDir lists directory dir ("" for the root) of zr. Directories are
// also those only implied by a file's path (runners write them, other
// zippers may not). Entries a listing cannot show safely (unsafe or
// over-long names, links and other non-regular files) are left out; a
// directory with nothing under it is model.ErrNotFound.
func listDir(zr *zip.Reader, dir string) (*Listing, error) {
	prefix := ""
	if dir != "" {
		prefix = dir + "/"
	}
	l := &Listing{Path: dir}
	found := dir == ""
	dirs := map[string]bool{}
	var files []DirEntry
	for i, f := range zr.File {
		if i == maxListScan {
			l.Truncated = true
			break
		}
		if f.Name == rootEntry || len(f.Name) > maxNameLen || unsafeEntryName(f.Name) != "" {
			continue
		}
		rest, ok := strings.CutPrefix(f.Name, prefix)
		if !ok {
			continue
		}
		found = true
		if sub, _, isDir := strings.Cut(rest, "/"); isDir {
			if sub != "" {
				dirs[sub] = true
			}
		} else if f.Mode().IsRegular() {
			files = append(files, DirEntry{Name: rest, Path: f.Name, Size: f.UncompressedSize64})
		}
	}
	if !found {
		return nil, model.ErrNotFound
	}
	for _, d := range slices.Sorted(maps.Keys(dirs)) {
		l.Entries = append(l.Entries, DirEntry{Name: d, Path: prefix + d, Dir: true})
	}
	slices.SortFunc(files, func(a, b DirEntry) int { return strings.Compare(a.Name, b.Name) })
	l.Entries = append(l.Entries, files...)
	if len(l.Entries) > maxListShown {
		l.Entries, l.Truncated = l.Entries[:maxListShown], true
	}
	return l, nil
}
