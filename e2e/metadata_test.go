package e2e

import (
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"

	gitlab "gitlab.com/gitlab-org/api/client-go/v2"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// binaryBuildInfo is what the toolchain recorded in the binary under test
// (`go version -m`): the main module's version and vcs.revision.
func binaryBuildInfo(t *testing.T) (version, revision string) {
	t.Helper()
	out, err := exec.Command("go", "version", "-m", testserver.Binary(t)).Output()
	if err != nil {
		t.Fatalf("go version -m: %v", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 3 && f[0] == "mod" && f[1] == "github.com/ciwarden/ciwarden":
			version = f[2]
		case len(f) == 2 && f[0] == "build" && strings.HasPrefix(f[1], "vcs.revision="):
			revision = strings.TrimPrefix(f[1], "vcs.revision=")
		}
	}
	if version == "" {
		t.Fatalf("go version -m names no main module version:\n%s", out)
	}
	// As GitLab writes its own: semver without Go's "v", a short commit;
	// a build that recorded neither says so.
	if version == "(devel)" {
		version = "0.0.0-dev"
	}
	if revision == "" {
		revision = "unknown"
	}
	return strings.TrimPrefix(version, "v"), revision[:min(len(revision), 12)]
}

// TestVersionAndMetadata is issue 13 item 10: GET /version and /metadata
// answer GitLab's shape (GitLab answers both with the metadata body), with
// the build's module version and VCS revision, to any signed-in caller,
// as GitLab's own Go client reads them; anonymous callers get 401.
func TestVersionAndMetadata(t *testing.T) {
	s := startServer(t, "sqlite")
	version, revision := binaryBuildInfo(t)
	want := fmt.Sprintf(`{"version":%q,"revision":%q,"kas":{"enabled":false,"externalUrl":null,"externalK8sProxyUrl":null,"version":null},"enterprise":false}`,
		version, revision)

	user := s.CreateUser(t, "meta")
	_, readOnly := s.CreateToken(t, user.ID, "read_api")
	for _, token := range []string{s.RootToken, user.Token, readOnly} {
		for _, path := range []string{"/version", "/metadata"} {
			checkJSON(t, s.Expect(t, "GET", api+path, token, nil, http.StatusOK), want)
		}
	}

	c := newClient(t, s, user.Token)
	v := must[*gitlab.Version](t, "GetVersion")(c.Version.GetVersion())
	if v.Version != version || v.Revision != revision {
		t.Errorf("GetVersion: %+v, want version %q, revision %q", v, version, revision)
	}
	m := must[*gitlab.Metadata](t, "GetMetadata")(c.Metadata.GetMetadata())
	if m.Version != version || m.Revision != revision || m.KAS.Enabled || m.Enterprise {
		t.Errorf("GetMetadata: %+v, want version %q, revision %q, no KAS, not enterprise", m, version, revision)
	}

	anon := newClient(t, s, "")
	_, _, err := anon.Version.GetVersion()
	wantStatus(t, err, http.StatusUnauthorized)
	_, _, err = anon.Metadata.GetMetadata()
	wantStatus(t, err, http.StatusUnauthorized)
	checkJSON(t, s.Expect(t, "GET", api+"/metadata", "", nil, http.StatusUnauthorized), `{"message":"401 Unauthorized"}`)
}
