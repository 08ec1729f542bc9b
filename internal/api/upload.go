package api

import (
	"errors"

	"github.com/ciwarden/ciwarden/internal/blob"
	"github.com/ciwarden/ciwarden/internal/model"
)

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
