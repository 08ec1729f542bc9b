package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ciwarden/ciwarden/internal/testblob"
	"github.com/ciwarden/ciwarden/internal/testserver"
)

// TestRegistryConformance runs the OCI distribution-spec conformance
// suite against ciwarden's registry with token auth (a personal access
// token through /jwt/auth), with the groups Distribution does not serve
// switched off: referrers, sha512, subject and non-distributable layers;
// on the local disk and on S3 (versitygw; its chunked uploads reopen the
// S3 driver's multipart uploads across requests).
func TestRegistryConformance(t *testing.T) {
	bin := goTool(t, "conformance", "github.com/opencontainers/distribution-spec/conformance@v0.0.0-20260831232431-97274622c111")
	for _, storage := range []string{"fs", "s3"} {
		t.Run(storage, func(t *testing.T) {
			var o testserver.Options
			if storage == "s3" {
				o.S3 = testblob.Start(t)
			}
			conformance(t, bin, start(t, o))
		})
	}
}

func conformance(t *testing.T, bin string, s *testserver.Server) {
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
