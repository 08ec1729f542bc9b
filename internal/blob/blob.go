// Package blob stores job artifacts, package files and other large byte
// streams behind one small interface, on the local filesystem (FS, the
// default, under the data directory) or in S3-compatible object storage (S3).
//
// Every Put is all or nothing: the bytes go somewhere invisible first and
// appear under their key only once the whole stream has been read without
// error, so a failed upload, a canceled request or a crash never leaves a
// half-written object for a reader to find (security.md §5-§6).
package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"iter"
	"time"

	"github.com/ciwarden/ciwarden/internal/model"
)

// Store holds blobs by key. Keys are slash-separated relative paths such
// as "artifacts/42/1001/artifacts.zip"; see CheckKey for what is allowed.
// Implementations are safe for concurrent use.
type Store interface {
	// Put streams r under key and publishes it atomically once r reports
	// io.EOF: readers see the previous content of key (or nothing) until
	// then, and the whole new content after. size is the number of bytes r
	// will yield, or -1 if unknown; a reader that yields a different number
	// fails with ErrSizeMismatch. On any error, including a canceled ctx,
	// nothing new is visible under key and the temporary is removed. The
	// SHA-256 in the result is computed while streaming, in the same pass.
	Put(ctx context.Context, key string, r io.Reader, size int64) (Info, error)
	// Open returns the blob under key for reading, seeking and ranged reads
	// (zip central directories live at the end). The object stays the
	// version that was opened: if key is replaced meanwhile, it either keeps
	// reading the old bytes (FS) or fails with ErrChanged (S3), never mixes
	// them. ctx bounds the object's reads, not only the call.
	Open(ctx context.Context, key string) (Object, error)
	// Stat describes the blob under key. Info.SHA256 is empty: the digest
	// is Put's result, and the caller records it (in the database).
	Stat(ctx context.Context, key string) (Info, error)
	// Delete removes the blob under key; a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// List yields the blobs whose keys start with prefix (a plain string
	// prefix, as in S3; "" lists everything), in no particular order, for
	// sweepers. Info.SHA256 is empty. An error ends the sequence.
	List(ctx context.Context, prefix string) iter.Seq2[Info, error]
	// CleanTemp removes temporaries that Puts interrupted by a crash left
	// behind (FS: files in the temporary directory; S3: incomplete multipart
	// uploads) and that were started before the given time. A process that
	// owns its store alone calls it at startup with time.Now(); replicas
	// sharing a bucket pass a time older than any upload still in flight.
	CleanTemp(ctx context.Context, before time.Time) (removed int, err error)
}

// Object is one opened blob.
type Object interface {
	io.ReadSeekCloser
	// ReadAt is safe for concurrent use, independently of Read and Seek.
	io.ReaderAt
	// Size is the blob's length in bytes.
	Size() int64
}

// Info describes a stored blob.
type Info struct {
	Key  string
	Size int64
	// SHA256 is the lowercase hex digest of the content; only Put sets it.
	SHA256  string
	ModTime time.Time
}

// Errors, each wrapping the model sentinel the HTTP layer maps to a status.
var (
	ErrNotFound = fmt.Errorf("blob: %w", model.ErrNotFound)
	// ErrInvalidKey refuses a key outside the rules of CheckKey.
	ErrInvalidKey = fmt.Errorf("blob: %w key", model.ErrInvalid)
	// ErrSizeMismatch means a Put's reader yielded more or fewer bytes than
	// the size it was given, e.g. a body shorter than its Content-Length.
	ErrSizeMismatch = fmt.Errorf("blob: %w size", model.ErrInvalid)
	// ErrTooLarge means a blob exceeds what the backend can hold (S3:
	// 10,000 parts).
	ErrTooLarge = fmt.Errorf("blob: %w: too large", model.ErrInvalid)
	// ErrConflict means a key cannot be stored because the filesystem holds
	// a directory of other keys under its name, or a file where a key needs
	// a directory ("a/b" and "a/b/c" cannot both exist on FS).
	ErrConflict = fmt.Errorf("blob: key clashes with another key: %w", model.ErrConflict)
	// ErrChanged means an open S3 object was replaced or deleted before
	// all of it was read; reading on would mix two versions. It wraps no
	// model sentinel: it is nobody's input error, and opening again works.
	ErrChanged = errors.New("blob: object replaced or deleted while open")
)

// MaxKeyLen bounds keys: S3 allows 1024 bytes including a configured
// prefix, and a filesystem path must stay well under PATH_MAX.
const MaxKeyLen = 512

// maxSegmentLen is NAME_MAX on common filesystems.
const maxSegmentLen = 255

// CheckKey reports whether key is acceptable: 1 to MaxKeyLen bytes of
// segments separated by single slashes, no leading or trailing slash, each
// segment 1 to 255 characters from A-Z a-z 0-9 and "._~+-", not starting
// with a dot. The dot rule keeps "." and ".." out and reserves dot-names for
// the stores themselves (the filesystem store's ".tmp" directory). Keys are
// built by ciwarden, but from parts users choose (file names, versions, state
// names), so anything else is refused rather than escaped.
func CheckKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	}
	if len(key) > MaxKeyLen {
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidKey, MaxKeyLen)
	}
	start := 0
	for i := 0; i <= len(key); i++ {
		if i < len(key) && key[i] != '/' {
			if !keyByte(key[i]) {
				return fmt.Errorf("%w %q: character %q not allowed", ErrInvalidKey, key, key[i])
			}
			continue
		}
		seg := key[start:i]
		switch {
		case seg == "":
			return fmt.Errorf("%w %q: empty segment", ErrInvalidKey, key)
		case seg[0] == '.':
			return fmt.Errorf("%w %q: segment starts with a dot", ErrInvalidKey, key)
		case len(seg) > maxSegmentLen:
			return fmt.Errorf("%w %q: segment longer than %d bytes", ErrInvalidKey, key, maxSegmentLen)
		}
		start = i + 1
	}
	return nil
}

// checkPrefix accepts "" or what could begin a valid key: a key, a key
// followed by a slash, or a key cut inside a segment.
func checkPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if len(prefix) > 1 && prefix[len(prefix)-1] == '/' {
		prefix = prefix[:len(prefix)-1]
	}
	if err := CheckKey(prefix); err != nil {
		return fmt.Errorf("list prefix: %w", err)
	}
	return nil
}

func keyByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '.' || c == '_' || c == '~' || c == '+' || c == '-'
}

// digestReader hashes and counts what passes through it and holds the
// reader to its declared size. It never pulls more than one byte past that
// size, so a too-long stream is detected without being drained.
type digestReader struct {
	r    io.Reader
	h    hash.Hash
	n    int64
	size int64 // -1: unknown
}

func newDigestReader(r io.Reader, size int64) *digestReader {
	return &digestReader{r: r, h: sha256.New(), size: size}
}

func (d *digestReader) Read(p []byte) (int, error) {
	if d.size >= 0 {
		if left := d.size - d.n + 1; int64(len(p)) > left {
			p = p[:left]
		}
	}
	n, err := d.r.Read(p)
	if n > 0 {
		d.h.Write(p[:n])
		d.n += int64(n)
	}
	switch {
	case d.size >= 0 && d.n > d.size:
		return n, fmt.Errorf("%w: more than the declared %d bytes", ErrSizeMismatch, d.size)
	case err == io.EOF && d.size >= 0 && d.n < d.size:
		return n, fmt.Errorf("%w: %d bytes, declared %d", ErrSizeMismatch, d.n, d.size)
	}
	return n, err
}

func (d *digestReader) sum() string { return hex.EncodeToString(d.h.Sum(nil)) }

// readError wraps an error that came from the caller's reader, so that
// errors.Is still finds the reader's own sentinel.
func readError(key string, err error) error {
	if errors.Is(err, ErrSizeMismatch) {
		return fmt.Errorf("%w (put %s)", err, key)
	}
	return fmt.Errorf("blob: put %s: reading: %w", key, err)
}

// ctxError prefers the context's error: when a request is canceled, the
// failure seen underneath (a closed connection, an aborted read) is only a
// symptom.
func ctxError(ctx context.Context, key string, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("blob: put %s: %w: %w", key, cerr, err)
	}
	return err
}

// fill reads into buf until it is full, r reports io.EOF (eof), or an
// error; it checks ctx between reads.
func fill(ctx context.Context, r io.Reader, buf []byte) (n int, eof bool, err error) {
	for n < len(buf) {
		if err := ctx.Err(); err != nil {
			return n, false, err
		}
		m, err := r.Read(buf[n:])
		n += m
		if err == io.EOF {
			return n, true, nil
		}
		if err != nil {
			return n, false, err
		}
	}
	return n, false, nil
}
