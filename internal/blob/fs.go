package blob

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path"
	"strings"
	"syscall"
	"time"
)

// tmpDir holds Puts in progress. It sits inside the root so that the final
// rename stays on one filesystem (and so is atomic); no key can name it,
// because key segments may not start with a dot.
const tmpDir = ".tmp"

const (
	dirPerm  = 0o750
	filePerm = 0o640
	// A Put writes in chunks of copyBufSize, large enough that syscalls
	// and per-chunk overheads vanish next to hashing and copying, with
	// copyBuffers of them in flight between the reader and the writer.
	copyBufSize = 256 << 10
	copyBuffers = 4
)

// FS stores blobs as files under a root directory, one file per key.
//
// A Put writes a temporary file in root/.tmp, fsyncs it, renames it onto
// root/<key> and fsyncs the directories whose entries changed. rename(2) is
// atomic, so a reader opens either the old file or the complete new one,
// and after a crash a key holds a whole object or nothing; leftovers in
// .tmp are removed by CleanTemp. All access goes through an os.Root, so a
// symbolic link planted under the root cannot lead a key outside it.
type FS struct {
	root *os.Root
	// owner names the process whose temporaries these are (SetOwner).
	owner string
}

// ownerSep ends the owner's name in a temporary's name; it is in no owner
// name (SetOwner) and in no rand.Text.
const ownerSep = "~"

var _ Store = (*FS)(nil)

// NewFS opens (creating if needed) a store rooted at dir. Close releases it.
func NewFS(dir string) (*FS, error) {
	if err := os.MkdirAll(dir, dirPerm); err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	if err := root.Mkdir(tmpDir, dirPerm); err != nil && !errors.Is(err, fs.ErrExist) {
		root.Close()
		return nil, fmt.Errorf("blob: %w", err)
	}
	return &FS{root: root}, nil
}

// SetOwner names the process that uses the store (a replica's name, from
// letters, digits, '.', '_' and '-'): its temporaries carry the name, and
// CleanTemp removes only those (and those of no owner), so that servers
// sharing the directory never remove each other's uploads in progress.
func (s *FS) SetOwner(name string) { s.owner = name }

// Close releases the root directory.
func (s *FS) Close() error { return s.root.Close() }

func (s *FS) Put(ctx context.Context, key string, r io.Reader, size int64) (Info, error) {
	if err := CheckKey(key); err != nil {
		return Info{}, err
	}
	if err := ctx.Err(); err != nil {
		return Info{}, fmt.Errorf("blob: put %s: %w", key, err)
	}
	tmp := tmpDir + "/" + rand.Text()
	if s.owner != "" {
		tmp = tmpDir + "/" + s.owner + ownerSep + rand.Text()
	}
	f, err := s.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
	if err != nil {
		return Info{}, fmt.Errorf("blob: put %s: %w", key, err)
	}
	published := false
	defer func() {
		if !published {
			f.Close()
			s.root.Remove(tmp)
		}
	}()

	dr := newDigestReader(r, size)
	if err := copyPipelined(ctx, f, dr); err != nil {
		if errors.Is(err, errWrite) {
			return Info{}, fmt.Errorf("blob: put %s: %w", key, err)
		}
		return Info{}, ctxError(ctx, key, readError(key, err))
	}
	// The data must be on disk before the rename makes it reachable, or a
	// crash could publish a file of zeros or holes.
	if err := f.Sync(); err != nil {
		return Info{}, fmt.Errorf("blob: put %s: %w", key, err)
	}
	st, err := f.Stat()
	if err != nil {
		return Info{}, fmt.Errorf("blob: put %s: %w", key, err)
	}
	if err := f.Close(); err != nil {
		return Info{}, fmt.Errorf("blob: put %s: %w", key, err)
	}
	// Last chance to honour a cancellation: after the rename, the object
	// exists and reporting failure would be a lie.
	if err := ctx.Err(); err != nil {
		return Info{}, fmt.Errorf("blob: put %s: %w", key, err)
	}
	if err := s.publish(tmp, key); err != nil {
		return Info{}, fmt.Errorf("blob: put %s: %w", key, err)
	}
	published = true
	return Info{Key: key, Size: dr.n, SHA256: dr.sum(), ModTime: st.ModTime()}, nil
}

var errWrite = errors.New("write")

// copyPipelined copies src to dst with the reading (and, through the
// digestReader, the hashing) on the calling goroutine and the writing on
// another, so that on two cores SHA-256 costs next to nothing: serially, a
// Put ran at about half the speed of a plain io.Copy into a file.
// Memory is copyBuffers buffers of copyBufSize; ctx is checked per read.
func copyPipelined(ctx context.Context, dst io.Writer, src io.Reader) error {
	free := make(chan []byte, copyBuffers)
	for range copyBuffers {
		free <- make([]byte, copyBufSize)
	}
	full := make(chan []byte, copyBuffers)
	failed := make(chan struct{}) // closed when a write fails
	var werr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		for b := range full {
			if werr == nil {
				if _, err := dst.Write(b); err != nil {
					werr = fmt.Errorf("%w: %w", errWrite, err)
					close(failed)
				}
			}
			free <- b[:cap(b)]
		}
	}()
	var rerr error
	for rerr == nil {
		var buf []byte
		select {
		case buf = <-free:
		case <-failed:
		}
		if buf == nil {
			break
		}
		n, eof, err := fill(ctx, src, buf)
		if n > 0 {
			full <- buf[:n]
		}
		if err != nil {
			rerr = err
		} else if eof {
			break
		}
	}
	close(full)
	<-done
	if werr != nil {
		return werr
	}
	return rerr
}

// publish renames tmp onto key, creating the key's directories as needed,
// and fsyncs every directory whose entries changed so that the object
// survives a crash once Put has returned.
func (s *FS) publish(tmp, key string) error {
	dir := path.Dir(key)
	var created []string
	var err error
	// A concurrent Delete may prune an empty directory between mkdirs and
	// the rename; a few attempts settle it.
	for range 4 {
		if err = s.root.Rename(tmp, key); err == nil || !errors.Is(err, fs.ErrNotExist) {
			break
		}
		var c []string
		if c, err = s.mkdirs(dir); err != nil {
			return err
		}
		created = append(created, c...)
	}
	if err != nil {
		if isConflict(err) {
			return fmt.Errorf("%w: %w", ErrConflict, err)
		}
		return err
	}
	// The rename changed dir; each directory created changed its parent.
	// Should one of these fsyncs fail, Put reports the error although the
	// (complete, synced) file is already in place: the rename cannot be
	// undone without losing the previous version of the key.
	toSync := map[string]bool{dir: true}
	for _, c := range created {
		toSync[path.Dir(c)] = true
	}
	for d := range toSync {
		if err := s.syncDir(d); err != nil {
			return err
		}
	}
	return nil
}

// mkdirs creates dir and its missing parents, returning those it created.
func (s *FS) mkdirs(dir string) ([]string, error) {
	if dir == "." {
		return nil, nil
	}
	var created []string
	for i := 0; i <= len(dir); i++ {
		if i < len(dir) && dir[i] != '/' {
			continue
		}
		d := dir[:i]
		err := s.root.Mkdir(d, dirPerm)
		switch {
		case err == nil:
			created = append(created, d)
		case errors.Is(err, fs.ErrExist):
			if st, serr := s.root.Stat(d); serr != nil || !st.IsDir() {
				return created, fmt.Errorf("%w: %s is not a directory", ErrConflict, d)
			}
		case isConflict(err):
			return created, fmt.Errorf("%w: %w", ErrConflict, err)
		default:
			return created, err
		}
	}
	return created, nil
}

func (s *FS) syncDir(dir string) error {
	d, err := s.root.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// isConflict recognises a key that collides with the directory of other
// keys, or whose path runs through a file.
func isConflict(err error) bool {
	return errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EISDIR) ||
		errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST)
}

// missing recognises "no such object": the path does not exist, runs
// through a file, or names a directory.
func missing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

func (s *FS) Open(ctx context.Context, key string) (Object, error) {
	if err := CheckKey(key); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := s.root.Open(key)
	if err != nil {
		if missing(err) {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, key)
		}
		return nil, fmt.Errorf("blob: open %s: %w", key, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("blob: open %s: %w", key, err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	return &fileObject{File: f, size: st.Size()}, nil
}

// fileObject embeds the *os.File so that io.Copy from it to a socket can
// still use sendfile (File.WriteTo).
type fileObject struct {
	*os.File
	size int64
}

func (o *fileObject) Size() int64 { return o.size }

func (s *FS) Stat(ctx context.Context, key string) (Info, error) {
	if err := CheckKey(key); err != nil {
		return Info{}, err
	}
	if err := ctx.Err(); err != nil {
		return Info{}, err
	}
	st, err := s.root.Stat(key)
	if err != nil {
		if missing(err) {
			return Info{}, fmt.Errorf("%w: %s", ErrNotFound, key)
		}
		return Info{}, fmt.Errorf("blob: stat %s: %w", key, err)
	}
	if !st.Mode().IsRegular() {
		return Info{}, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	return Info{Key: key, Size: st.Size(), ModTime: st.ModTime()}, nil
}

// Delete removes the file and then the directories it leaves empty, so
// that swept artifacts do not leave millions of empty directories behind.
// It does not fsync: a deletion undone by a crash leaves an orphan for the
// next sweep, not a visible half-object.
func (s *FS) Delete(ctx context.Context, key string) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// Root.Remove would also remove an empty directory; a directory is
	// never an object, so leave it alone.
	st, err := s.root.Lstat(key)
	if err != nil {
		if missing(err) {
			return nil
		}
		return fmt.Errorf("blob: delete %s: %w", key, err)
	}
	if st.IsDir() {
		return nil
	}
	if err := s.root.Remove(key); err != nil && !missing(err) {
		return fmt.Errorf("blob: delete %s: %w", key, err)
	}
	for d := path.Dir(key); d != "."; d = path.Dir(d) {
		if s.root.Remove(d) != nil { // not empty (or gone): stop
			break
		}
	}
	return nil
}

func (s *FS) List(ctx context.Context, prefix string) iter.Seq2[Info, error] {
	return func(yield func(Info, error) bool) {
		if err := checkPrefix(prefix); err != nil {
			yield(Info{}, err)
			return
		}
		// Walk only the deepest directory the prefix names in full.
		start := "."
		if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
			start = prefix[:i]
		}
		stop := errors.New("stop")
		err := fs.WalkDir(s.root.FS(), start, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if p == start && missing(err) {
					return fs.SkipAll
				}
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if d.IsDir() {
				if p == start {
					return nil
				}
				if strings.HasPrefix(d.Name(), ".") ||
					!strings.HasPrefix(p+"/", prefix) && !strings.HasPrefix(prefix, p+"/") {
					return fs.SkipDir
				}
				return nil
			}
			if !d.Type().IsRegular() || !strings.HasPrefix(p, prefix) || CheckKey(p) != nil {
				return nil
			}
			st, err := d.Info()
			if err != nil {
				if missing(err) { // deleted while we walked
					return nil
				}
				return err
			}
			if !yield(Info{Key: p, Size: st.Size(), ModTime: st.ModTime()}, nil) {
				return stop
			}
			return nil
		})
		if err != nil && err != stop {
			yield(Info{}, fmt.Errorf("blob: list %q: %w", prefix, err))
		}
	}
}

// CleanTemp removes temporary files last written before the given time,
// of this store's owner or of none (SetOwner).
func (s *FS) CleanTemp(ctx context.Context, before time.Time) (int, error) {
	entries, err := fs.ReadDir(s.root.FS(), tmpDir)
	if err != nil {
		return 0, fmt.Errorf("blob: clean temporaries: %w", err)
	}
	removed := 0
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return removed, err
		}
		if owner, _, owned := strings.Cut(e.Name(), ownerSep); owned && owner != s.owner {
			continue // another server's
		}
		st, err := e.Info()
		if err != nil || !st.ModTime().Before(before) {
			continue
		}
		if err := s.root.Remove(tmpDir + "/" + e.Name()); err != nil && !missing(err) {
			return removed, fmt.Errorf("blob: clean temporaries: %w", err)
		}
		removed++
	}
	return removed, nil
}
