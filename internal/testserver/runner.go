package testserver

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/runner"
)

// The runner side: a client written from runner-protocol.md that speaks
// HTTP exactly as gitlab-runner does (§2, §5 to §9), and the built-in
// runner for tests that want jobs to run.

// RunnerUserAgent is what gitlab-runner sends on every request.
const RunnerUserAgent = "gitlab-runner 19.4.0 (19-4-stable; go1.24.6; linux/amd64)"

// RunnerFeatures is what a shell runner 19.4 advertises (§5.1).
func RunnerFeatures() map[string]bool {
	f := map[string]bool{}
	for _, k := range []string{"artifacts", "cache", "fallback_cache_keys", "upload_multiple_artifacts", "upload_raw_artifacts",
		"refspecs", "masking", "raw_variables", "artifacts_exclude", "multi_build_steps", "trace_reset", "trace_checksum",
		"trace_size", "vault_secrets", "cancelable", "return_exit_code", "cancel_gracefully", "two_phase_job_commit", "job_inputs"} {
		f[k] = true
	}
	for _, k := range []string{"variables", "image", "services", "shared", "session", "terminal", "proxy", "service_variables",
		"service_multiple_aliases", "image_executor_opts", "service_executor_opts", "native_steps_integration"} {
		f[k] = false
	}
	return f
}

// RunnerInfoBody is the info object of a runner's requests.
func RunnerInfoBody() map[string]any {
	return map[string]any{"name": "gitlab-runner", "version": "19.4.0", "revision": "0123abcd", "platform": "linux",
		"architecture": "amd64", "executor": "shell", "shell": "bash", "features": RunnerFeatures(),
		"config": map[string]any{"gpus": ""}, "labels": map[string]any{}}
}

// RunnerCall builds a runner request as gitlab-runner does: User-Agent,
// X-Request-Id, and for JSON answers Accept. path is under /api/v4.
func (s *Server) RunnerCall(t testing.TB, method, path string, body any, expectJSON bool) *http.Request {
	t.Helper()
	req := s.NewRequest(t, method, API+path, "", body)
	req.Header.Set("User-Agent", RunnerUserAgent)
	req.Header.Set("X-Request-Id", RandHex(8))
	if expectJSON {
		req.Header.Set("Accept", "application/json")
	}
	return req
}

// CreateRunner makes a runner through POST /user/runners as root; fields
// add to runner_type=instance_type. It returns the ID and glrt- token.
func (s *Server) CreateRunner(t testing.TB, fields map[string]any) (int64, string) {
	t.Helper()
	body := map[string]any{"runner_type": "instance_type"}
	for k, v := range fields {
		body[k] = v
	}
	r := s.Expect(t, "POST", API+"/user/runners", s.RootToken, body, http.StatusCreated).Object(t)
	tok, _ := r["token"].(string)
	if !strings.HasPrefix(tok, auth.RunnerTokenPrefix) {
		t.Fatalf("POST /user/runners: token %q… lacks the %s prefix", shortSecret(tok), auth.RunnerTokenPrefix)
	}
	s.Remember(tok)
	return Num(t, r, "id"), tok
}

// RunnerClient is one runner installation polling for jobs.
type RunnerClient struct {
	S          *Server
	Token      string
	SystemID   string
	LastUpdate string
}

// NewRunnerClient is a runner with token and a fresh system_id.
func (s *Server) NewRunnerClient(token string) *RunnerClient {
	return &RunnerClient{S: s, Token: token, SystemID: "s_" + RandHex(6)}
}

// Request is one POST /jobs/request; it keeps X-GitLab-Last-Update as the
// runner does.
func (rc *RunnerClient) Request(t testing.TB) *Resp {
	t.Helper()
	return rc.RequestWith(t, rc.LastUpdate)
}

// RequestWith is Request with the given last_update.
func (rc *RunnerClient) RequestWith(t testing.TB, lastUpdate string) *Resp {
	t.Helper()
	r := rc.S.Send(t, rc.BuildRequest(t, lastUpdate))
	if v := r.Header.Get("X-GitLab-Last-Update"); v != "" {
		rc.LastUpdate = v
	}
	return r
}

// BuildRequest is the runner's POST /jobs/request: token in the body and
// in RUNNER-TOKEN, system_id, last_update (when known) and info.
func (rc *RunnerClient) BuildRequest(t testing.TB, lastUpdate string) *http.Request {
	t.Helper()
	body := map[string]any{"token": rc.Token, "system_id": rc.SystemID, "info": RunnerInfoBody()}
	if lastUpdate != "" {
		body["last_update"] = lastUpdate
	}
	req := rc.S.RunnerCall(t, "POST", "/jobs/request", body, true)
	req.Header.Set("RUNNER-TOKEN", rc.Token)
	return req
}

// RunningJob is a job a runner received, with its decoded payload.
type RunningJob struct {
	RC      *RunnerClient
	ID      int64
	Token   string
	Payload *JobResponse
	Raw     []byte
	Sent    []byte // trace bytes sent so far
}

// TakeJob asks for a job and expects one (201).
func (rc *RunnerClient) TakeJob(t testing.TB) *RunningJob {
	t.Helper()
	r := rc.Request(t)
	if r.Status != http.StatusCreated {
		t.Fatalf("POST /jobs/request: %s, want 201 with a job", r)
	}
	return rc.DecodeJob(t, r)
}

// DecodeJob decodes a 201 answer to POST /jobs/request into gitlab-runner's
// types and remembers the job token.
func (rc *RunnerClient) DecodeJob(t testing.TB, r *Resp) *RunningJob {
	t.Helper()
	var p JobResponse
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Fatalf("the job payload does not decode into gitlab-runner's types: %v\n%s", err, r.Body)
	}
	if p.ID == 0 || p.Token == "" {
		t.Fatalf("job payload without id or token: %s", r.Body)
	}
	rc.S.Remember(p.Token)
	return &RunningJob{RC: rc, ID: p.ID, Token: p.Token, Payload: &p, Raw: r.Body}
}

// ExpectNoJob asks for a job and expects 204.
func (rc *RunnerClient) ExpectNoJob(t testing.TB) *Resp {
	t.Helper()
	r := rc.Request(t)
	if r.Status != http.StatusNoContent {
		t.Fatalf("POST /jobs/request: %s, want 204", r)
	}
	return r
}

// Update is PUT /jobs/:id with the job token in the body and JOB-TOKEN.
func (j *RunningJob) Update(t testing.TB, fields map[string]any) *Resp {
	t.Helper()
	return j.RC.S.UpdateJob(t, j.ID, j.Token, fields)
}

// UpdateJob is the runner's PUT /jobs/:id.
func (s *Server) UpdateJob(t testing.TB, id int64, token string, fields map[string]any) *Resp {
	t.Helper()
	body := map[string]any{"token": token, "info": RunnerInfoBody()}
	for k, v := range fields {
		body[k] = v
	}
	req := s.RunnerCall(t, "PUT", "/jobs/"+Itoa(id), body, true)
	req.Header.Set("JOB-TOKEN", token)
	return s.Send(t, req)
}

// Start is the runner's first PUT state=running, expected 200.
func (j *RunningJob) Start(t testing.TB) {
	t.Helper()
	r := j.Update(t, map[string]any{"state": "running"})
	if r.Status != http.StatusOK {
		t.Fatalf("first PUT state=running: %s, want 200", r)
	}
}

// PatchTrace sends a trace chunk at offset start (Content-Range
// start-end).
func (s *Server) PatchTrace(t testing.TB, id int64, token string, start int, data []byte) *Resp {
	t.Helper()
	req := s.RunnerCall(t, "PATCH", "/jobs/"+Itoa(id)+"/trace?debug_trace=false", data, false)
	req.Header.Set("JOB-TOKEN", token)
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("Content-Range", fmt.Sprintf("%d-%d", start, start+len(data)-1))
	return s.Send(t, req)
}

// AppendTrace sends data after what was sent so far, expecting 202.
func (j *RunningJob) AppendTrace(t testing.TB, data string) *Resp {
	t.Helper()
	r := j.RC.S.PatchTrace(t, j.ID, j.Token, len(j.Sent), []byte(data))
	if r.Status != http.StatusAccepted {
		t.Fatalf("PATCH trace at %d: %s, want 202", len(j.Sent), r)
	}
	j.Sent = append(j.Sent, data...)
	return r
}

// Finish is the final PUT with the trace's checksum and size.
func (j *RunningJob) Finish(t testing.TB, state string) *Resp {
	t.Helper()
	sum := fmt.Sprintf("crc32:%08x", crc32.ChecksumIEEE(j.Sent))
	fields := map[string]any{"state": state, "checksum": sum, "output": map[string]any{"checksum": sum, "bytesize": len(j.Sent)}}
	if state == "failed" {
		fields["failure_reason"] = "script_failure"
		fields["exit_code"] = 1
	}
	return j.Update(t, fields)
}

// FinishOK is Finish expecting 200.
func (j *RunningJob) FinishOK(t testing.TB, state string) {
	t.Helper()
	if r := j.Finish(t, state); r.Status != http.StatusOK {
		t.Fatalf("final PUT state=%s: %s, want 200", state, r)
	}
}

// GetJob is GET /api/v4/job with the token in JOB-TOKEN.
func (s *Server) GetJob(t testing.TB, token string) *Resp {
	t.Helper()
	req := s.NewRequest(t, "GET", API+"/job", "", nil)
	req.Header.Set("JOB-TOKEN", token)
	return s.Send(t, req)
}

// WantLive checks that token authenticates GET /job as job id and, with
// fullPath, git over HTTP on its project.
func (s *Server) WantLive(t testing.TB, token string, id int64, fullPath string) {
	t.Helper()
	r := s.GetJob(t, token)
	if r.Status != http.StatusOK {
		t.Fatalf("GET /job with a live token: %s, want 200", r)
	}
	if got := Num(t, r.Object(t), "id"); got != id {
		t.Errorf("GET /job: id %d, want %d", got, id)
	}
	if fullPath != "" {
		if g := s.GitInfoRefs(t, fullPath, "gitlab-ci-token", token); g.Status != http.StatusOK {
			t.Errorf("git info/refs with a live job token: %s, want 200", g)
		}
	}
	// On SQLite the server caches live tokens: a WantDead that follows
	// then proves the change that ended the job evicted it. A fill that
	// raced any job change is rightly dropped (the cache's generation
	// counter), so a busy server may need another use before it keeps the
	// token.
	if s.Srv != nil {
		want := !s.Srv.Store().Shared()
		cached := s.Srv.Authenticator().JobTokenCached(token)
		for try := 0; want && !cached && try < 5; try++ {
			s.GetJob(t, token)
			cached = s.Srv.Authenticator().JobTokenCached(token)
		}
		if cached != want {
			t.Errorf("job token cached after use: %v, want %v on %s", cached, want, s.Srv.Store().Dialect())
		}
	}
}

// WantDead checks that token is refused at once: 401 on GET /job and 401
// "HTTP Basic: Access denied" on git.
func (s *Server) WantDead(t testing.TB, token, fullPath string) {
	t.Helper()
	r := s.GetJob(t, token)
	if r.Status != http.StatusUnauthorized {
		t.Errorf("GET /job with a dead token: %s, want 401", r)
	} else if m := r.Object(t); m["message"] != "401 Unauthorized" {
		t.Errorf("GET /job with a dead token: body %s, want {\"message\":\"401 Unauthorized\"}", r.Body)
	}
	if fullPath != "" {
		g := s.GitInfoRefs(t, fullPath, "gitlab-ci-token", token)
		if g.Status != http.StatusUnauthorized || strings.TrimSpace(string(g.Body)) != "HTTP Basic: Access denied" {
			t.Errorf("git info/refs with a dead job token: %s, want 401 \"HTTP Basic: Access denied\"", g)
		}
	}
}

// StartBuiltinRunner runs ciwarden's built-in runner (two workers) against
// s until the test ends, registered as an untagged instance runner. Its
// builds live in the data directory and its log goes to the server's, so
// both are checked. It returns the runner's ID and token.
func (s *Server) StartBuiltinRunner(t testing.TB) (int64, string) {
	t.Helper()
	id, tok := s.CreateRunner(t, map[string]any{"description": "built-in", "run_untagged": true})
	hc := &http.Client{Timeout: time.Minute}
	r := &runner.Runner{
		Client:    &runner.Client{BaseURL: s.URL, Token: tok, SystemID: "builtin_" + RandHex(4), HTTP: hc},
		BuildsDir: s.DataDir + "/test-builds", Concurrent: 2, Log: s.Logger(), KillGrace: time.Second,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		hc.CloseIdleConnections()
	})
	return id, tok
}
