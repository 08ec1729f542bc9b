package testserver

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ciwarden/ciwarden/internal/testdb"
)

// binaryEnv names a ciwarden binary to use instead of building one (a
// binary kept for profiling the server with perf, for example).
const binaryEnv = "CIWARDEN_BENCH_BIN"

var built struct {
	sync.Mutex
	main bool   // Main is running the tests
	dir  string // temporary directory of the binary, removed by Main
	path string
	err  error
}

// Main runs the test binary's tests (call it from TestMain): it prints
// which backends ran (testdb.Run) and removes the ciwarden binary that
// child-process servers used, if one was built.
func Main(m *testing.M) {
	built.Lock()
	built.main = true
	built.Unlock()
	code := testdb.Run(m)
	built.Lock()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	built.Unlock()
	os.Exit(code)
}

// Binary is the ciwarden executable, built from ./cmd/ciwarden once per
// test binary (the build cache makes it a link step), or the one named by
// CIWARDEN_BENCH_BIN.
func Binary(t testing.TB) string {
	t.Helper()
	if bin := os.Getenv(binaryEnv); bin != "" {
		return bin
	}
	built.Lock()
	defer built.Unlock()
	if !built.main {
		t.Fatalf("testserver: a child-process server needs the package's TestMain to call testserver.Main")
	}
	if built.path == "" && built.err == nil {
		built.path, built.err = build()
	}
	if built.err != nil {
		t.Fatalf("testserver: %v", built.err)
	}
	return built.path
}

func build() (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "ciwarden-test-bin-")
	if err != nil {
		return "", err
	}
	built.dir = dir
	bin := filepath.Join(dir, "ciwarden")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/ciwarden")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/ciwarden: %v\n%s", err, out)
	}
	return bin, nil
}

// ModuleRoot is the directory of go.mod: `go env GOMOD`, else the nearest
// parent of the working directory that holds one.
func ModuleRoot() (string, error) {
	if out, err := exec.Command("go", "env", "GOMOD").Output(); err == nil {
		if gomod := strings.TrimSpace(string(out)); gomod != "" && gomod != os.DevNull {
			return filepath.Dir(gomod), nil
		}
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("cannot find the module root (go.mod)")
		}
		dir = parent
	}
}
