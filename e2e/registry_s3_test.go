package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/testblob"
	"github.com/ciwarden/ciwarden/internal/testserver"
)

// TestRegistryS3Crane: with --s3-* the images live in the bucket (under
// registry/), nothing under the data directory: crane pushes a 40 MiB
// layer (more than two of the S3 driver's 16 MiB parts, its upload
// reopened by the closing PUT), pulls it back byte for byte, and after
// the tag's deletion `ciwarden registry gc`, given the same CIWARDEN_S3_*
// environment, frees its blobs in the bucket.
func TestRegistryS3Crane(t *testing.T) {
	craneBin := crane(t)
	g := testblob.Start(t)
	s := start(t, testserver.Options{S3: g})
	grp := s.CreateGroup(t, "grp", 0, "private")
	p := s.CreateProject(t, grp, "app", "private")
	host := strings.TrimPrefix(s.URL, "http://")
	work := t.TempDir()

	big := make([]byte, 40<<20)
	rand.Read(big)
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	tw.WriteHeader(&tar.Header{Name: "big.bin", Mode: 0o644, Size: int64(len(big)), Typeflag: tar.TypeReg})
	tw.Write(big)
	tw.Close()
	if err := os.WriteFile(filepath.Join(work, "layer.tar"), layer.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(stdin []byte, args ...string) []byte {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, craneBin, args...)
		cmd.Dir = work
		cmd.Env = append(testserver.CleanEnv(), "DOCKER_CONFIG="+filepath.Join(work, "docker"))
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("crane %s: %v\n%s", strings.Join(args, " "), err, errb.String())
		}
		return out.Bytes()
	}
	run(nil, "auth", "login", host, "-u", "root", "-p", s.RootToken)
	run(nil, "append", "--insecure", "-f", "layer.tar", "-t", host+"/grp/app:big")

	exported := run(nil, "export", "--insecure", host+"/grp/app:big", "-")
	tr := tar.NewReader(bytes.NewReader(exported))
	hdr, err := tr.Next()
	if err != nil || hdr.Name != "big.bin" {
		t.Fatalf("the pulled image's file: %v %v", hdr, err)
	}
	var got bytes.Buffer
	got.ReadFrom(tr)
	if !bytes.Equal(got.Bytes(), big) {
		t.Fatalf("the pulled layer differs (%d bytes, want %d)", got.Len(), len(big))
	}

	if _, err := os.Stat(filepath.Join(s.DataDir, "registry", "storage", "docker")); err == nil {
		t.Error("images were written under the data directory with S3 configured")
	}
	blobs := func() int {
		n := 0
		filepath.WalkDir(filepath.Join(g.Dir, g.Bucket, "registry", "docker", "registry", "v2", "blobs"), func(_ string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && d.Name() == "data" {
				n++
			}
			return nil
		})
		return n
	}
	before := blobs()
	if before != 3 { // the layer, the config, the manifest
		t.Fatalf("blobs in the bucket: %d, want 3", before)
	}

	list := s.Expect(t, "GET", api+"/projects/"+testserver.Itoa(p.ID)+"/registry/repositories", s.RootToken, nil, http.StatusOK).List(t)
	rid := testserver.Itoa(testserver.Num(t, list[0], "id"))
	s.Expect(t, "DELETE", api+"/projects/"+testserver.Itoa(p.ID)+"/registry/repositories/"+rid+"/tags/big", s.RootToken, nil, http.StatusOK)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	gc := exec.CommandContext(ctx, testserver.Binary(t), "registry", "gc", "--delete-untagged", "--data-dir", s.DataDir)
	gc.Env = append(testserver.CleanEnv(), g.Env()...)
	if out, err := gc.CombinedOutput(); err != nil || !strings.Contains(string(out), "done") {
		t.Fatalf("registry gc: %v\n%s", err, out)
	}
	if n := blobs(); n != 0 {
		t.Errorf("blobs in the bucket after the collection: %d, want 0", n)
	}
}
