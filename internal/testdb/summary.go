package testdb

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ciwarden/ciwarden/internal/testblob"
)

// Main runs a test binary's tests and exits; call it from the TestMain of
// every package whose tests use this package or testblob. See Run.
func Main(m *testing.M) { os.Exit(Run(m)) }

// Run runs the tests and then prints one line saying which backends they
// ran against (SQLite always; PostgreSQL and S3 only when available), so
// that a skipped backend is visible without -v (issue 13 item 15).
func Run(m *testing.M) int {
	code := m.Run()
	name := strings.TrimSuffix(filepath.Base(os.Args[0]), ".test")
	line := fmt.Sprintf("ciwarden test backends (%s): %s; %s\n", name, Summary(), testblob.Summary())
	fmt.Print(line)
	if !testing.Verbose() {
		toGoCommand(line)
	}
	return code
}

// toGoCommand shows line when `go test` runs packages without -v: it then
// discards a passing test binary's output, so the line goes to the go
// command's own standard error as well. Only on Linux, only when the
// parent is the go command and does not pass this binary's output through
// as it comes (-bench, or no package arguments: then the binary writes to
// the go command's own standard output), and only to a terminal or a pipe
// (never a file, which a second writer would corrupt).
func toGoCommand(line string) {
	ppid := os.Getppid()
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", ppid))
	if err != nil || strings.TrimSpace(string(comm)) != "go" {
		return
	}
	ours, err1 := os.Stdout.Stat()
	theirs, err2 := os.Stat(fmt.Sprintf("/proc/%d/fd/1", ppid))
	if err1 != nil || err2 != nil || os.SameFile(ours, theirs) {
		return
	}
	path := fmt.Sprintf("/proc/%d/fd/2", ppid)
	st, err := os.Stat(path)
	if err != nil || st.Mode()&(os.ModeCharDevice|os.ModeNamedPipe) == 0 {
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return
	}
	f.WriteString(line)
	f.Close()
}
