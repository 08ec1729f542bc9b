package blob

import (
	"errors"
	"io"
	"net/http"

	"github.com/ciwarden/ciwarden/internal/model"
)

// Limited counts an upload (an artifact's file part, a package file)
// against a size limit while it streams, since a chunked body announces
// no length to check up front, and remembers a failure of the client's
// side, so that the service storing it can tell an oversized or broken
// upload from the store's own errors.
type Limited struct {
	r    io.Reader
	left int64
	// tooLarge: more than the limit arrived, or an http.MaxBytesReader
	// beneath said so.
	tooLarge bool
	// readErr is the client's stream failing (cut short, malformed).
	readErr error
}

// Limit reads r up to max bytes; one more fails with model.ErrTooLarge.
func Limit(r io.Reader, max int64) *Limited { return &Limited{r: r, left: max} }

func (b *Limited) Read(p []byte) (int, error) {
	// One byte past the limit is enough to know it is exceeded.
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		b.tooLarge = true
		return n, model.ErrTooLarge
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

// TooLarge reports whether the upload went over the limit.
func (b *Limited) TooLarge() bool { return b.tooLarge }

// ReadErr is the client's stream failing, or nil.
func (b *Limited) ReadErr() error { return b.readErr }
