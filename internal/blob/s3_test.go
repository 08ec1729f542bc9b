package blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

const installVersitygw = "go install github.com/versity/versitygw/cmd/versitygw@v1.8.0"

// gateway is a versitygw process serving a posix directory over S3.
type gateway struct {
	cfg S3Config // endpoint, credentials and a bucket that exists
	cmd *exec.Cmd

	mu  sync.Mutex
	out bytes.Buffer // the gateway's stdout and stderr, for failures
}

func (g *gateway) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.out.Write(p)
}

func (g *gateway) output() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.out.String()
}

// findVersitygw looks on PATH, then in $(go env GOPATH)/bin where go
// install puts it.
func findVersitygw() (string, error) {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	out, err := exec.Command("go", "env", "GOPATH").Output()
	if err != nil {
		return "", err
	}
	for _, dir := range filepath.SplitList(strings.TrimSpace(string(out))) {
		p := filepath.Join(dir, "bin", "versitygw")
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", errors.New("not found")
}

// startGateway starts versitygw on a free loopback port with a posix
// backend in a temporary directory, creates a bucket, and stops the
// process when the test ends. Without versitygw the test is skipped.
func startGateway(tb testing.TB) *gateway {
	tb.Helper()
	bin, err := findVersitygw()
	if err != nil {
		tb.Skipf("versitygw is not installed (not on PATH nor in $(go env GOPATH)/bin), so the S3 tests are skipped; install it with: %s", installVersitygw)
	}
	dir := tb.TempDir()
	var lastErr error
	for range 3 { // the free port may be taken between Close and the gateway's bind
		g, err := tryStartGateway(tb, bin, dir)
		if err == nil {
			return g
		}
		lastErr = err
	}
	tb.Fatalf("starting versitygw: %v", lastErr)
	return nil
}

func tryStartGateway(tb testing.TB, bin, dir string) (*gateway, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	g := &gateway{cfg: S3Config{Endpoint: addr, Bucket: "ciwarden-test", AccessKey: "ciwardentest", SecretKey: "ciwarden-test-secret-key", Region: "us-east-1"}}
	// Credentials travel in the environment (ROOT_ACCESS_KEY_ID and
	// ROOT_SECRET_ACCESS_KEY), not in a process listing.
	g.cmd = exec.Command(bin, "--port", addr, "--region", g.cfg.Region, "posix", dir)
	g.cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY_ID="+g.cfg.AccessKey, "ROOT_SECRET_ACCESS_KEY="+g.cfg.SecretKey)
	g.cmd.Stdout, g.cmd.Stderr = g, g
	if err := g.cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- g.cmd.Wait() }()
	stop := func() {
		g.cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			g.cmd.Process.Kill()
			<-exited
		}
	}

	client, err := minio.New(addr, &minio.Options{Creds: credentials.NewStaticV4(g.cfg.AccessKey, g.cfg.SecretKey, ""), Region: g.cfg.Region, MaxRetries: 1})
	if err != nil {
		stop()
		return nil, err
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err = client.MakeBucket(ctx, g.cfg.Bucket, minio.MakeBucketOptions{Region: g.cfg.Region})
		cancel()
		if err == nil {
			break
		}
		select {
		case werr := <-exited:
			return nil, fmt.Errorf("versitygw exited (%v): %s", werr, g.output())
		default:
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("versitygw not ready after 20s (%v): %s", err, g.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.Cleanup(stop)
	return g, nil
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
