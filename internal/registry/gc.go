package registry

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/distribution/distribution/v3/registry/storage"
	"github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
)

// StorageDir is where the images of a data directory live.
func StorageDir(dataDir string) string { return filepath.Join(dataDir, "registry", "storage") }

// GarbageCollect frees the blobs no manifest refers to any more (after
// tag and repository deletions), with Distribution's mark and sweep; with
// untagged, manifests no tag names go too. It is safe only while nothing
// pushes: a blob uploaded for a push whose manifest is not yet written is
// unreferenced, and would be deleted (README, "Container registry").
func GarbageCollect(ctx context.Context, dataDir string, dryRun, untagged bool) error {
	root := StorageDir(dataDir)
	if _, err := os.Stat(filepath.Join(root, "docker")); os.IsNotExist(err) {
		return nil // nothing was ever pushed
	}
	driver := filesystem.New(filesystem.DriverParameters{RootDirectory: root, MaxThreads: 100})
	ns, err := storage.NewRegistry(ctx, driver, storage.EnableDelete)
	if err != nil {
		return fmt.Errorf("registry gc: %w", err)
	}
	return storage.MarkAndSweep(ctx, driver, ns, storage.GCOpts{DryRun: dryRun, RemoveUntagged: untagged, Quiet: true})
}
