package e2e

import (
	"encoding/base64"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// TestVariablesInJobs: the built-in runner gives a job its CI/CD
// variables. A masked project variable is in the job's environment and
// never in its log (plain or base64), the server's log or the database
// (the harness's checks); a file variable's file holds the value with
// mode 0600 during the job and is gone after it; a protected variable
// reaches no job (no ref is protected yet).
func TestVariablesInJobs(t *testing.T) {
	testserver.ForEachDialect(t, func(t *testing.T, dialect string) {
		s := start(t, testserver.Options{Dialect: dialect, Args: []string{"--runners", "1", "--runner-long-poll", "2s"}})
		root := testserver.User{Username: "root", Token: s.RootToken}
		p := s.CreateProject(t, 0, "app", "private")
		const secret = "Job-Secret_value-42"
		const content = "first line\nsecond line\n"
		s.Remember(secret)
		s.Remember(content)
		vars := api + "/projects/" + testserver.Itoa(p.ID) + "/variables"
		s.Expect(t, "POST", vars, s.RootToken, map[string]any{"key": "SECRET", "value": secret, "masked": true}, 201)
		s.Expect(t, "POST", vars, s.RootToken, map[string]any{"key": "CONFIG", "value": content, "variable_type": "file"}, 201)
		s.Expect(t, "POST", vars, s.RootToken, map[string]any{"key": "PROTECTED_ONLY", "value": "protected-value", "protected": true}, 201)
		ci := `job:
  script:
    - 'test "$(printf %s "$SECRET" | sha256sum | cut -c1-64)" = "50961664d23ab875ecabf01526f0f84935b3d29b448873711a74a846c447d6af" && echo secret-ok'
    - 'echo "plain $SECRET"'
    - 'printf %s "$SECRET" | base64'
    - 'echo "config=$CONFIG mode=$(stat -c %a "$CONFIG")"'
    - 'test "$(cat "$CONFIG")" = "$(printf "first line\nsecond line")" && echo content-ok'
    - 'case "$CONFIG" in "$CI_PROJECT_DIR"/*) echo in-checkout;; esac'
    - 'echo "protected=[${PROTECTED_ONLY:-}]"'
`
		s.PushCI(t, p.Path, root, map[string]string{".gitlab-ci.yml": ci})
		pl := waitPipeline(t, s, p.ID, s.RootToken, 0)
		job := pipelineJob(t, s, p.ID, pl, "job", s.RootToken)
		log := jobLog(t, s, p.ID, job, s.RootToken)
		if st := jobStatus(t, s, p.ID, job, s.RootToken); st != "success" {
			t.Fatalf("job %s; log:\n%s", st, log)
		}
		for _, want := range []string{"secret-ok", "plain [MASKED]", "mode=600", "content-ok", "protected=[]"} {
			if !strings.Contains(log, want) {
				t.Errorf("the log lacks %q:\n%s", want, log)
			}
		}
		if strings.Contains(log, secret) || strings.Contains(log, base64.StdEncoding.EncodeToString([]byte(secret))) ||
			strings.Contains(log, "\nin-checkout") {
			t.Errorf("the log holds the secret, or the file is in the checkout:\n%s", log)
		}
		m := regexp.MustCompile(`(?m)^config=(/\S+) `).FindStringSubmatch(log)
		if m == nil {
			t.Fatalf("no file path in the log:\n%s", log)
		}
		if !strings.HasPrefix(m[1], s.DataDir) {
			t.Errorf("the file %s is not in the builds directory under %s", m[1], s.DataDir)
		}
		if _, err := os.Stat(m[1]); !os.IsNotExist(err) {
			t.Errorf("the file variable's file is still there after the job: %v", err)
		}
	})
}
