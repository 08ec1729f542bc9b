package registry_test

import (
	"context"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ciwarden/ciwarden/internal/registry"
	"github.com/ciwarden/ciwarden/internal/testserver"
)

// blobFiles counts the registry's stored blobs.
func blobFiles(t *testing.T, dataDir string) int {
	t.Helper()
	n := 0
	root := filepath.Join(registry.StorageDir(dataDir), "docker", "registry", "v2", "blobs")
	err := filepath.WalkDir(root, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == "data" {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestGarbageCollect: a deleted tag's blobs stay until the collection,
// which frees them and keeps every blob of the tags still there.
func TestGarbageCollect(t *testing.T) {
	t.Parallel()
	s := testserver.New(t, testserver.Options{})
	team := s.NewTeam(t, "private")
	push(t, s, team.Dev, "grp/app:keep")
	push(t, s, team.Dev, "grp/app:drop")
	before := blobFiles(t, s.DataDir)
	list := s.Expect(t, "GET", "/api/v4/projects/"+testserver.Itoa(team.Project.ID)+"/registry/repositories", team.Maint.Token, nil, 200).List(t)
	rid := testserver.Itoa(testserver.Num(t, list[0], "id"))
	s.Expect(t, "DELETE", "/api/v4/projects/"+testserver.Itoa(team.Project.ID)+"/registry/repositories/"+rid+"/tags/drop", team.Maint.Token, nil, 200)
	if n := blobFiles(t, s.DataDir); n != before {
		t.Fatalf("blobs after the tag's deletion: %d, want %d still", n, before)
	}
	ctx := context.Background()
	if err := registry.GarbageCollect(ctx, s.DataDir, nil, true, true); err != nil {
		t.Fatal(err)
	}
	if n := blobFiles(t, s.DataDir); n != before {
		t.Fatalf("a dry run deleted blobs: %d, want %d", n, before)
	}
	if err := registry.GarbageCollect(ctx, s.DataDir, nil, false, true); err != nil {
		t.Fatal(err)
	}
	// One image: a config, a layer and its manifest.
	if n := blobFiles(t, s.DataDir); n != before-3 {
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
