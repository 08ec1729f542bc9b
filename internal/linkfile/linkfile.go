// Package linkfile creates a small file once, whole or not at all, however
// many processes try at the same moment, on a local or a shared (NFS)
// file system: the instance key, a storage's identity marker.
package linkfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// Create writes data to path unless path exists, and reports whether it
// did. The data is written to a temporary file beside path (mode 0600),
// synced and linked into place: link(2) fails if the name exists, on NFS
// as well, so of processes creating the file at once one wins and the
// others find its file, and a crash never leaves a partial one.
func Create(path string, data []byte) (created bool, err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, err
	}
	if err := os.Link(tmp.Name(), path); errors.Is(err, fs.ErrExist) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return true, nil
}
