package registry_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ciwarden/ciwarden/internal/blob"
	"github.com/ciwarden/ciwarden/internal/registry"
	"github.com/ciwarden/ciwarden/internal/testblob"
	"github.com/ciwarden/ciwarden/internal/testserver"
)

// blobFiles counts the registry's stored blobs: the files named data
// under docker/registry/v2/blobs, in the data directory or, on S3, in
// versitygw's posix directory (an object is a file there).
func blobFiles(t *testing.T, s *testserver.Server) int {
	t.Helper()
	n := 0
	root := registry.StorageDir(s.DataDir)
	if s.S3 != nil {
		root = filepath.Join(s.S3.Dir, s.S3.Bucket)
	}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == "data" && strings.Contains(p, "/docker/registry/v2/blobs/") {
			n++
		}
		if os.IsNotExist(err) {
			return nil
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestGarbageCollect: a deleted tag's blobs stay until the collection,
// which frees them and keeps every blob of the tags still there; on the
// local disk and in S3 (versitygw), where nothing goes to the disk.
func TestGarbageCollect(t *testing.T) {
	t.Parallel()
	for _, storage := range []string{"fs", "s3"} {
		t.Run(storage, func(t *testing.T) {
			var o testserver.Options
			if storage == "s3" {
				o.S3 = testblob.Start(t)
			}
			garbageCollect(t, testserver.New(t, o))
		})
	}
}

func garbageCollect(t *testing.T, s *testserver.Server) {
	var store *blob.S3
	if s.S3 != nil {
		store = s.Srv.Blobs().(*blob.S3)
	}
	team := s.NewTeam(t, "private")
	push(t, s, team.Dev, "grp/app:keep")
	push(t, s, team.Dev, "grp/app:drop")
	before := blobFiles(t, s)
	if before == 0 {
		t.Fatal("no blob stored")
	}
	if _, err := os.Stat(filepath.Join(registry.StorageDir(s.DataDir), "docker")); (err == nil) != (s.S3 == nil) {
		t.Errorf("images on the local disk: %v, want them there only without S3", err == nil)
	}
	list := s.Expect(t, "GET", "/api/v4/projects/"+testserver.Itoa(team.Project.ID)+"/registry/repositories", team.Maint.Token, nil, 200).List(t)
	rid := testserver.Itoa(testserver.Num(t, list[0], "id"))
	s.Expect(t, "DELETE", "/api/v4/projects/"+testserver.Itoa(team.Project.ID)+"/registry/repositories/"+rid+"/tags/drop", team.Maint.Token, nil, 200)
	if n := blobFiles(t, s); n != before {
		t.Fatalf("blobs after the tag's deletion: %d, want %d still", n, before)
	}
	ctx := context.Background()
	if err := registry.GarbageCollect(ctx, s.DataDir, store, true, true); err != nil {
		t.Fatal(err)
	}
	if n := blobFiles(t, s); n != before {
		t.Fatalf("a dry run deleted blobs: %d, want %d", n, before)
	}
	if err := registry.GarbageCollect(ctx, s.DataDir, store, false, true); err != nil {
		t.Fatal(err)
	}
	// One image: a config, a layer and its manifest.
	if n := blobFiles(t, s); n != before-3 {
		t.Fatalf("blobs after the collection: %d, want %d", n, before-3)
	}
	img, err := remote.Image(ref(t, s, "grp/app:keep"), basicAuth("reporter", team.Reporter.Token))
	if err != nil {
		t.Fatal(err)
	}
	if err := func() error { _, err := img.RawConfigFile(); return err }(); err != nil {
		t.Fatalf("the kept image after the collection: %v", err)
	}
	layers, _ := img.Layers()
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatalf("the kept image's layer: %v", err)
		}
		rc.Close()
	}
}
