package registry

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/distribution/distribution/v3/registry/storage"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"

	"github.com/ciwarden/ciwarden/internal/blob"
)

// StorageDir is where the images of a data directory live.
func StorageDir(dataDir string) string { return filepath.Join(dataDir, "registry", "storage") }

// GarbageCollect frees the blobs no manifest refers to any more (after
// tag and repository deletions), with Distribution's mark and sweep; with
// untagged, manifests no tag names go too. The images are in s3 when it
// is set (as the server keeps them with --s3-*), else under dataDir. It is
// safe only while nothing pushes: a blob uploaded for a push whose
// manifest is not yet written is unreferenced, and would be deleted
// (README, "Container registry").
func GarbageCollect(ctx context.Context, dataDir string, s3 *blob.S3, dryRun, untagged bool) error {
	if s3 == nil {
		if _, err := os.Stat(filepath.Join(StorageDir(dataDir), "docker")); os.IsNotExist(err) {
			return nil // nothing was ever pushed
		}
	}
	_, _, driver, err := openStorage(filepath.Join(dataDir, "registry"), s3)
	if err != nil {
		return fmt.Errorf("registry gc: %w", err)
	}
	ns, err := storage.NewRegistry(ctx, driver, storage.EnableDelete)
	if err != nil {
		return fmt.Errorf("registry gc: %w", err)
	}
	err = storage.MarkAndSweep(ctx, driver, ns, storage.GCOpts{DryRun: dryRun, RemoveUntagged: untagged, Quiet: true})
	var missing storagedriver.PathNotFoundError
	if s3 != nil && errors.As(err, &missing) {
		return nil // nothing was ever pushed to the bucket
	}
	return err
}
