package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// conformanceBin finds the OCI distribution-spec conformance binary (go
// install github.com/opencontainers/distribution-spec/conformance@...;
// .ci/run installs it), or skips saying so.
func conformanceBin(t *testing.T) string {
	t.Helper()
	if gopath, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(gopath)), "bin", "conformance")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Skip("the OCI conformance binary is not installed: go install github.com/opencontainers/distribution-spec/conformance@v0.0.0-20260831232431-97274622c111")
	return ""
}

// TestRegistryConformance runs the OCI distribution-spec conformance
// suite against ciwarden's registry with token auth (a personal access
// token through /jwt/auth), with the groups Distribution does not serve
// switched off: referrers, sha512, subject and non-distributable layers.
func TestRegistryConformance(t *testing.T) {
	bin := conformanceBin(t)
	s := start(t, testserver.Options{})
	p := s.CreateProject(t, 0, "conformance", "private")
	results := t.TempDir()
	cmd := exec.Command(bin)
	cmd.Dir = results
	cmd.Env = append(testserver.CleanEnv(),
		"OCI_REGISTRY="+strings.TrimPrefix(s.URL, "http://"), "OCI_TLS=disabled",
		"OCI_REPO1="+p.Path+"/repo1", "OCI_REPO2="+p.Path+"/repo2",
		"OCI_USERNAME=root", "OCI_PASSWORD="+s.RootToken,
		"OCI_RESULTS_DIR="+results, "OCI_LOG=warn",
		"OCI_API_REFERRER=false", "OCI_DATA_SHA512=false",
		"OCI_DATA_SUBJECT=false", "OCI_DATA_SUBJECT_MISSING=false", "OCI_DATA_SUBJECT_LIST=false",
		"OCI_DATA_NONDISTRIBUTABLE=false")
	out, err := cmd.CombinedOutput()
	if err != nil {
		report, _ := os.ReadFile(filepath.Join(results, "report.txt"))
		t.Fatalf("conformance: %v\n%s\n%s", err, out, report)
	}
	t.Logf("%s", out)
}
