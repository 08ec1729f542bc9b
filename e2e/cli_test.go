package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// readmeSection returns the README's text under "## title", up to the
// next section of the same level.
func readmeSection(t *testing.T, title string) string {
	t.Helper()
	root, err := testserver.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "\n## "+title+"\n")
	if !ok {
		t.Fatalf("README.md has no section %q", title)
	}
	if i := strings.Index(rest, "\n## "); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// TestServeHelp: `serve --help` prints every row of the README's
// Configuration table, each on one line with its --flag and type, its
// environment variable and its default; flags are typed.
func TestServeHelp(t *testing.T) {
	code, out, errOut := runCiwardenCLI(t, "serve", "--help")
	if code != 0 {
		t.Fatalf("serve --help: exit %d, stderr %s", code, errOut)
	}
	lines := strings.Split(out, "\n")
	rows := 0
	for _, l := range strings.Split(readmeSection(t, "Configuration"), "\n") {
		cells := strings.Split(strings.Trim(l, "| "), " | ")
		if len(cells) != 4 || !strings.HasPrefix(cells[1], "`CIWARDEN_") {
			continue
		}
		rows++
		flagName, env, def := strings.Trim(cells[0], "`"), strings.Trim(cells[1], "`"), strings.ReplaceAll(cells[2], "`", "")
		if flagName == "—" {
			flagName = "-"
		}
		found := false
		for _, h := range lines {
			if f := strings.Fields(h); len(f) > 2 && f[0] == flagName && strings.Contains(h, " "+env+" ") && strings.Contains(h, " "+def+" ") {
				found = true
			}
		}
		if !found {
			t.Errorf("serve --help has no line with %s, %s and default %q:\n%s", flagName, env, def, out)
		}
	}
	if rows < 10 {
		t.Fatalf("found only %d rows in the README's Configuration table", rows)
	}
	for _, typed := range []string{"--runners int", "--runner-long-poll duration", "--max-artifacts-size size", "--listen string"} {
		if !strings.Contains(out, "  "+typed+" ") {
			t.Errorf("serve --help lacks %q", typed)
		}
	}
	if strings.Contains(out, "\n  -runners") {
		t.Errorf("serve --help shows single-dash flags:\n%s", out)
	}

	// A typed flag refuses what is not of its type, in one line.
	code, _, errOut = runCiwardenCLI(t, "serve", "--runners", "two")
	if code != 1 || !strings.Contains(errOut, "--runners") || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Errorf("serve --runners two: exit %d, stderr %q; want 1 and one line naming --runners", code, errOut)
	}
}

// TestSubcommandHelp: every command with flags prints them, the README's
// `admin token create --name` included, and exits 0.
func TestSubcommandHelp(t *testing.T) {
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"admin", "token", "create", "--help"}, []string{"--user string", "--scopes string", "--expires string", "--name string", "--data-dir string", "CIWARDEN_DATA_DIR", "--database-url string"}},
		{[]string{"runner", "-h"}, []string{"--url string", "CIWARDEN_RUNNER_URL", "--token string", "--concurrent int", "--builds-dir string"}},
		{[]string{"help"}, []string{"admin token create --user NAME", "[--name N]", "ciwarden version"}},
	} {
		code, out, errOut := runCiwardenCLI(t, c.args...)
		if code != 0 {
			t.Errorf("ciwarden %s: exit %d, stderr %s", strings.Join(c.args, " "), code, errOut)
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("ciwarden %s lacks %q:\n%s", strings.Join(c.args, " "), w, out)
			}
		}
	}
}

// TestVersion: `ciwarden version` prints the module version and the VCS
// revision stamped in the binary, as `go version -m` reads them.
func TestVersion(t *testing.T) {
	info, err := exec.Command("go", "version", "-m", testserver.Binary(t)).Output()
	if err != nil {
		t.Fatalf("go version -m: %v", err)
	}
	version, revision := "0.0.0-dev", "unknown"
	for _, l := range strings.Split(string(info), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) >= 3 && f[0] == "mod" && f[2] != "(devel)":
			version = strings.TrimPrefix(f[2], "v")
		case len(f) >= 2 && f[0] == "build" && strings.HasPrefix(f[1], "vcs.revision="):
			revision = strings.TrimPrefix(f[1], "vcs.revision=")[:12]
		}
	}
	code, out, errOut := runCiwardenCLI(t, "version")
	if want := "ciwarden " + version + " (revision " + revision + ")\n"; code != 0 || out != want {
		t.Errorf("ciwarden version: exit %d, %q (stderr %q), want %q", code, out, errOut, want)
	}
}
