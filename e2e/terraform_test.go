package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/testblob"
	"github.com/ciwarden/ciwarden/internal/testserver"
)

// tofuBinary is OpenTofu, built from its module source (.ci/run, README
// "Terraform state"); the test skips without it.
func tofuBinary(t *testing.T) string {
	t.Helper()
	p, err := testblob.FindBinary("tofu")
	if err != nil {
		t.Skip("tofu (OpenTofu) is not installed (not on PATH nor in $(go env GOPATH)/bin), so the OpenTofu tests are skipped; " +
			"build it as .ci/run does: go mod download -json github.com/opentofu/opentofu@v1.12.6, copy its Dir, CGO_ENABLED=0 go build -o $(go env GOPATH)/bin/tofu ./cmd/tofu")
	}
	return p
}

// forEachTofuSetup runs fn on SQLite with filesystem blobs and on
// PostgreSQL with S3 (versitygw), each server a child process with two
// built-in runner workers.
func forEachTofuSetup(t *testing.T, fn func(t *testing.T, s *testserver.Server)) {
	for _, c := range []struct{ dialect, storage string }{{"sqlite", "fs"}, {"postgres", "s3"}} {
		t.Run(c.dialect+"-"+c.storage, func(t *testing.T) {
			if c.dialect == "postgres" && os.Getenv("CIWARDEN_TEST_POSTGRES_URL") == "" {
				t.Skip("CIWARDEN_TEST_POSTGRES_URL is not set")
			}
			o := testserver.Options{Dialect: c.dialect, Args: []string{"--runners", "2", "--runner-long-poll", "2s"}}
			if c.storage == "s3" {
				o.S3 = testblob.Start(t)
			}
			fn(t, start(t, o))
		})
	}
}

// tofuCI is a pipeline that uses GitLab's documented TF_HTTP_* settings
// with the job's own token. apply_a applies (its terraform_data resource
// holds the lock for a few seconds while its local-exec runs); apply_b,
// in the first pipeline only, waits until apply_a holds the lock, is
// refused by it without -lock-timeout, then waits for it with one.
const tofuCI = `variables:
  RUN: one
  TF_STATE_NAME: default
  TF_IN_AUTOMATION: "true"
.tofu:
  before_script:
    - export HOME="${HOME:-$CI_PROJECT_DIR}"
    - export TF_HTTP_ADDRESS="${CI_API_V4_URL}/projects/${CI_PROJECT_ID}/terraform/state/${TF_STATE_NAME}"
    - export TF_HTTP_LOCK_ADDRESS="${TF_HTTP_ADDRESS}/lock" TF_HTTP_UNLOCK_ADDRESS="${TF_HTTP_ADDRESS}/lock"
    - export TF_HTTP_LOCK_METHOD=POST TF_HTTP_UNLOCK_METHOD=DELETE TF_HTTP_RETRY_WAIT_MIN=1
    - export TF_HTTP_USERNAME=gitlab-ci-token TF_HTTP_PASSWORD="${CI_JOB_TOKEN}"
    - export TF_VAR_run="$RUN" TF_VAR_mark="$MARK_DIR/$CI_PIPELINE_ID"
    - '"$TOFU" init -input=false -no-color'
apply_a:
  extends: .tofu
  script:
    - '"$TOFU" plan -input=false -no-color'
    - '"$TOFU" apply -input=false -auto-approve -no-color'
    - 'echo "output=$("$TOFU" output -raw greeting)"'
apply_b:
  extends: .tofu
  script:
    - '[ "$RUN" = one ] || exit 0'
    - 'n=0; until [ -e "$TF_VAR_mark" ]; do sleep 0.2; n=$((n+1)); [ $n -lt 600 ] || exit 3; done'
    - 'if "$TOFU" apply -input=false -auto-approve -no-color -lock-timeout=0s > refused.txt 2>&1; then cat refused.txt; exit 4; fi'
    - 'grep -q "Error acquiring the state lock" refused.txt && grep -q "Lock Info" refused.txt && echo LOCK-REFUSED'
    - '"$TOFU" apply -input=false -auto-approve -no-color -lock-timeout=180s'
    - 'echo "waited output=$("$TOFU" output -raw greeting)"'
`

// tofuMain is the configuration: no provider to download (terraform_data
// and local-exec are built in), an output per run.
const tofuMain = `terraform {
  backend "http" {}
}
variable "run" { type = string }
variable "mark" { type = string }
resource "terraform_data" "apply" {
  input = var.run
  provisioner "local-exec" {
    command = "touch ${var.mark} && sleep 6"
  }
}
output "greeting" { value = "hello from ${var.run}" }
`

// TestOpenTofuStateFromJobs: OpenTofu in jobs of the built-in runner keeps
// its state in ciwarden with the job token (Basic gitlab-ci-token), locks
// it with POST/DELETE .../lock, and a second, concurrent apply is refused
// at the lock and then waits for it. A second pipeline makes a new
// version; the versions are listed and the former one is read back.
func TestOpenTofuStateFromJobs(t *testing.T) {
	tofu := tofuBinary(t)
	forEachTofuSetup(t, func(t *testing.T, s *testserver.Server) {
		e := s.NewTeam(t, "private")
		pid := testserver.Itoa(e.Project.ID)
		vars := api + "/projects/" + pid + "/variables"
		s.Expect(t, "POST", vars, e.Maint.Token, map[string]any{"key": "TOFU", "value": tofu}, 201)
		s.Expect(t, "POST", vars, e.Maint.Token, map[string]any{"key": "MARK_DIR", "value": t.TempDir()}, 201)
		s.PushCI(t, e.Project.Path, e.Maint, map[string]string{".gitlab-ci.yml": tofuCI, "main.tf": tofuMain})

		pl := waitPipeline(t, s, e.Project.ID, e.Maint.Token, 0)
		logA := jobLog(t, s, e.Project.ID, pipelineJob(t, s, e.Project.ID, pl, "apply_a", e.Maint.Token), e.Maint.Token)
		logB := jobLog(t, s, e.Project.ID, pipelineJob(t, s, e.Project.ID, pl, "apply_b", e.Maint.Token), e.Maint.Token)
		if st := pipelineStatus(t, s, e.Project.ID, pl, e.Maint.Token); st != "success" {
			t.Fatalf("pipeline %s\napply_a:\n%s\napply_b:\n%s", st, logA, logB)
		}
		for _, want := range []string{"Successfully configured the backend \"http\"", "Apply complete!", "output=hello from one"} {
			if !strings.Contains(logA, want) {
				t.Errorf("apply_a's log lacks %q:\n%s", want, logA)
			}
		}
		for _, want := range []string{"LOCK-REFUSED", "waited output=hello from one"} {
			if !strings.Contains(logB, want) {
				t.Errorf("apply_b's log lacks %q:\n%s", want, logB)
			}
		}

		// A second pipeline: a new version.
		pl2 := s.CreatePipeline(t, e.Project.ID, e.Maint.Token, map[string]string{"RUN": "two"})
		waitPipeline(t, s, e.Project.ID, e.Maint.Token, pl2)
		if st := pipelineStatus(t, s, e.Project.ID, pl2, e.Maint.Token); st != "success" {
			t.Fatalf("second pipeline %s:\n%s", st, jobLog(t, s, e.Project.ID, pipelineJob(t, s, e.Project.ID, pl2, "apply_a", e.Maint.Token), e.Maint.Token))
		}

		state := api + "/projects/" + pid + "/terraform/state/default"
		cur := s.Expect(t, "GET", state, e.Maint.Token, nil, 200)
		if !strings.Contains(string(cur.Body), "hello from two") {
			t.Fatalf("current state: %s", cur.Body)
		}
		list := s.Expect(t, "GET", api+"/projects/"+pid+"/terraform/state", e.Maint.Token, nil, 200).List(t)
		if len(list) != 1 || list[0]["name"] != "default" || list[0]["locked_at"] != nil {
			t.Fatalf("states: %v", list)
		}
		versions := s.Expect(t, "GET", state+"/versions", e.Maint.Token, nil, 200).List(t)
		if len(versions) < 2 {
			t.Fatalf("versions: %v", versions)
		}
		// The newest version holding run one is the former state.
		var former string
		for _, v := range versions[1:] {
			body := s.Expect(t, "GET", state+"/versions/"+testserver.Itoa(testserver.Num(t, v, "serial")), e.Maint.Token, nil, 200).Body
			if strings.Contains(string(body), "hello from one") {
				former = string(body)
				break
			}
		}
		if former == "" {
			t.Fatalf("no former version holds the first run's output: %v", versions)
		}
		if testserver.Num(t, versions[0], "job_id") == 0 {
			t.Errorf("the newest version names no job: %v", versions[0])
		}
	})
}

// TestTerraformStateWriteKilled: a server killed (SIGKILL) in the middle
// of a state POST leaves the former version current and the lock held by
// its owner, who writes and unlocks after the restart.
func TestTerraformStateWriteKilled(t *testing.T) {
	forEachTofuSetup(t, func(t *testing.T, s *testserver.Server) {
		e := s.NewTeam(t, "private")
		state := api + "/projects/" + testserver.Itoa(e.Project.ID) + "/terraform/state/prod"
		lock := `{"ID":"the-lock","Operation":"OperationTypeApply","Who":"ci@runner"}`
		basic := func(r *http.Request) { r.SetBasicAuth("maint", e.Maint.Token) }
		call := func(method, path string, body string) *testserver.Resp {
			req := s.NewRequest(t, method, path, "", []byte(body))
			basic(req)
			return s.Send(t, req)
		}
		want := func(r *testserver.Resp, status int) {
			t.Helper()
			if r.Status != status {
				t.Fatalf("%s: want %d", r, status)
			}
		}
		v1 := `{"version":4,"serial":1,"lineage":"l","outputs":{"o":{"value":"first","type":"string"}}}`
		want(call("POST", state+"/lock", lock), 200)
		want(call("POST", state+"?ID=the-lock", v1), 200)

		// A second version, streamed and never finished.
		pr, pw := io.Pipe()
		req := s.NewRequest(t, "POST", state+"?ID=the-lock", "", nil)
		basic(req)
		req.Body, req.ContentLength = pr, -1
		done := make(chan error, 1)
		go func() {
			_, err := s.Try(req)
			done <- err
		}()
		if _, err := pw.Write([]byte(`{"version":4,"serial":2,"lineage":"l","pad":"` + strings.Repeat("p", 4<<20))); err != nil {
			t.Fatalf("the server stopped reading the state early: %v", err)
		}
		s.Kill(t)
		pw.CloseWithError(fmt.Errorf("server killed"))
		select {
		case err := <-done:
			if err == nil {
				t.Fatal("the write succeeded although the server was killed mid-body")
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the interrupted write never returned")
		}

		s = s.Restart(t)
		if r := call("GET", state, ""); r.Status != 200 || string(r.Body) != v1 {
			t.Fatalf("after the kill the current state is %s, want the former version", r)
		}
		// Still locked by its owner: others are refused with its lock.
		if r := call("POST", state, v1); r.Status != 409 || !strings.Contains(string(r.Body), `"the-lock"`) {
			t.Fatalf("a write without the lock after the restart: %s", r)
		}
		v2 := `{"version":4,"serial":2,"lineage":"l"}`
		want(call("POST", state+"?ID=the-lock", v2), 200)
		want(call("DELETE", state+"/lock", lock), 200)
		if r := call("GET", state, ""); string(r.Body) != v2 {
			t.Fatalf("current state %s", r)
		}
		if s.Storage == "fs" {
			if left := pkFiles(t, filepath.Join(s.DataDir, "blobs", ".tmp")); len(left) != 0 {
				t.Fatalf("temporaries left after the restart: %v", left)
			}
		}
	})
}
