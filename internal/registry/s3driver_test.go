package registry_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"flag"
	"os"
	"path/filepath"
	"testing"

	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/distribution/v3/registry/storage/driver/factory"
	"github.com/distribution/distribution/v3/registry/storage/driver/testsuites"

	"github.com/ciwarden/ciwarden/internal/blob"
	_ "github.com/ciwarden/ciwarden/internal/registry" // registers ciwarden-s3
	"github.com/ciwarden/ciwarden/internal/testblob"
)

// openS3Driver is the registry's S3 driver over a fresh versitygw bucket.
func openS3Driver(t *testing.T) storagedriver.StorageDriver {
	t.Helper()
	return s3DriverOn(t, testblob.Start(t))
}

// s3DriverOn is a driver of its own (its own client) over g's bucket, as
// each replica has.
func s3DriverOn(t *testing.T, g *testblob.S3) storagedriver.StorageDriver {
	t.Helper()
	store, err := blob.NewS3(context.Background(), blob.S3Config{Endpoint: g.Endpoint, Bucket: g.Bucket,
		AccessKey: g.AccessKey, SecretKey: g.SecretKey, Region: g.Region, Prefix: "inst"})
	if err != nil {
		t.Fatal(err)
	}
	d, err := factory.Create(context.Background(), "ciwarden-s3", map[string]any{"store": store})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestS3DriverSuite runs Distribution's own storage driver test suite
// (registry/storage/driver/testsuites) against the S3 driver on
// versitygw. The suite's full size writes a 5 GiB stream and 1 GiB of
// concurrent ones, minutes on CI's two cores: it runs in its short mode
// (10 MiB and 8 streams; the multipart, append and copy paths are all
// taken) unless CIWARDEN_TEST_FULL_DRIVER_SUITE=1. The test.short flag is
// set before the test turns parallel, while no other test runs, and left
// set: nothing else in this package reads it. In parallel, because the
// suite's TestStatCall sleeps 15 seconds.
func TestS3DriverSuite(t *testing.T) {
	if os.Getenv("CIWARDEN_TEST_FULL_DRIVER_SUITE") != "1" && !testing.Short() {
		if err := flag.Set("test.short", "true"); err != nil {
			t.Fatal(err)
		}
	}
	t.Parallel()
	d := openS3Driver(t)
	testsuites.Driver(t, func() (storagedriver.StorageDriver, error) { return d, nil }, false)
}

// TestS3DriverResume: an upload's state lives in the bucket alone, so
// one replica's writer (its own client) takes up where another's left
// off: a part and a short tail written through A, reopened through B
// with the size A reported, more written and committed there, and read
// back whole through A; the tail object is gone after the commit.
func TestS3DriverResume(t *testing.T) {
	t.Parallel()
	g := testblob.Start(t)
	a, b := s3DriverOn(t, g), s3DriverOn(t, g)
	ctx := context.Background()
	const path = "/docker/registry/v2/repositories/grp/app/_uploads/u1/data"
	first, second := make([]byte, 17<<20), make([]byte, 3<<20)
	rand.Read(first)
	rand.Read(second)

	w, err := a.Writer(ctx, path, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(first); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Stat(ctx, path); err == nil {
		t.Error("an upload not yet committed is visible")
	}

	w, err = b.Writer(ctx, path, true)
	if err != nil {
		t.Fatal(err)
	}
	if w.Size() != int64(len(first)) {
		t.Fatalf("the reopened upload's size: %d, want %d", w.Size(), len(first))
	}
	if _, err := w.Write(second); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := a.GetContent(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, append(first, second...)) {
		t.Fatalf("the committed object: %d bytes, not what was written (%d)", len(got), len(first)+len(second))
	}
	tails, _ := filepath.Glob(filepath.Join(g.Dir, g.Bucket, "registry-tails", "*"))
	if len(tails) != 0 {
		t.Errorf("tails left after the commit: %v", tails)
	}
	// An upload canceled through B is gone for A too.
	w, err = a.Writer(ctx, path+"2", false)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(second)
	w.Close()
	w, err = b.Writer(ctx, path+"2", true)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Writer(ctx, path+"2", true); err == nil {
		t.Error("a canceled upload reopens")
	}
}
