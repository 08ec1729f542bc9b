package e2e

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// indentedBlocks returns the code blocks (lines indented four spaces) of
// a README section, unindented.
func indentedBlocks(section string) []string {
	var blocks []string
	var cur []string
	for _, l := range strings.Split(section+"\n", "\n") {
		if strings.HasPrefix(l, "    ") {
			cur = append(cur, l[4:])
			continue
		}
		if len(cur) > 0 {
			blocks = append(blocks, strings.Join(cur, "\n"))
			cur = nil
		}
	}
	return blocks
}

// TestQuickStart runs the README's Quick start as written, twice on the
// same data directory (a second reader on the same instance): the server
// command of its first block, then every block up to "Run the tests" in a
// fresh shell and directory. Only the environment is filled in: root's
// token for "TOKEN=...", and the port, since the server listens on port 0
// here instead of 8080. Each round's trace says hello from a job of its
// own; then the clone example of "Git and pipelines" clones that project.
func TestQuickStart(t *testing.T) {
	blocks := indentedBlocks(readmeSection(t, "Quick start"))
	if len(blocks) < 3 || !strings.HasPrefix(blocks[0], "go run ./cmd/ciwarden serve") {
		t.Fatalf("the Quick start's first block is not the server command: %q", blocks)
	}
	serveArgs := strings.Fields(strings.TrimPrefix(blocks[0], "go run ./cmd/ciwarden"))
	var shell []string
	for _, b := range blocks[1:] {
		if strings.HasPrefix(b, "go test") {
			break
		}
		shell = append(shell, b)
	}
	script := strings.Join(shell, "\n")
	for _, placeholder := range []string{"export TOKEN=...", "127.0.0.1:8080"} {
		if !strings.Contains(script, placeholder) {
			t.Fatalf("the Quick start lacks %q:\n%s", placeholder, script)
		}
	}

	work := t.TempDir() // the server's directory: ./ciwarden-data in it
	dataDir := filepath.Join(work, "ciwarden-data")
	anyPort := []string{"CIWARDEN_LISTEN=127.0.0.1:0"}
	home := t.TempDir()
	shellEnv := append(testserver.CleanEnv(), "HOME="+home, "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=Quick Start", "GIT_AUTHOR_EMAIL=qs@example.com", "GIT_COMMITTER_NAME=Quick Start", "GIT_COMMITTER_EMAIL=qs@example.com")
	run := func(s *testserver.Server, token, commands string) string {
		t.Helper()
		u, err := url.Parse(s.URL)
		if err != nil {
			t.Fatal(err)
		}
		commands = strings.ReplaceAll(commands, "127.0.0.1:8080", u.Host)
		commands = strings.Replace(commands, "export TOKEN=...", "export TOKEN="+token, 1)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "bash", "-c", commands)
		cmd.Dir, cmd.Env = t.TempDir(), shellEnv
		out, err := cmd.CombinedOutput()
		if ctx.Err() != nil {
			t.Fatalf("the commands did not finish within 3 minutes:\n%s", out)
		}
		if err != nil {
			t.Logf("the commands ended with %v", err)
		}
		return string(out)
	}
	hello := regexp.MustCompile(`hello from job (\d+)`)

	s := launchListening(t, work, dataDir, "", anyPort, serveArgs)
	token := generatedRootToken(t, s.Log())
	var jobs []string
	for round := 1; round <= 2; round++ {
		if round == 2 {
			s.Client().CloseIdleConnections()
			s.Terminate(t)
			s.Wait(t)
			s = launchListening(t, work, dataDir, token, anyPort, serveArgs)
		}
		out := run(s, token, script)
		m := hello.FindAllStringSubmatch(out, -1)
		if len(m) == 0 {
			t.Fatalf("round %d: the trace does not say hello:\n%s\nserver:\n%s", round, out, s.Log())
		}
		jobs = append(jobs, m[len(m)-1][1])
	}
	if jobs[0] == jobs[1] {
		t.Errorf("both rounds read the trace of job %s: the second pushed nothing new", jobs[0])
	}

	var clone string
	for _, b := range indentedBlocks(readmeSection(t, "Git and pipelines")) {
		if strings.HasPrefix(b, "git clone ") {
			clone = b
		}
	}
	if clone == "" {
		t.Fatalf("the Git and pipelines section has no git clone example")
	}
	dir := t.TempDir()
	u, _ := url.Parse(s.URL)
	cmd := exec.Command("bash", "-c", strings.ReplaceAll(clone, "127.0.0.1:8080", u.Host))
	cmd.Dir, cmd.Env = dir, append(shellEnv, "TOKEN="+token)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", clone, err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "app", ".gitlab-ci.yml")); err != nil {
		t.Errorf("the clone of the Quick start's project lacks its .gitlab-ci.yml: %v", err)
	}
}
