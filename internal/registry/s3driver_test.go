package registry_test

import (
	"context"
	"flag"
	"os"
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
	g := testblob.Start(t)
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
