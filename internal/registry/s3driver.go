package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/distribution/v3/registry/storage/driver/base"
	"github.com/distribution/distribution/v3/registry/storage/driver/factory"
	"github.com/minio/minio-go/v7"

	"github.com/ciwarden/ciwarden/internal/blob"
)

// s3DriverName names the driver in Distribution's configuration and in
// its errors.
const s3DriverName = "ciwarden-s3"

// s3PartSize is the size of a blob upload's multipart parts, and so the
// memory one open upload holds: S3 wants every part but the last to be at
// least 5 MiB, and at most 10,000 parts (156 GiB per layer at 16 MiB).
const (
	s3PartSize = 16 << 20
	s3MaxParts = 10000
)

func init() { factory.Register(s3DriverName, s3Factory{}) }

type s3Factory struct{}

// Create takes the bucket already opened ("store": *blob.S3): ciwarden
// connects to S3 once, with its --s3-* configuration.
func (s3Factory) Create(_ context.Context, params map[string]any) (storagedriver.StorageDriver, error) {
	store, ok := params["store"].(*blob.S3)
	if !ok || store == nil {
		return nil, errors.New("ciwarden-s3: no S3 store given")
	}
	return newS3Driver(store), nil
}

// s3Driver is Distribution's storage driver over an S3 bucket through
// minio-go, which ciwarden already uses for artifacts and packages
// (Distribution's own S3 driver needs aws-sdk-go v1, out of support). The
// registry's path /a/b is the object <prefix>registry/a/b; a "directory"
// is a common prefix. Uploads are multipart uploads kept open across
// requests and replicas (writer below).
type s3Driver struct {
	core   minio.Core
	bucket string
	root   string // <prefix>registry
	tails  string // <prefix>registry-tails/: the unsent ends of open uploads
}

func newS3Driver(store *blob.S3) storagedriver.StorageDriver {
	core, bucket, prefix := store.Bucket()
	d := &s3Driver{core: core, bucket: bucket, root: prefix + "registry", tails: prefix + "registry-tails/"}
	// base checks the paths (storagedriver.PathRegexp) and names the
	// driver in errors.
	return &base.Base{StorageDriver: d}
}

func (d *s3Driver) Name() string { return s3DriverName }

func (d *s3Driver) key(path string) string { return d.root + path }

// dirPrefix is the prefix of everything under path.
func (d *s3Driver) dirPrefix(path string) string {
	return strings.TrimSuffix(d.key(path), "/") + "/"
}

func (d *s3Driver) path(key string) string { return strings.TrimPrefix(key, d.root) }

func notFound(err error) bool {
	resp := minio.ToErrorResponse(err)
	return resp.Code == minio.NoSuchKey || (resp.StatusCode == http.StatusNotFound && resp.Code != minio.NoSuchBucket && resp.Code != minio.NoSuchUpload)
}

func (d *s3Driver) fail(err error) error {
	return storagedriver.Error{DriverName: s3DriverName, Detail: err}
}

func (d *s3Driver) GetContent(ctx context.Context, path string) ([]byte, error) {
	r, err := d.Reader(ctx, path, 0)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, d.fail(err)
	}
	return b, nil
}

func (d *s3Driver) PutContent(ctx context.Context, path string, content []byte) error {
	_, err := d.core.PutObject(ctx, d.bucket, d.key(path), bytes.NewReader(content), int64(len(content)), "", "", minio.PutObjectOptions{})
	if err != nil {
		return d.fail(err)
	}
	return nil
}

func (d *s3Driver) Reader(ctx context.Context, path string, offset int64) (io.ReadCloser, error) {
	if offset < 0 {
		return nil, storagedriver.InvalidOffsetError{Path: path, Offset: offset}
	}
	var opts minio.GetObjectOptions
	if offset > 0 {
		opts.SetRange(offset, 0)
	}
	body, _, _, err := d.core.GetObject(ctx, d.bucket, d.key(path), opts)
	switch {
	case err == nil:
		return body, nil
	case notFound(err):
		return nil, storagedriver.PathNotFoundError{Path: path}
	case minio.ToErrorResponse(err).StatusCode == http.StatusRequestedRangeNotSatisfiable:
		// At or past the end: nothing to read, as on a file.
		if _, err := d.Stat(ctx, path); err != nil {
			return nil, err
		}
		return io.NopCloser(bytes.NewReader(nil)), nil
	}
	return nil, d.fail(err)
}

func (d *s3Driver) Stat(ctx context.Context, path string) (storagedriver.FileInfo, error) {
	oi, err := d.core.StatObject(ctx, d.bucket, d.key(path), minio.StatObjectOptions{})
	if err == nil {
		return storagedriver.FileInfoInternal{FileInfoFields: storagedriver.FileInfoFields{Path: path, Size: oi.Size, ModTime: oi.LastModified}}, nil
	}
	if !notFound(err) {
		return nil, d.fail(err)
	}
	res, err := d.core.ListObjectsV2(d.bucket, d.dirPrefix(path), "", "", "", 1)
	if err != nil {
		return nil, d.fail(err)
	}
	if len(res.Contents) == 0 && len(res.CommonPrefixes) == 0 {
		return nil, storagedriver.PathNotFoundError{Path: path}
	}
	return storagedriver.FileInfoInternal{FileInfoFields: storagedriver.FileInfoFields{Path: path, IsDir: true, ModTime: time.Now()}}, nil
}

// List is the files and directories right under path, as full paths.
func (d *s3Driver) List(ctx context.Context, path string) ([]string, error) {
	var out []string
	for oi := range d.core.ListObjectsIter(ctx, d.bucket, minio.ListObjectsOptions{Prefix: d.dirPrefix(path)}) {
		if oi.Err != nil {
			return nil, d.fail(oi.Err)
		}
		p := strings.TrimSuffix(d.path(oi.Key), "/")
		if p != strings.TrimSuffix(path, "/") { // not a directory marker of path itself
			out = append(out, p)
		}
	}
	if len(out) == 0 && path != "/" {
		return nil, storagedriver.PathNotFoundError{Path: path}
	}
	return out, nil
}

// Move copies and then deletes: S3 has no rename. ComposeObject copies
// objects past 5 GiB in parts, on the server.
func (d *s3Driver) Move(ctx context.Context, src, dst string) error {
	_, err := d.core.ComposeObject(ctx, minio.CopyDestOptions{Bucket: d.bucket, Object: d.key(dst)},
		minio.CopySrcOptions{Bucket: d.bucket, Object: d.key(src)})
	if err != nil {
		if notFound(err) {
			return storagedriver.PathNotFoundError{Path: src}
		}
		return d.fail(err)
	}
	if err := d.core.RemoveObject(ctx, d.bucket, d.key(src), minio.RemoveObjectOptions{}); err != nil {
		return d.fail(err)
	}
	return nil
}

// Delete removes path and everything under it, and aborts the uploads
// still open there (an upload session purged by the registry).
func (d *s3Driver) Delete(ctx context.Context, path string) error {
	var keys []string
	if _, err := d.core.StatObject(ctx, d.bucket, d.key(path), minio.StatObjectOptions{}); err == nil {
		keys = append(keys, d.key(path))
	} else if !notFound(err) {
		return d.fail(err)
	}
	for oi := range d.core.ListObjectsIter(ctx, d.bucket, minio.ListObjectsOptions{Prefix: d.dirPrefix(path), Recursive: true}) {
		if oi.Err != nil {
			return d.fail(oi.Err)
		}
		keys = append(keys, oi.Key)
	}
	aborted, err := d.abortUploads(ctx, path)
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		if aborted {
			return nil
		}
		return storagedriver.PathNotFoundError{Path: path}
	}
	objs := make(chan minio.ObjectInfo, len(keys))
	for _, k := range keys {
		objs <- minio.ObjectInfo{Key: k}
	}
	close(objs)
	for e := range d.core.RemoveObjects(ctx, d.bucket, objs, minio.RemoveObjectsOptions{}) {
		if e.Err != nil && !notFound(e.Err) {
			return d.fail(e.Err)
		}
	}
	return nil
}

func (d *s3Driver) abortUploads(ctx context.Context, path string) (bool, error) {
	aborted := false
	for up := range d.core.ListIncompleteUploads(ctx, d.bucket, d.key(path), true) {
		if up.Err != nil {
			return aborted, d.fail(up.Err)
		}
		if up.Key != d.key(path) && !strings.HasPrefix(up.Key, d.dirPrefix(path)) {
			continue
		}
		if err := d.core.AbortMultipartUpload(ctx, d.bucket, up.Key, up.UploadID); err != nil && minio.ToErrorResponse(err).Code != minio.NoSuchUpload {
			return aborted, d.fail(err)
		}
		if err := d.core.RemoveObject(ctx, d.bucket, d.tailKey(up.UploadID), minio.RemoveObjectOptions{}); err != nil && !notFound(err) {
			return aborted, d.fail(err)
		}
		aborted = true
	}
	return aborted, nil
}

// RedirectURL is "": the registry proxies blobs itself, so that clients
// need to reach ciwarden only, never the bucket.
func (d *s3Driver) RedirectURL(*http.Request, string) (string, error) { return "", nil }

func (d *s3Driver) Walk(ctx context.Context, path string, f storagedriver.WalkFn, options ...func(*storagedriver.WalkOptions)) error {
	return storagedriver.WalkFallback(ctx, d, path, f, options...)
}

// tailKey is where an open upload keeps the bytes written since its last
// full part: S3 refuses a part under 5 MiB unless it is the last, and
// distribution writes a layer in requests of any size, so the short end
// waits in an object of its own (outside registry/, so List never shows
// it) until more bytes or the Commit come.
func (d *s3Driver) tailKey(uploadID string) string {
	sum := sha256.Sum256([]byte(uploadID))
	return d.tails + hex.EncodeToString(sum[:])
}

// Writer opens an upload. A new one (append false) starts a multipart
// upload at the path; append reopens the newest one there, in this
// request or another replica's: its parts are listed from S3 and its
// tail read back, so the state lives in the bucket alone.
func (d *s3Driver) Writer(ctx context.Context, path string, reopen bool) (storagedriver.FileWriter, error) {
	key := d.key(path)
	if !reopen {
		id, err := d.core.NewMultipartUpload(ctx, d.bucket, key, minio.PutObjectOptions{})
		if err != nil {
			return nil, d.fail(err)
		}
		return &s3Writer{ctx: ctx, d: d, key: key, id: id}, nil
	}
	var newest minio.ObjectMultipartInfo
	keyMarker, idMarker := "", ""
	for {
		res, err := d.core.ListMultipartUploads(ctx, d.bucket, key, keyMarker, idMarker, "", 1000)
		if err != nil {
			return nil, d.fail(err)
		}
		for _, up := range res.Uploads {
			if up.Key == key && (newest.UploadID == "" || up.Initiated.After(newest.Initiated)) {
				newest = up
			}
		}
		if !res.IsTruncated {
			break
		}
		keyMarker, idMarker = res.NextKeyMarker, res.NextUploadIDMarker
	}
	if newest.UploadID == "" {
		return d.appendToObject(ctx, path)
	}
	w := &s3Writer{ctx: ctx, d: d, key: key, id: newest.UploadID}
	marker := 0
	for {
		res, err := d.core.ListObjectParts(ctx, d.bucket, key, w.id, marker, 1000)
		if err != nil {
			return nil, d.fail(err)
		}
		for _, p := range res.ObjectParts {
			w.parts = append(w.parts, minio.CompletePart{PartNumber: p.PartNumber, ETag: p.ETag})
			w.sent += p.Size
		}
		if !res.IsTruncated {
			break
		}
		marker = res.NextPartNumberMarker
	}
	body, _, _, err := d.core.GetObject(ctx, d.bucket, d.tailKey(w.id), minio.GetObjectOptions{})
	if err == nil {
		w.buf, err = io.ReadAll(io.LimitReader(body, s3PartSize+1))
		body.Close()
		w.hadTail = true
	}
	if err != nil && !notFound(err) {
		return nil, d.fail(err)
	}
	return w, nil
}

// appendToObject opens an upload that continues a committed object: a
// new multipart upload starting with the object's bytes, read back when
// short, else copied on the server as the first part.
func (d *s3Driver) appendToObject(ctx context.Context, path string) (storagedriver.FileWriter, error) {
	key := d.key(path)
	oi, err := d.core.StatObject(ctx, d.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		if notFound(err) {
			return nil, storagedriver.PathNotFoundError{Path: path}
		}
		return nil, d.fail(err)
	}
	var buf []byte
	if oi.Size > 0 && oi.Size < s3PartSize {
		if buf, err = d.GetContent(ctx, path); err != nil {
			return nil, err
		}
	}
	id, err := d.core.NewMultipartUpload(ctx, d.bucket, key, minio.PutObjectOptions{})
	if err != nil {
		return nil, d.fail(err)
	}
	w := &s3Writer{ctx: ctx, d: d, key: key, id: id, buf: buf}
	if oi.Size >= s3PartSize {
		p, err := d.core.CopyObjectPart(ctx, d.bucket, key, d.bucket, key, id, 1, 0, oi.Size, nil)
		if err != nil {
			return nil, d.fail(err)
		}
		w.parts, w.sent = []minio.CompletePart{{PartNumber: 1, ETag: p.ETag}}, oi.Size
	}
	return w, nil
}

// s3Writer is one request's view of an open multipart upload: full parts
// go to S3 as they fill, the rest is kept in buf and stored as the tail
// on Close.
type s3Writer struct {
	ctx     context.Context
	d       *s3Driver
	key, id string
	parts   []minio.CompletePart
	sent    int64 // bytes in parts
	buf     []byte
	hadTail bool

	closed, committed, canceled bool
}

func (w *s3Writer) Size() int64 { return w.sent + int64(len(w.buf)) }

func (w *s3Writer) check() error {
	switch {
	case w.closed:
		return fmt.Errorf("ciwarden-s3: writer already closed")
	case w.committed:
		return fmt.Errorf("ciwarden-s3: writer already committed")
	case w.canceled:
		return fmt.Errorf("ciwarden-s3: writer already canceled")
	}
	return nil
}

func (w *s3Writer) Write(p []byte) (int, error) {
	if err := w.check(); err != nil {
		return 0, err
	}
	n := 0
	for len(p) > 0 {
		take := min(len(p), s3PartSize-len(w.buf))
		w.buf = append(w.buf, p[:take]...)
		p, n = p[take:], n+take
		if len(w.buf) == s3PartSize {
			if err := w.sendPart(); err != nil {
				return n - take, err
			}
		}
	}
	return n, nil
}

// sendPart uploads buf as the next part.
func (w *s3Writer) sendPart() error {
	num := len(w.parts) + 1
	if num > s3MaxParts {
		return w.d.fail(fmt.Errorf("a blob larger than %d parts of %d bytes", s3MaxParts, s3PartSize))
	}
	p, err := w.d.core.PutObjectPart(w.ctx, w.d.bucket, w.key, w.id, num, bytes.NewReader(w.buf), int64(len(w.buf)), minio.PutObjectPartOptions{})
	if err != nil {
		return w.d.fail(err)
	}
	w.parts = append(w.parts, minio.CompletePart{PartNumber: num, ETag: p.ETag})
	w.sent += int64(len(w.buf))
	w.buf = w.buf[:0]
	return nil
}

// Close keeps the upload open for the next request: the short end goes to
// the tail object (or the old tail is dropped when it went into a part).
func (w *s3Writer) Close() error {
	if w.closed {
		return fmt.Errorf("ciwarden-s3: writer already closed")
	}
	w.closed = true
	if w.committed || w.canceled {
		return nil
	}
	tail := w.d.tailKey(w.id)
	if len(w.buf) > 0 {
		if _, err := w.d.core.PutObject(w.ctx, w.d.bucket, tail, bytes.NewReader(w.buf), int64(len(w.buf)), "", "", minio.PutObjectOptions{}); err != nil {
			return w.d.fail(err)
		}
	} else if w.hadTail {
		if err := w.d.core.RemoveObject(w.ctx, w.d.bucket, tail, minio.RemoveObjectOptions{}); err != nil && !notFound(err) {
			return w.d.fail(err)
		}
	}
	return nil
}

// Cancel aborts the upload: its parts and tail go.
func (w *s3Writer) Cancel(ctx context.Context) error {
	if err := w.check(); err != nil {
		return err
	}
	w.canceled = true
	if err := w.d.core.AbortMultipartUpload(ctx, w.d.bucket, w.key, w.id); err != nil && minio.ToErrorResponse(err).Code != minio.NoSuchUpload {
		return w.d.fail(err)
	}
	return w.dropTail(ctx)
}

func (w *s3Writer) dropTail(ctx context.Context) error {
	if err := w.d.core.RemoveObject(ctx, w.d.bucket, w.d.tailKey(w.id), minio.RemoveObjectOptions{}); err != nil && !notFound(err) {
		return w.d.fail(err)
	}
	return nil
}

// Commit makes the object: the buffered end is the last part (which may
// be short); an upload with no byte at all becomes an empty object.
func (w *s3Writer) Commit(ctx context.Context) error {
	if err := w.check(); err != nil {
		return err
	}
	if len(w.parts) == 0 && len(w.buf) == 0 {
		if _, err := w.d.core.PutObject(ctx, w.d.bucket, w.key, bytes.NewReader(nil), 0, "", "", minio.PutObjectOptions{}); err != nil {
			return w.d.fail(err)
		}
		w.committed = true
		if err := w.d.core.AbortMultipartUpload(ctx, w.d.bucket, w.key, w.id); err != nil && minio.ToErrorResponse(err).Code != minio.NoSuchUpload {
			return w.d.fail(err)
		}
		return w.dropTail(ctx)
	}
	if len(w.buf) > 0 {
		if err := w.sendPart(); err != nil {
			return err
		}
	}
	if _, err := w.d.core.CompleteMultipartUpload(ctx, w.d.bucket, w.key, w.id, w.parts, minio.PutObjectOptions{}); err != nil {
		return w.d.fail(err)
	}
	w.committed = true
	return w.dropTail(ctx)
}
