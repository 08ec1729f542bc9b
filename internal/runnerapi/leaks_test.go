package runnerapi_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// TestStoredLogScan: when a finished job's stored log still holds its
// token (masking failed somewhere), the server says so in a metric and a
// log line, neither of which contains the token.
func TestStoredLogScan(t *testing.T) {
	s := testserver.New(t, testserver.Options{})
	dev := s.CreateUser(t, "dev")
	g := s.CreateGroup(t, "grp", 0, "private")
	s.AddMember(t, "groups", g, dev.ID, 30)
	p := s.CreateProject(t, g, "app", "private")
	_, tok := s.CreateRunner(t, nil)
	s.PushCI(t, p.Path, dev, map[string]string{".gitlab-ci.yml": "job:\n  script: [echo hi]\n"})
	j := s.NewRunnerClient(tok).TakeJob(t)
	j.Start(t)
	if r := j.AppendTrace(t, "clean line\n"); r.Status != http.StatusAccepted {
		t.Fatalf("PATCH: %s", r)
	}
	// Simulate a masking failure: the raw token lands in the stored log.
	s.ExpectDataLeak("the test writes the job token into the stored log")
	if _, err := s.Srv.Store().DB().Exec("INSERT INTO job_trace_chunks (job_id, seq, data) VALUES (?, 99, ?)", j.ID, []byte("leak "+j.Token+"\n")); err != nil {
		t.Fatal(err)
	}
	if r := j.Finish(t, "success"); r.Status != http.StatusOK {
		t.Fatalf("final PUT: %s", r)
	}
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), "ciwarden_job_log_secret_leaks_total 1") {
		t.Errorf("metric not counted:\n%s", grepLines(string(metrics), "leaks"))
	}
	logs := s.Log()
	if !strings.Contains(logs, "a secret of the job is in its stored log") {
		t.Errorf("no log line about the leak:\n%s", logs)
	}
	if strings.Contains(logs, j.Token) {
		t.Errorf("the log line repeats the token")
	}
}

// grepLines is the lines of s that contain substr.
func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
