package blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3 multipart limits (AWS documentation, "Amazon S3 multipart upload
// limits"): every part but the last is at least 5 MiB, a part is at most
// 5 GiB, an upload has at most 10,000 parts.
const (
	maxS3KeyLen = 1024
	minPartSize = 5 << 20
	maxPartSize = 5 << 30
	maxParts    = 10000
	// DefaultPartSize bounds a Put's memory (one part is buffered at a
	// time) while allowing 156 GiB blobs of unknown size.
	DefaultPartSize = 16 << 20
	// firstReadSize is how much a Put of unknown size reads before it knows
	// whether the blob is small: most are, and a small buffer keeps many
	// concurrent small uploads from each holding a whole part.
	firstReadSize = 1 << 20
	// abortTimeout bounds the cleanup of a failed multipart upload, which
	// runs even though the Put's context may be canceled.
	abortTimeout = time.Minute
)

// S3Config says where an S3 store lives.
type S3Config struct {
	// Endpoint is host[:port], without a scheme; UseSSL picks https.
	Endpoint  string
	Bucket    string
	AccessKey string
	SecretKey string
	// Region may be empty: the client then asks the bucket for it.
	Region string
	UseSSL bool
	// Prefix is prepended to every key ("ciwarden/" puts everything under
	// that folder), so that one bucket can serve several installations.
	Prefix string
	// PartSize is the size of each multipart part, and so the memory one
	// Put holds: 0 means DefaultPartSize (16 MiB); at least 5 MiB. With an
	// unknown size a Put can store at most 10,000 parts (156 GiB at 16 MiB).
	PartSize int64
}

// S3ConfigFromEnv reads an S3Config from the environment through getenv
// (os.Getenv in production): CIWARDEN_S3_ENDPOINT (host:port, or an http://
// or https:// URL; without a scheme TLS is used), CIWARDEN_S3_BUCKET,
// CIWARDEN_S3_REGION (else AWS_REGION, AWS_DEFAULT_REGION),
// CIWARDEN_S3_PREFIX, and the credentials CIWARDEN_S3_ACCESS_KEY and
// CIWARDEN_S3_SECRET_KEY, or else AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
// An unset CIWARDEN_S3_ENDPOINT returns a zero config and no error: S3 is
// not configured and the caller uses the filesystem.
func S3ConfigFromEnv(getenv func(string) string) (S3Config, error) {
	endpoint := getenv("CIWARDEN_S3_ENDPOINT")
	if endpoint == "" {
		return S3Config{}, nil
	}
	c := S3Config{
		Endpoint: endpoint,
		UseSSL:   true,
		Bucket:   getenv("CIWARDEN_S3_BUCKET"),
		Region:   firstSet(getenv, "CIWARDEN_S3_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"),
		Prefix:   getenv("CIWARDEN_S3_PREFIX"),
	}
	if strings.Contains(endpoint, "://") {
		u, err := url.Parse(endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.Trim(u.Path, "/") != "" {
			return S3Config{}, fmt.Errorf("blob: CIWARDEN_S3_ENDPOINT %q must be host:port or http(s)://host:port", endpoint)
		}
		c.Endpoint, c.UseSSL = u.Host, u.Scheme == "https"
	}
	// Take both halves of the credentials from one source, never mix them.
	if getenv("CIWARDEN_S3_ACCESS_KEY") != "" || getenv("CIWARDEN_S3_SECRET_KEY") != "" {
		c.AccessKey, c.SecretKey = getenv("CIWARDEN_S3_ACCESS_KEY"), getenv("CIWARDEN_S3_SECRET_KEY")
	} else {
		c.AccessKey, c.SecretKey = getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
	}
	switch {
	case c.Bucket == "":
		return S3Config{}, errors.New("blob: CIWARDEN_S3_ENDPOINT is set but CIWARDEN_S3_BUCKET is not")
	case c.AccessKey == "" || c.SecretKey == "":
		return S3Config{}, errors.New("blob: S3 needs both an access key and a secret key (CIWARDEN_S3_ACCESS_KEY and CIWARDEN_S3_SECRET_KEY, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")
	}
	return c, nil
}

func firstSet(getenv func(string) string, names ...string) string {
	for _, n := range names {
		if v := getenv(n); v != "" {
			return v
		}
	}
	return ""
}

// S3 stores blobs as objects in an S3 bucket, under Prefix + key.
//
// A Put writes straight to the final key, because an S3 write is already
// atomic: a single PUT creates the object only when the server has received
// the whole body (AWS: "Amazon S3 never adds partial objects"), and a
// multipart upload's parts stay invisible to GET and LIST until
// CompleteMultipartUpload assembles them. So Put sends CompleteMultipartUpload
// only after the reader reached io.EOF without error, and aborts the upload
// otherwise. Writing to a temporary key and copying would move every byte
// twice (CopyObject is a full copy on most servers, and needs
// ComposeObject past 5 GiB), rely on the same atomic PUT for the copy, and
// leave a visible temporary object behind after a crash; here a crash
// leaves only an incomplete multipart upload, invisible, removed by
// CleanTemp (or a bucket lifecycle rule, AbortIncompleteMultipartUpload).
//
// As with any remote write, one outcome is ambiguous: if the connection
// drops after the server committed the last request (the PUT, or
// CompleteMultipartUpload) but before its answer arrived, Put reports an
// error although the complete new object is in place. Never a partial one.
//
// Every request body is a complete in-memory buffer of at most PartSize
// bytes: the caller's reader is never streamed into a request, so a reader
// that fails midway never produces a short body, and the client can retry a
// request after a network error.
type S3 struct {
	client   *minio.Client
	core     minio.Core
	bucket   string
	prefix   string
	partSize int64
}

var _ Store = (*S3)(nil)

// NewS3 connects to the bucket and checks that it exists.
func NewS3(ctx context.Context, cfg S3Config) (*S3, error) {
	switch {
	case cfg.Endpoint == "" || strings.Contains(cfg.Endpoint, "/"):
		return nil, fmt.Errorf("blob: S3 endpoint %q must be host[:port]", cfg.Endpoint)
	case cfg.Bucket == "":
		return nil, errors.New("blob: S3 bucket is required")
	case cfg.AccessKey == "" || cfg.SecretKey == "":
		return nil, errors.New("blob: S3 access key and secret key are required")
	}
	partSize := cfg.PartSize
	if partSize == 0 {
		partSize = DefaultPartSize
	}
	if partSize < minPartSize || partSize > maxPartSize {
		return nil, fmt.Errorf("blob: S3 part size %d is outside [5 MiB, 5 GiB]", partSize)
	}
	prefix := strings.Trim(cfg.Prefix, "/")
	if prefix != "" {
		if err := CheckKey(prefix); err != nil {
			return nil, fmt.Errorf("blob: S3 prefix: %w", err)
		}
		prefix += "/"
	}
	if len(prefix)+MaxKeyLen > maxS3KeyLen {
		return nil, fmt.Errorf("blob: S3 prefix longer than %d bytes", maxS3KeyLen-MaxKeyLen)
	}
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure: cfg.UseSSL,
		Region: cfg.Region,
	})
	if err != nil {
		return nil, fmt.Errorf("blob: S3 client: %w", err)
	}
	ok, err := client.BucketExists(ctx, cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("blob: S3 bucket %q at %s: %w", cfg.Bucket, cfg.Endpoint, err)
	}
	if !ok {
		return nil, fmt.Errorf("blob: S3 bucket %q does not exist at %s", cfg.Bucket, cfg.Endpoint)
	}
	return &S3{client: client, core: minio.Core{Client: client}, bucket: cfg.Bucket, prefix: prefix, partSize: partSize}, nil
}

func (s *S3) Put(ctx context.Context, key string, r io.Reader, size int64) (Info, error) {
	if err := CheckKey(key); err != nil {
		return Info{}, err
	}
	if err := ctx.Err(); err != nil {
		return Info{}, fmt.Errorf("blob: put %s: %w", key, err)
	}
	name := s.prefix + key
	partSize := s.partSize
	if size > partSize*maxParts {
		// Known to be huge: grow the parts to fit the part limit.
		partSize = (size + maxParts - 1) / maxParts
		if partSize > maxPartSize {
			return Info{}, fmt.Errorf("%w: %d bytes is more than S3 can store (put %s)", ErrTooLarge, size, key)
		}
	}
	dr := newDigestReader(r, size)

	// One size+1 read tells a small blob of known size from the rest; the
	// extra byte lets the digestReader see a stream longer than declared.
	first := int64(firstReadSize)
	if size >= 0 {
		first = min(size+1, partSize)
	}
	buf := make([]byte, first)
	n, eof, err := fill(ctx, dr, buf)
	if err != nil {
		return Info{}, ctxError(ctx, key, readError(key, err))
	}
	if eof {
		up, err := s.core.PutObject(ctx, s.bucket, name, bytes.NewReader(buf[:n]), int64(n), "", "", minio.PutObjectOptions{})
		if err != nil {
			return Info{}, ctxError(ctx, key, fmt.Errorf("blob: put %s: %w", key, err))
		}
		return Info{Key: key, Size: dr.n, SHA256: dr.sum(), ModTime: modTime(up.LastModified)}, nil
	}
	if int64(len(buf)) < partSize {
		big := make([]byte, partSize)
		copy(big, buf[:n])
		buf = big
		m, e, err := fill(ctx, dr, buf[n:])
		if err != nil {
			return Info{}, ctxError(ctx, key, readError(key, err))
		}
		n, eof = n+m, e
	}
	up, err := s.putMultipart(ctx, key, dr, buf, n, eof)
	if err != nil {
		return Info{}, ctxError(ctx, key, err)
	}
	return Info{Key: key, Size: dr.n, SHA256: dr.sum(), ModTime: modTime(up.LastModified)}, nil
}

// putMultipart uploads buf[:n] as the first part and the rest of r in
// parts of len(buf), completing the upload only after r reached io.EOF
// and aborting it on any error.
func (s *S3) putMultipart(ctx context.Context, key string, r io.Reader, buf []byte, n int, eof bool) (_ minio.UploadInfo, err error) {
	name := s.prefix + key
	id, err := s.core.NewMultipartUpload(ctx, s.bucket, name, minio.PutObjectOptions{})
	if err != nil {
		return minio.UploadInfo{}, fmt.Errorf("blob: put %s: %w", key, err)
	}
	defer func() {
		if err != nil {
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
			defer cancel()
			if aerr := s.core.AbortMultipartUpload(actx, s.bucket, name, id); aerr != nil {
				err = fmt.Errorf("%w (and aborting the upload failed, CleanTemp will retry: %v)", err, aerr)
			}
		}
	}()
	var parts []minio.CompletePart
	for num := 1; ; num++ {
		if num > maxParts {
			return minio.UploadInfo{}, fmt.Errorf("%w: more than %d parts of %d bytes; declare the size or raise PartSize (put %s)", ErrTooLarge, maxParts, len(buf), key)
		}
		p, err := s.core.PutObjectPart(ctx, s.bucket, name, id, num, bytes.NewReader(buf[:n]), int64(n), minio.PutObjectPartOptions{})
		if err != nil {
			return minio.UploadInfo{}, fmt.Errorf("blob: put %s: %w", key, err)
		}
		parts = append(parts, minio.CompletePart{PartNumber: num, ETag: p.ETag,
			ChecksumCRC32: p.ChecksumCRC32, ChecksumCRC32C: p.ChecksumCRC32C,
			ChecksumSHA1: p.ChecksumSHA1, ChecksumSHA256: p.ChecksumSHA256, ChecksumCRC64NVME: p.ChecksumCRC64NVME})
		if eof {
			break
		}
		if n, eof, err = fill(ctx, r, buf); err != nil {
			return minio.UploadInfo{}, readError(key, err)
		}
		if n == 0 && eof {
			break
		}
	}
	// After Complete the object exists; a cancellation must win before.
	if err := ctx.Err(); err != nil {
		return minio.UploadInfo{}, fmt.Errorf("blob: put %s: %w", key, err)
	}
	up, err := s.core.CompleteMultipartUpload(ctx, s.bucket, name, id, parts, minio.PutObjectOptions{})
	if err != nil {
		return minio.UploadInfo{}, fmt.Errorf("blob: put %s: %w", key, err)
	}
	return up, nil
}

func modTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now()
	}
	return t
}

// s3Error turns a 404 for the object into ErrNotFound; a missing bucket is
// a configuration problem, not a missing blob, and stays as it is.
func s3Error(op, key string, err error) error {
	resp := minio.ToErrorResponse(err)
	switch {
	case resp.Code == minio.NoSuchBucket:
		return fmt.Errorf("blob: %s %s: %w", op, key, err)
	case resp.Code == minio.NoSuchKey || resp.StatusCode == http.StatusNotFound:
		return fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	return fmt.Errorf("blob: %s %s: %w", op, key, err)
}

func (s *S3) Stat(ctx context.Context, key string) (Info, error) {
	if err := CheckKey(key); err != nil {
		return Info{}, err
	}
	oi, err := s.client.StatObject(ctx, s.bucket, s.prefix+key, minio.StatObjectOptions{})
	if err != nil {
		return Info{}, s3Error("stat", key, err)
	}
	return Info{Key: key, Size: oi.Size, ModTime: oi.LastModified}, nil
}

func (s *S3) Open(ctx context.Context, key string) (Object, error) {
	if err := CheckKey(key); err != nil {
		return nil, err
	}
	oi, err := s.client.StatObject(ctx, s.bucket, s.prefix+key, minio.StatObjectOptions{})
	if err != nil {
		return nil, s3Error("open", key, err)
	}
	return &s3Object{ctx: ctx, s: s, key: key, size: oi.Size, etag: oi.ETag}, nil
}

// Delete removes the object; S3 answers a DELETE of a missing key with
// success, which is the contract.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	if err := s.client.RemoveObject(ctx, s.bucket, s.prefix+key, minio.RemoveObjectOptions{}); err != nil {
		if errors.Is(s3Error("delete", key, err), ErrNotFound) {
			return nil
		}
		return fmt.Errorf("blob: delete %s: %w", key, err)
	}
	return nil
}

// List skips objects under the prefix whose names are not valid keys: they
// were not written by a Store, and Delete could not name them anyway.
func (s *S3) List(ctx context.Context, prefix string) iter.Seq2[Info, error] {
	return func(yield func(Info, error) bool) {
		if err := checkPrefix(prefix); err != nil {
			yield(Info{}, err)
			return
		}
		for oi := range s.client.ListObjectsIter(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix + prefix, Recursive: true}) {
			if oi.Err != nil {
				yield(Info{}, fmt.Errorf("blob: list %q: %w", prefix, oi.Err))
				return
			}
			key, ok := strings.CutPrefix(oi.Key, s.prefix)
			if !ok || CheckKey(key) != nil {
				continue
			}
			if !yield(Info{Key: key, Size: oi.Size, ModTime: oi.LastModified}, nil) {
				return
			}
		}
	}
}

// CleanTemp aborts incomplete multipart uploads under the prefix that were
// started before the given time: the debris of Puts cut short by a crash.
func (s *S3) CleanTemp(ctx context.Context, before time.Time) (int, error) {
	removed := 0
	for up := range s.client.ListIncompleteUploads(ctx, s.bucket, s.prefix, true) {
		if up.Err != nil {
			return removed, fmt.Errorf("blob: clean temporaries: %w", up.Err)
		}
		// The container registry's uploads under registry/ stay open
		// across requests for as long as a push session lasts; the
		// registry purges its own (internal/registry, s3driver.go).
		if !up.Initiated.Before(before) || strings.HasPrefix(up.Key, s.prefix+"registry/") {
			continue
		}
		if err := s.core.AbortMultipartUpload(ctx, s.bucket, up.Key, up.UploadID); err != nil {
			if minio.ToErrorResponse(err).Code == minio.NoSuchUpload {
				continue // completed or aborted meanwhile
			}
			return removed, fmt.Errorf("blob: clean temporaries: %w", err)
		}
		removed++
	}
	return removed, nil
}

// s3Object reads one version of an object: every GET carries If-Match with
// the ETag seen at Open, so a replaced object fails with ErrChanged instead
// of splicing two versions together. Read streams one GET from the current
// offset, opened lazily and reopened after a Seek; ReadAt issues its own
// ranged GET, so concurrent ReadAts are independent.
type s3Object struct {
	ctx  context.Context
	s    *S3
	key  string
	size int64
	etag string

	off    int64
	body   io.ReadCloser // positioned at off, or nil
	closed bool
}

func (o *s3Object) Size() int64 { return o.size }

// get fetches [off, end] (end -1: to the end of the object).
func (o *s3Object) get(off, end int64) (io.ReadCloser, error) {
	var opts minio.GetObjectOptions
	if o.etag != "" {
		opts.SetMatchETag(o.etag)
	}
	switch {
	case end >= 0:
		opts.SetRange(off, end)
	case off > 0:
		opts.SetRange(off, 0)
	}
	body, _, _, err := o.s.core.GetObject(o.ctx, o.s.bucket, o.s.prefix+o.key, opts)
	if err != nil {
		resp := minio.ToErrorResponse(err)
		if resp.StatusCode == http.StatusPreconditionFailed || (resp.StatusCode == http.StatusNotFound && resp.Code != minio.NoSuchBucket) {
			return nil, fmt.Errorf("%w: %s", ErrChanged, o.key)
		}
		return nil, fmt.Errorf("blob: read %s: %w", o.key, err)
	}
	return body, nil
}

func (o *s3Object) Read(p []byte) (int, error) {
	if o.closed {
		return 0, os.ErrClosed
	}
	if o.off >= o.size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if o.body == nil {
		body, err := o.get(o.off, -1)
		if err != nil {
			return 0, err
		}
		o.body = body
	}
	n, err := o.body.Read(p)
	o.off += int64(n)
	switch {
	case err == io.EOF && o.off < o.size:
		o.dropBody()
		return n, fmt.Errorf("blob: read %s: %w", o.key, io.ErrUnexpectedEOF)
	case err == io.EOF:
		o.dropBody()
		if n > 0 {
			return n, nil
		}
		return 0, io.EOF
	case err != nil:
		o.dropBody()
		return n, fmt.Errorf("blob: read %s: %w", o.key, err)
	}
	return n, nil
}

func (o *s3Object) dropBody() {
	if o.body != nil {
		o.body.Close()
		o.body = nil
	}
}

func (o *s3Object) Seek(offset int64, whence int) (int64, error) {
	if o.closed {
		return 0, os.ErrClosed
	}
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = o.off + offset
	case io.SeekEnd:
		abs = o.size + offset
	default:
		return 0, fmt.Errorf("blob: seek %s: bad whence %d", o.key, whence)
	}
	if abs < 0 {
		return 0, fmt.Errorf("blob: seek %s: negative position", o.key)
	}
	if abs != o.off {
		o.dropBody()
		o.off = abs
	}
	return abs, nil
}

func (o *s3Object) ReadAt(p []byte, off int64) (int, error) {
	if o.closed {
		return 0, os.ErrClosed
	}
	if off < 0 {
		return 0, fmt.Errorf("blob: read %s: negative offset", o.key)
	}
	if off >= o.size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	want := min(int64(len(p)), o.size-off)
	body, err := o.get(off, off+want-1)
	if err != nil {
		return 0, err
	}
	defer body.Close()
	n, err := io.ReadFull(body, p[:want])
	if err != nil {
		return n, fmt.Errorf("blob: read %s: %w", o.key, err)
	}
	if want < int64(len(p)) {
		return n, io.EOF
	}
	return n, nil
}

func (o *s3Object) Close() error {
	if o.closed {
		return os.ErrClosed
	}
	o.closed = true
	o.dropBody()
	return nil
}

// Bucket is the S3 client, bucket and key prefix ("" or ending in "/")
// this store writes under, for the container registry's storage driver,
// which keeps its own layout under the same prefix (registry/...).
func (s *S3) Bucket() (core minio.Core, bucket, prefix string) {
	return s.core, s.bucket, s.prefix
}
