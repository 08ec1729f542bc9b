package e2e

import (
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ciwarden/ciwarden/internal/testblob"
	"github.com/ciwarden/ciwarden/internal/testserver"
)

// goTool finds a tool that `go install` put on PATH or in GOPATH/bin
// (.ci/run installs them), or skips naming the command that installs it.
func goTool(t *testing.T, name, pkg string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if gopath, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(gopath)), "bin", name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Skipf("%s is not installed: go install %s", name, pkg)
	return ""
}

// crane is the crane binary, a real registry client.
func crane(t *testing.T) string {
	return goTool(t, "crane", "github.com/google/go-containerregistry/cmd/crane@v0.22.1")
}

// TestRegistryJobs is the seed's "Container Registry" row end to end: a job
// run by the built-in runner logs in with $CI_REGISTRY_USER and
// $CI_REGISTRY_PASSWORD and pushes $CI_REGISTRY_IMAGE:$CI_COMMIT_SHORT_SHA
// with crane; a second job pulls it. The token cannot push to another
// project (refused, nothing written), pulls from a private project that
// allowlists its project and not from one that does not; once the job has
// ended, /jwt/auth refuses its token with 401. On the local disk and on
// S3 (versitygw).
func TestRegistryJobs(t *testing.T) {
	craneBin := crane(t)
	for _, storage := range []string{"fs", "s3"} {
		t.Run(storage, func(t *testing.T) {
			o := testserver.Options{Args: []string{"--runners", "1", "--runner-long-poll", "2s"}}
			if storage == "s3" {
				o.S3 = testblob.Start(t)
			}
			registryJobs(t, craneBin, start(t, o))
		})
	}
}

func registryJobs(t *testing.T, craneBin string, s *testserver.Server) {
	g := s.CreateGroup(t, "grp", 0, "private")
	dev := s.CreateUser(t, "dev")
	s.AddMember(t, "groups", g, dev.ID, 30)
	app := s.CreateProject(t, g, "app", "private")
	s.CreateProject(t, g, "other", "private")
	allowed := s.CreateProject(t, g, "allowed", "private")
	unlisted := s.CreateProject(t, g, "unlisted", "private")
	s.Expect(t, "POST", api+"/projects/"+testserver.Itoa(allowed.ID)+"/job_token_scope/allowlist", s.RootToken,
		map[string]any{"target_project_id": app.ID}, http.StatusCreated)

	host := strings.TrimPrefix(s.URL, "http://")
	rootAuth := remote.WithAuth(&authn.Basic{Username: "root", Password: s.RootToken})
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"grp/allowed:v1", "grp/unlisted:v1"} {
		if err := remote.Write(mustRef(t, host+"/"+p), img, rootAuth); err != nil {
			t.Fatalf("root's push of %s: %v", p, err)
		}
	}

	tokenFile := filepath.Join(t.TempDir(), "token")
	vars := api + "/projects/" + testserver.Itoa(app.ID) + "/variables"
	s.Expect(t, "POST", vars, s.RootToken, map[string]any{"key": "CRANE", "value": craneBin}, http.StatusCreated)
	s.Expect(t, "POST", vars, s.RootToken, map[string]any{"key": "TOKEN_FILE", "value": tokenFile}, http.StatusCreated)
	login := `- 'export DOCKER_CONFIG="$(mktemp -d)"'
    - '"$CRANE" auth login "$CI_REGISTRY" -u "$CI_REGISTRY_USER" -p "$CI_REGISTRY_PASSWORD"'`
	ci := `stages: [build, test]
build:
  stage: build
  script:
    ` + login + `
    - 'echo "image $CI_REGISTRY_IMAGE"'
    - 'echo hello > hello.txt && tar -cf layer.tar hello.txt'
    - '"$CRANE" append --insecure -f layer.tar -t "$CI_REGISTRY_IMAGE:$CI_COMMIT_SHORT_SHA" && echo pushed-own'
    - 'if "$CRANE" append --insecure -f layer.tar -t "$CI_REGISTRY/grp/other:x"; then echo PUSHED-OTHER; else echo other-refused; fi'
    - '"$CRANE" manifest --insecure "$CI_REGISTRY/grp/allowed:v1" >/dev/null && echo allowed-pulled'
    - 'if "$CRANE" manifest --insecure "$CI_REGISTRY/grp/unlisted:v1"; then echo PULLED-UNLISTED; else echo unlisted-refused; fi'
    - 'printf %s "$CI_JOB_TOKEN" > "$TOKEN_FILE"'
    - 'rm -rf "$DOCKER_CONFIG"'
test:
  stage: test
  script:
    ` + login + `
    - '"$CRANE" export --insecure "$CI_REGISTRY_IMAGE:$CI_COMMIT_SHORT_SHA" - | tar -xOf - hello.txt'
    - 'rm -rf "$DOCKER_CONFIG"'
`
	_, sha := s.PushCI(t, app.Path, dev, map[string]string{".gitlab-ci.yml": ci})
	pl := waitPipeline(t, s, app.ID, s.RootToken, 0)
	build := pipelineJob(t, s, app.ID, pl, "build", s.RootToken)
	test := pipelineJob(t, s, app.ID, pl, "test", s.RootToken)
	buildLog, testLog := jobLog(t, s, app.ID, build, s.RootToken), jobLog(t, s, app.ID, test, s.RootToken)
	if st := jobStatus(t, s, app.ID, build, s.RootToken); st != "success" {
		t.Fatalf("build %s; log:\n%s", st, buildLog)
	}
	if st := jobStatus(t, s, app.ID, test, s.RootToken); st != "success" {
		t.Fatalf("test %s; log:\n%s", st, testLog)
	}
	for _, want := range []string{"image " + host + "/grp/app", "pushed-own", "other-refused", "allowed-pulled", "unlisted-refused"} {
		if !strings.Contains(buildLog, want) {
			t.Errorf("the build log lacks %q:\n%s", want, buildLog)
		}
	}
	if !strings.Contains(testLog, "\nhello") {
		t.Errorf("the test job did not pull the image:\n%s", testLog)
	}

	// The pushed tag is there; nothing was written to grp/other.
	if _, err := remote.Head(mustRef(t, host+"/grp/app:"+sha[:8]), rootAuth); err != nil {
		t.Errorf("the job's image: %v", err)
	}
	if tags, err := remote.List(mustRef(t, host+"/grp/other").Context(), rootAuth); err == nil {
		t.Errorf("grp/other has tags %v after a refused push", tags)
	}

	// Each cross-project use is in the target's authentication log: the
	// allowed pull, and the refused one.
	if row := jtsAuthRow(t, s, allowed.ID, app.ID); testserver.Num(t, row, "allowed_count") == 0 {
		t.Errorf("grp/allowed's authentication log: %v, want grp/app's pull", row)
	}
	if row := jtsAuthRow(t, s, unlisted.ID, app.ID); testserver.Num(t, row, "denied_count") == 0 {
		t.Errorf("grp/unlisted's authentication log: %v, want grp/app's refused pull", row)
	}

	tok, err := os.ReadFile(tokenFile)
	if err != nil || len(tok) == 0 {
		t.Fatalf("the job's token: %v", err)
	}
	s.Remember(string(tok))
	q := url.Values{"service": {"container_registry"}, "scope": {"repository:grp/app:pull"}}
	if r := s.Call(t, "GET", "/jwt/auth?"+q.Encode(), testserver.Basic("gitlab-ci-token", string(tok)), nil); r.Status != http.StatusUnauthorized {
		t.Errorf("/jwt/auth with the ended job's token: %s, want 401", r)
	}
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
