// Package testblob starts a real S3 server (versitygw, posix backend on
// loopback) for tests of blob storage and of everything stored in it.
// Tests skip, saying how to install it, when versitygw is absent.
//
// It does not import package blob, so that blob's own tests can use it.
package testblob

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

// Install is the command that installs versitygw; .ci/run runs it.
const Install = "go install github.com/versity/versitygw/cmd/versitygw@v1.8.0"

// S3 is a running gateway with a bucket that exists.
type S3 struct {
	Endpoint  string // host:port, plain HTTP
	Bucket    string
	AccessKey string
	SecretKey string
	Region    string
	// Dir is the gateway's storage: the bucket's objects are files there.
	Dir string

	cmd *exec.Cmd
	mu  sync.Mutex
	out bytes.Buffer // the gateway's stdout and stderr, for failures
}

func (g *S3) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.out.Write(p)
}

// Output is what the gateway printed.
func (g *S3) Output() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.out.String()
}

// Env is the environment that points `ciwarden serve` at this bucket.
func (g *S3) Env() []string {
	return []string{
		"CIWARDEN_S3_ENDPOINT=http://" + g.Endpoint,
		"CIWARDEN_S3_BUCKET=" + g.Bucket,
		"CIWARDEN_S3_REGION=" + g.Region,
		"CIWARDEN_S3_ACCESS_KEY=" + g.AccessKey,
		"CIWARDEN_S3_SECRET_KEY=" + g.SecretKey,
	}
}

// started and skipped count this test binary's gateways and the tests
// that skipped for want of versitygw, for Summary.
var started, skipped atomic.Int64

// Summary says whether this test binary ran its S3 cases, and if not,
// why: one phrase for a summary line.
func Summary() string {
	switch {
	case started.Load() > 0:
		return fmt.Sprintf("S3 via versitygw: yes (%d gateways)", started.Load())
	case skipped.Load() > 0:
		return fmt.Sprintf("S3 via versitygw: NO, %d tests skipped (versitygw is not installed; %s)", skipped.Load(), Install)
	}
	return "S3 via versitygw: not used here"
}

// Available reports whether versitygw can be found.
func Available() bool {
	_, err := find()
	return err == nil
}

// find looks for versitygw.
func find() (string, error) { return FindBinary("versitygw") }

// FindBinary looks for a test's external program (versitygw, tofu) on
// PATH, then in $(go env GOPATH)/bin where go install and .ci/run put it.
func FindBinary(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	out, err := exec.Command("go", "env", "GOPATH").Output()
	if err != nil {
		return "", err
	}
	for _, dir := range filepath.SplitList(strings.TrimSpace(string(out))) {
		p := filepath.Join(dir, "bin", name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", errors.New("not found")
}

// Start starts versitygw on a free loopback port with a posix backend in a
// temporary directory, creates a bucket, and stops the process when the
// test ends. Without versitygw the test is skipped.
func Start(tb testing.TB) *S3 {
	tb.Helper()
	bin, err := find()
	if err != nil {
		skipped.Add(1)
		tb.Skipf("versitygw is not installed (not on PATH nor in $(go env GOPATH)/bin), so the S3 tests are skipped; install it with: %s", Install)
	}
	dir := tb.TempDir()
	var lastErr error
	for range 3 { // the free port may be taken between Close and the gateway's bind
		g, err := tryStart(tb, bin, dir)
		if err == nil {
			started.Add(1)
			return g
		}
		lastErr = err
	}
	tb.Fatalf("starting versitygw: %v", lastErr)
	return nil
}

func tryStart(tb testing.TB, bin, dir string) (*S3, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	g := &S3{Endpoint: addr, Bucket: "ciwarden-test", AccessKey: "ciwardentest", SecretKey: "ciwarden-test-secret-key", Region: "us-east-1", Dir: dir}
	// Credentials travel in the environment (ROOT_ACCESS_KEY_ID and
	// ROOT_SECRET_ACCESS_KEY), not in a process listing.
	g.cmd = exec.Command(bin, "--port", addr, "--region", g.Region, "posix", dir)
	g.cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY_ID="+g.AccessKey, "ROOT_SECRET_ACCESS_KEY="+g.SecretKey)
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

	client, err := minio.New(addr, &minio.Options{Creds: credentials.NewStaticV4(g.AccessKey, g.SecretKey, ""), Region: g.Region, MaxRetries: 1})
	if err != nil {
		stop()
		return nil, err
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err = client.MakeBucket(ctx, g.Bucket, minio.MakeBucketOptions{Region: g.Region})
		cancel()
		if err == nil {
			break
		}
		select {
		case werr := <-exited:
			return nil, fmt.Errorf("versitygw exited (%v): %s", werr, g.Output())
		default:
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("versitygw not ready after 20s (%v): %s", err, g.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.Cleanup(stop)
	return g, nil
}
