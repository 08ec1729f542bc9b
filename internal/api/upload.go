package api

import (
	"errors"
	"io"
	"net/http"

	"github.com/ciwarden/ciwarden/internal/blob"
	"github.com/ciwarden/ciwarden/internal/model"
)

// limitedBody counts an upload (an artifact's file part, a package file)
// against a size limit while it streams, since a chunked body announces no
// length to check up front, and remembers a failure of the client's side,
// so that the handler can tell its 413 and 400 from the store's own errors.
type limitedBody struct {
	r    io.Reader
	left int64
	// tooLarge: more than the limit arrived, or an http.MaxBytesReader
	// beneath said so.
	tooLarge bool
	// readErr is the client's stream failing (cut short, malformed).
	readErr error
}

var errBodyTooLarge = errors.New("upload larger than the maximum")

func (b *limitedBody) Read(p []byte) (int, error) {
	// One byte past the limit is enough to know it is exceeded.
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		b.tooLarge = true
		return n, errBodyTooLarge
	}
	if err != nil && err != io.EOF {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			b.tooLarge = true
		}
		b.readErr = err
	}
	return n, err
}

// openBlob opens a stored file for a download. A blob gone under its row
// (swept or deleted as the row was read) answers as missing, with the
// route's own not-found error.
func (a *API) openBlob(c *Ctx, key string, missing error) (blob.Object, error) {
	obj, err := a.Blobs.Open(c.Context(), key)
	if errors.Is(err, model.ErrNotFound) {
		return nil, missing
	}
	return obj, err
}
