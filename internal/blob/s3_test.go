package blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/testblob"
	"github.com/minio/minio-go/v7"
)

// gateway is a versitygw process serving a posix directory over S3.
type gateway struct {
	*testblob.S3
	cfg S3Config // endpoint, credentials and a bucket that exists
}

func (g *gateway) output() string { return g.Output() }

// startGateway starts versitygw (testblob.Start); without it the test is
// skipped.
func startGateway(tb testing.TB) *gateway {
	tb.Helper()
	s := testblob.Start(tb)
	return &gateway{S3: s, cfg: S3Config{Endpoint: s.Endpoint, Bucket: s.Bucket, AccessKey: s.AccessKey, SecretKey: s.SecretKey, Region: s.Region}}
}

// store opens an S3 store under a prefix of its own, so that tests sharing
// the gateway do not see each other's objects.
func (g *gateway) store(t testing.TB, prefix string, partSize int64) *S3 {
	t.Helper()
	cfg := g.cfg
	cfg.Prefix, cfg.PartSize = prefix, partSize
	s, err := NewS3(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func s3Temporaries(t *testing.T, s Store) int {
	t.Helper()
	s3 := s.(*S3)
	n := 0
	for up := range s3.client.ListIncompleteUploads(t.Context(), s3.bucket, s3.prefix, true) {
		if up.Err != nil {
			t.Fatal(up.Err)
		}
		n++
	}
	return n
}

func TestS3(t *testing.T) {
	g := startGateway(t)
	var seq atomic.Int64
	b := backend{
		open: func(t *testing.T, partSize int64) Store {
			return g.store(t, fmt.Sprintf("t%d", seq.Add(1)), partSize)
		},
		temporaries: s3Temporaries,
	}
	t.Run("conformance", func(t *testing.T) { runConformance(t, b) })

	t.Run("PrefixIsolation", func(t *testing.T) {
		a, other := g.store(t, "inst-a", 0), g.store(t, "inst-b/nested", 0)
		mustPut(t, a, "k", []byte("a"))
		mustPut(t, other, "k", []byte("b"))
		if got := readAll(t, a, "k"); string(got) != "a" {
			t.Fatalf("a/k = %q", got)
		}
		if keys := listKeys(t, other, ""); len(keys) != 1 || keys[0] != "k" {
			t.Fatalf("List under the other prefix = %v", keys)
		}
		if err := a.Delete(t.Context(), "k"); err != nil {
			t.Fatal(err)
		}
		if got := readAll(t, other, "k"); string(got) != "b" {
			t.Fatal("Delete crossed prefixes")
		}
	})

	t.Run("CleanTemp", func(t *testing.T) {
		s := g.store(t, "clean", 0)
		// An upload left behind as a crash would leave it.
		id, err := s.core.NewMultipartUpload(t.Context(), s.bucket, s.prefix+"x/orphan", minio.PutObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.core.PutObjectPart(t.Context(), s.bucket, s.prefix+"x/orphan", id, 1, bytes.NewReader([]byte("part")), 4, minio.PutObjectPartOptions{}); err != nil {
			t.Fatal(err)
		}
		if n, err := s.CleanTemp(t.Context(), time.Now().Add(-time.Hour)); err != nil || n != 0 {
			t.Fatalf("CleanTemp(an hour ago) = %d, %v; want 0", n, err)
		}
		if n, err := s.CleanTemp(t.Context(), time.Now().Add(time.Minute)); err != nil || n != 1 {
			t.Fatalf("CleanTemp(now) = %d, %v; want 1", n, err)
		}
		if n := s3Temporaries(t, s); n != 0 {
			t.Fatalf("%d uploads left", n)
		}
		if _, err := s.Stat(t.Context(), "x/orphan"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Stat = %v", err)
		}
	})

	t.Run("NewS3Refuses", func(t *testing.T) {
		for name, mutate := range map[string]func(*S3Config){
			"missing bucket":  func(c *S3Config) { c.Bucket = "no-such-bucket" },
			"wrong secret":    func(c *S3Config) { c.SecretKey = "wrong" },
			"scheme":          func(c *S3Config) { c.Endpoint = "http://" + c.Endpoint },
			"tiny parts":      func(c *S3Config) { c.PartSize = MiB },
			"bad prefix":      func(c *S3Config) { c.Prefix = "../up" },
			"no credentials":  func(c *S3Config) { c.AccessKey, c.SecretKey = "", "" },
			"no bucket given": func(c *S3Config) { c.Bucket = "" },
		} {
			cfg := g.cfg
			mutate(&cfg)
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			_, err := NewS3(ctx, cfg)
			cancel()
			if err == nil {
				t.Errorf("%s: NewS3 succeeded", name)
			} else if strings.Contains(err.Error(), g.cfg.SecretKey) {
				t.Errorf("%s: the error shows the secret: %v", name, err)
			}
		}
	})

	t.Run("Crash", func(t *testing.T) {
		cfg := g.cfg
		cfg.Prefix, cfg.PartSize = "crash", testPartSize
		testCrash(t, crashSpec{S3: &cfg}, func() Store { return g.store(t, "crash", 0) }, s3Temporaries)
	})
}
