package server_test

// Shared harness for the runner-protocol tests (conformance, liveness,
// queue, transport): a real server behind httptest, fixtures made through
// the API and the git CLI, and a runner client written from
// runner-protocol.md that speaks HTTP exactly as gitlab-runner does.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/blob"
	"github.com/ciwarden/ciwarden/internal/server"
	"github.com/ciwarden/ciwarden/internal/testblob"
	"github.com/ciwarden/ciwarden/internal/testdb"
)

// rootToken is root's personal access token (Config.InitialRootToken).
const rootToken = "cwpat-runner-proto-root-token-8fQ2kLm"

// runnerUserAgent is what gitlab-runner sends on every request.
const runnerUserAgent = "gitlab-runner 19.4.0 (19-4-stable; go1.24.6; linux/amd64)"

// syncBuffer is a log sink handlers write to concurrently.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// serverOpts configure one test server.
type serverOpts struct {
	// DatabaseURL; empty means a fresh database of dialect.
	DatabaseURL string
	dialect     string
	// DataDir; empty means a fresh temporary directory.
	DataDir string
	// LongPoll of POST /jobs/request; 0 means 2 s.
	LongPoll time.Duration
	// RegistrationToken enables legacy POST /runners.
	RegistrationToken string
	// Run starts Server.Run as well (on a loopback port of its own), for
	// its background work: the timeout sweep and the reaper.
	Run bool
	// S3, when set, keeps artifacts and packages in its bucket instead of
	// the data directory (testblob.Start).
	S3 *testblob.S3
	// MaxArtifactsSize and MaxPackageFileSize; 0 means the defaults.
	MaxArtifactsSize, MaxPackageFileSize int64
	// InstanceKey (base64); empty means the data directory's key file.
	InstanceKey string
	// RunnerContactTimeout; 0 means the default.
	RunnerContactTimeout time.Duration
}

// testServer is a ciwarden server behind an httptest server whose URL is
// the server's external URL.
type testServer struct {
	t       testing.TB
	srv     *server.Server
	ts      *httptest.Server
	URL     string
	client  *http.Client
	logs    *syncBuffer
	dataDir string

	mu      sync.Mutex
	secrets []string // every token minted, to look for in the log
}

// newServer starts a server. When the test ends it checks that no request
// failed with a 500 or panicked and that no token reached the log.
func newServer(t testing.TB, o serverOpts) *testServer {
	t.Helper()
	if o.DatabaseURL == "" {
		d := o.dialect
		if d == "" {
			d = "sqlite"
		}
		o.DatabaseURL = testdb.URL(t, d)
	}
	if o.DataDir == "" {
		o.DataDir = t.TempDir()
	}
	if o.LongPoll == 0 {
		o.LongPoll = 2 * time.Second
	}
	s := &testServer{t: t, logs: &syncBuffer{}, dataDir: o.DataDir, secrets: []string{rootToken}}
	// The external URL must be known before server.New: start the
	// listener first with a placeholder handler.
	s.ts = httptest.NewServer(http.NotFoundHandler())
	s.URL = s.ts.URL
	cfg := server.Config{
		DataDir:                 o.DataDir,
		DatabaseURL:             o.DatabaseURL,
		InitialRootToken:        rootToken,
		ExternalURL:             s.URL,
		LongPoll:                o.LongPoll,
		RunnerRegistrationToken: o.RegistrationToken,
		MaxArtifactsSize:        o.MaxArtifactsSize,
		MaxPackageFileSize:      o.MaxPackageFileSize,
		InstanceKey:             o.InstanceKey,
		RunnerContactTimeout:    o.RunnerContactTimeout,
	}
	if o.S3 != nil {
		cfg.S3 = blob.S3Config{Endpoint: o.S3.Endpoint, Bucket: o.S3.Bucket, AccessKey: o.S3.AccessKey,
			SecretKey: o.S3.SecretKey, Region: o.S3.Region, Prefix: "t" + randHex(8) + "/"}
	}
	if o.Run {
		cfg.Listen = "127.0.0.1:0"
	}
	srv, err := server.New(context.Background(), cfg, server.NewLogger(s.logs, slog.LevelDebug), io.Discard)
	if err != nil {
		s.ts.Close()
		t.Fatalf("server.New: %v", err)
	}
	s.srv = srv
	s.ts.Config.Handler = srv.Handler()
	s.client = &http.Client{
		Timeout:   2 * time.Minute,
		Transport: &http.Transport{MaxIdleConns: 200, MaxIdleConnsPerHost: 200, IdleConnTimeout: 30 * time.Second},
		// gitlab-runner follows redirects only for artifacts; nothing
		// here should redirect.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	var stopRun context.CancelFunc
	var runDone chan error
	if o.Run {
		var ctx context.Context
		ctx, stopRun = context.WithCancel(context.Background())
		runDone = make(chan error, 1)
		go func() { runDone <- srv.Run(ctx) }()
	}
	t.Cleanup(func() {
		s.ts.Close()
		s.client.CloseIdleConnections()
		if stopRun != nil {
			stopRun() // Run closes the store when it returns
			select {
			case err := <-runDone:
				if err != nil {
					t.Errorf("Server.Run: %v", err)
				}
			case <-time.After(40 * time.Second):
				t.Errorf("Server.Run did not return")
			}
		} else {
			srv.Store().Close()
		}
		out := s.logs.String()
		if strings.Contains(out, "handler panic") || strings.Contains(out, "request failed") {
			t.Errorf("the server logged a failure:\n%s", grepLines(out, "level=ERROR"))
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, tok := range s.secrets {
			if strings.Contains(out, tok) {
				t.Errorf("the server log contains the token %s…", tok[:10])
			}
		}
	})
	return s
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// forEachDialect runs fn on SQLite and, with CIWARDEN_TEST_POSTGRES_URL,
// on PostgreSQL.
func forEachDialect(t *testing.T, fn func(t *testing.T, dialect string)) {
	t.Helper()
	for _, d := range testdb.Dialects {
		t.Run(d, func(t *testing.T) {
			if d == "postgres" && !testdb.HavePostgres() {
				t.Skipf("skipping PostgreSQL: set %s", testdb.EnvPostgres)
			}
			fn(t, d)
		})
	}
}

// forEachStorage runs fn on a server of each database with each blob
// store: the filesystem, and S3 (a versitygw started for the test; skipped
// when versitygw is not installed). opts are the rest of the options.
func forEachStorage(t *testing.T, opts serverOpts, fn func(t *testing.T, s *testServer)) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		for _, storage := range []string{"fs", "s3"} {
			t.Run(storage, func(t *testing.T) {
				o := opts
				o.dialect = dialect
				if storage == "s3" {
					o.S3 = testblob.Start(t)
				}
				fn(t, newServer(t, o))
			})
		}
	})
}

func (s *testServer) remember(secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secrets = append(s.secrets, secret)
}

// resp is one answer, read whole.
type resp struct {
	what    string // "METHOD path" without query, for messages
	Status  int
	Header  http.Header
	Body    []byte
	Elapsed time.Duration
}

func (r *resp) String() string {
	b := string(r.Body)
	if len(b) > 300 {
		b = b[:300] + "…"
	}
	return fmt.Sprintf("%s: %d %q", r.what, r.Status, b)
}

// JSON decodes the body into v.
func (r *resp) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("%s: body is not the expected JSON (%v): %s", r.what, err, r)
	}
}

// Object decodes a JSON object body.
func (r *resp) Object(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	r.JSON(t, &m)
	return m
}

// do performs req and reads the answer; safe in any goroutine.
func (s *testServer) do(req *http.Request) (*resp, error) {
	start := time.Now()
	res, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: read body: %w", req.Method, req.URL.Path, err)
	}
	return &resp{what: req.Method + " " + req.URL.Path, Status: res.StatusCode, Header: res.Header, Body: body, Elapsed: time.Since(start)}, nil
}

// send performs req and reads the answer. A 5xx fails the test.
func (s *testServer) send(t testing.TB, req *http.Request) *resp {
	t.Helper()
	r, err := s.do(req)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status >= 500 {
		t.Errorf("server error: %s", r)
	}
	return r
}

// newRequest builds a request to path (relative to the server); a
// non-nil body other than string, []byte or url.Values is sent as JSON.
func (s *testServer) newRequest(t testing.TB, method, path string, body any) *http.Request {
	t.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	case url.Values:
		rd, ct = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	default:
		js, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd, ct = bytes.NewReader(js), "application/json"
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	return req
}

// api calls the REST API with token in PRIVATE-TOKEN ("" for none).
func (s *testServer) api(t testing.TB, method, path, token string, body any) *resp {
	t.Helper()
	req := s.newRequest(t, method, "/api/v4"+path, body)
	if token != "" {
		req.Header.Set("PRIVATE-TOKEN", token)
	}
	return s.send(t, req)
}

// expect is api and a status check.
func (s *testServer) expect(t testing.TB, method, path, token string, body any, want int) *resp {
	t.Helper()
	r := s.api(t, method, path, token, body)
	if r.Status != want {
		t.Fatalf("%s: want %d", r, want)
	}
	return r
}

func num(t testing.TB, m map[string]any, key string) int64 {
	t.Helper()
	f, ok := m[key].(float64)
	if !ok {
		t.Fatalf("%q is %T %v, want a number (in %v)", key, m[key], m[key], m)
	}
	return int64(f)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// user is an account with an api-scoped personal access token.
type user struct {
	ID       int64
	Username string
	Token    string
}

func (s *testServer) createUser(t testing.TB, username string) user {
	t.Helper()
	u := s.expect(t, "POST", "/users", rootToken, map[string]any{"username": username, "name": username,
		"email": username + "@example.com"}, http.StatusCreated).Object(t)
	id := num(t, u, "id")
	tok := s.expect(t, "POST", "/users/"+itoa(id)+"/personal_access_tokens", rootToken,
		map[string]any{"name": "test", "scopes": []string{"api"}}, http.StatusCreated).Object(t)
	token, _ := tok["token"].(string)
	if token == "" {
		t.Fatalf("no token in %v", tok)
	}
	s.remember(token)
	return user{ID: id, Username: username, Token: token}
}

func (s *testServer) createGroup(t testing.TB, path, visibility string) int64 {
	t.Helper()
	return num(t, s.expect(t, "POST", "/groups", rootToken, map[string]any{"name": path, "path": path,
		"visibility": visibility}, http.StatusCreated).Object(t), "id")
}

// project is a project and its full path.
type project struct {
	ID   int64
	Path string
}

func (s *testServer) createProject(t testing.TB, groupID int64, path, visibility string) project {
	t.Helper()
	p := s.expect(t, "POST", "/projects", rootToken, map[string]any{"name": path, "path": path,
		"namespace_id": groupID, "visibility": visibility}, http.StatusCreated).Object(t)
	full, _ := p["path_with_namespace"].(string)
	if full == "" {
		t.Fatalf("no path_with_namespace in %v", p)
	}
	return project{ID: num(t, p, "id"), Path: full}
}

func (s *testServer) addMember(t testing.TB, kind string, id, userID int64, level int) {
	t.Helper()
	s.expect(t, "POST", "/"+kind+"/"+itoa(id)+"/members", rootToken, map[string]any{"user_id": userID, "access_level": level}, http.StatusCreated)
}

// createPipeline runs the project's .gitlab-ci.yml on main through the
// API, as u, and returns the pipeline's ID.
func (s *testServer) createPipeline(t testing.TB, p project, u user, vars map[string]string) int64 {
	t.Helper()
	body := map[string]any{"ref": "main"}
	if len(vars) > 0 {
		var list []map[string]string
		for k, v := range vars {
			list = append(list, map[string]string{"key": k, "value": v})
		}
		body["variables"] = list
	}
	return num(t, s.expect(t, "POST", "/projects/"+itoa(p.ID)+"/pipeline", u.Token, body, http.StatusCreated).Object(t), "id")
}

// jobState is a job as root sees it through the API.
func (s *testServer) jobState(t testing.TB, p project, jobID int64) map[string]any {
	t.Helper()
	return s.expect(t, "GET", "/projects/"+itoa(p.ID)+"/jobs/"+itoa(jobID), rootToken, nil, http.StatusOK).Object(t)
}

// ---- git ----

// gitCLI runs the system git with an empty private HOME: no global
// configuration, no credential helper, never a prompt.
type gitCLI struct{ env []string }

func newGit(t testing.TB) *gitCLI {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatalf("git is not on PATH: %v", err)
	}
	home := t.TempDir()
	var env []string
	for _, kv := range os.Environ() {
		switch {
		case strings.HasPrefix(kv, "GIT_"), strings.HasPrefix(kv, "HOME="), strings.HasPrefix(kv, "XDG_CONFIG_HOME="),
			strings.HasPrefix(kv, "LANG="), strings.HasPrefix(kv, "LC_"), strings.HasPrefix(kv, "HTTP_PROXY="),
			strings.HasPrefix(kv, "http_proxy="), strings.HasPrefix(kv, "ALL_PROXY="), strings.HasPrefix(kv, "all_proxy="):
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"), "GIT_TERMINAL_PROMPT=0",
		"GIT_CONFIG_NOSYSTEM=1", "LC_ALL=C", "NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost")
	return &gitCLI{env: env}
}

// exec runs git in dir; it returns stdout, stderr and the error.
func (g *gitCLI) exec(dir string, args ...string) (string, string, error) {
	full := append([]string{"-c", "user.name=Runner Proto", "-c", "user.email=proto@example.com",
		"-c", "init.defaultBranch=main", "-c", "advice.detachedHead=false", "-c", "credential.helper="}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", full...)
	cmd.Dir = dir
	cmd.Env = g.env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return strings.TrimSpace(out.String()), errb.String(), err
}

func (g *gitCLI) run(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, errs, err := g.exec(dir, args...)
	if err != nil {
		t.Fatalf("git %s: %v\n%s", redact(args), err, errs)
	}
	return out
}

// redact hides the password of credentialed URLs in failure messages.
func redact(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if u, err := url.Parse(a); err == nil && u.User != nil {
			if _, ok := u.User.Password(); ok {
				u.User = url.UserPassword(u.User.Username(), "REDACTED")
			}
			a = u.String()
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}

// gitURL is a project's clone URL with credentials.
func (s *testServer) gitURL(user, password, fullPath string) string {
	u, err := url.Parse(s.URL + "/" + fullPath + ".git")
	if err != nil {
		panic(err)
	}
	if user != "" {
		u.User = url.UserPassword(user, password)
	}
	return u.String()
}

// repo is a local working copy whose origin is a project on the server.
type repo struct {
	g   *gitCLI
	dir string
}

// pushCI creates a working copy of p, commits files (with the
// .gitlab-ci.yml) and pushes main as u; it returns the commit.
func (s *testServer) pushCI(t testing.TB, p project, u user, files map[string]string) (*repo, string) {
	t.Helper()
	g := newGit(t)
	dir := filepath.Join(t.TempDir(), "work")
	g.run(t, "", "init", "--quiet", dir)
	g.run(t, dir, "remote", "add", "origin", s.gitURL(u.Username, u.Token, p.Path))
	r := &repo{g: g, dir: dir}
	return r, r.commitPush(t, "initial", files)
}

// commitPush commits files and pushes main; it returns the new commit.
func (r *repo) commitPush(t testing.TB, msg string, files map[string]string) string {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(r.dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r.g.run(t, r.dir, "add", "--all")
	r.g.run(t, r.dir, "commit", "--quiet", "--allow-empty", "-m", msg)
	sha := r.g.run(t, r.dir, "rev-parse", "HEAD")
	r.g.run(t, r.dir, "push", "--quiet", "origin", "HEAD:refs/heads/main")
	return sha
}

// gitInfoRefs is the smart-HTTP advertisement request git sends first,
// with HTTP Basic user:password.
func (s *testServer) gitInfoRefs(t testing.TB, fullPath, user, password string) *resp {
	t.Helper()
	req := s.newRequest(t, "GET", "/"+fullPath+".git/info/refs?service=git-upload-pack", nil)
	req.SetBasicAuth(user, password)
	req.Header.Set("User-Agent", "git/2.39.5")
	return s.send(t, req)
}

// ---- the runner side ----

// runnerFeatures is what a shell runner 19.4 advertises (§5.1).
func runnerFeatures() map[string]bool {
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

func runnerInfo() map[string]any {
	return map[string]any{"name": "gitlab-runner", "version": "19.4.0", "revision": "0123abcd", "platform": "linux",
		"architecture": "amd64", "executor": "shell", "shell": "bash", "features": runnerFeatures(),
		"config": map[string]any{"gpus": ""}, "labels": map[string]any{}}
}

// runnerCall builds a runner request as gitlab-runner does: User-Agent,
// X-Request-Id, and for JSON Content-Type and Accept.
func (s *testServer) runnerCall(t testing.TB, method, path string, body any, expectJSON bool) *http.Request {
	t.Helper()
	req := s.newRequest(t, method, "/api/v4"+path, body)
	req.Header.Set("User-Agent", runnerUserAgent)
	req.Header.Set("X-Request-Id", randHex(8))
	if expectJSON {
		req.Header.Set("Accept", "application/json")
	}
	return req
}

// createRunner makes a runner through POST /user/runners as root; fields
// add to runner_type=instance_type. It returns the ID and glrt- token.
func (s *testServer) createRunner(t testing.TB, fields map[string]any) (int64, string) {
	t.Helper()
	body := map[string]any{"runner_type": "instance_type"}
	for k, v := range fields {
		body[k] = v
	}
	r := s.expect(t, "POST", "/user/runners", rootToken, body, http.StatusCreated).Object(t)
	tok, _ := r["token"].(string)
	if !strings.HasPrefix(tok, "glrt-") {
		t.Fatalf("POST /user/runners: token %q lacks the glrt- prefix", tok)
	}
	s.remember(tok)
	return num(t, r, "id"), tok
}

// runnerClient is one runner installation polling for jobs.
type runnerClient struct {
	s          *testServer
	token      string
	systemID   string
	lastUpdate string
}

func (s *testServer) newRunnerClient(token string) *runnerClient {
	return &runnerClient{s: s, token: token, systemID: "s_" + randHex(6)}
}

// request is one POST /jobs/request with the token in the body and in
// RUNNER-TOKEN; it stores X-GitLab-Last-Update as the runner does.
func (rc *runnerClient) request(t testing.TB) *resp {
	t.Helper()
	return rc.requestWith(t, rc.lastUpdate)
}

func (rc *runnerClient) requestWith(t testing.TB, lastUpdate string) *resp {
	t.Helper()
	r := rc.s.send(t, rc.buildRequest(t, lastUpdate))
	if v := r.Header.Get("X-GitLab-Last-Update"); v != "" {
		rc.lastUpdate = v
	}
	return r
}

// buildRequest is the runner's POST /jobs/request: token in the body and
// in RUNNER-TOKEN, system_id, last_update (when known) and info.
func (rc *runnerClient) buildRequest(t testing.TB, lastUpdate string) *http.Request {
	t.Helper()
	body := map[string]any{"token": rc.token, "system_id": rc.systemID, "info": runnerInfo()}
	if lastUpdate != "" {
		body["last_update"] = lastUpdate
	}
	req := rc.s.runnerCall(t, "POST", "/jobs/request", body, true)
	req.Header.Set("RUNNER-TOKEN", rc.token)
	return req
}

// runningJob is a job a runner received, with its decoded payload.
type runningJob struct {
	rc      *runnerClient
	ID      int64
	Token   string
	Payload *JobResponse
	Raw     []byte
	sent    []byte // trace bytes sent so far
}

// takeJob asks for a job and expects one (201).
func (rc *runnerClient) takeJob(t testing.TB) *runningJob {
	t.Helper()
	r := rc.request(t)
	if r.Status != http.StatusCreated {
		t.Fatalf("POST /jobs/request: %s, want 201 with a job", r)
	}
	return rc.decodeJob(t, r)
}

func (rc *runnerClient) decodeJob(t testing.TB, r *resp) *runningJob {
	t.Helper()
	var p JobResponse
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Fatalf("the job payload does not decode into gitlab-runner's types: %v\n%s", err, r.Body)
	}
	if p.ID == 0 || p.Token == "" {
		t.Fatalf("job payload without id or token: %s", r.Body)
	}
	rc.s.remember(p.Token)
	return &runningJob{rc: rc, ID: p.ID, Token: p.Token, Payload: &p, Raw: r.Body}
}

// expectNoJob asks for a job and expects 204.
func (rc *runnerClient) expectNoJob(t testing.TB) *resp {
	t.Helper()
	r := rc.request(t)
	if r.Status != http.StatusNoContent {
		t.Fatalf("POST /jobs/request: %s, want 204", r)
	}
	return r
}

// update is PUT /jobs/:id with the job token in the body and JOB-TOKEN.
func (j *runningJob) update(t testing.TB, fields map[string]any) *resp {
	t.Helper()
	return j.rc.s.updateJob(t, j.ID, j.Token, fields)
}

func (s *testServer) updateJob(t testing.TB, id int64, token string, fields map[string]any) *resp {
	t.Helper()
	body := map[string]any{"token": token, "info": runnerInfo()}
	for k, v := range fields {
		body[k] = v
	}
	req := s.runnerCall(t, "PUT", "/jobs/"+itoa(id), body, true)
	req.Header.Set("JOB-TOKEN", token)
	return s.send(t, req)
}

// start is the runner's first PUT state=running, expected 200.
func (j *runningJob) start(t testing.TB) {
	t.Helper()
	r := j.update(t, map[string]any{"state": "running"})
	if r.Status != http.StatusOK {
		t.Fatalf("first PUT state=running: %s, want 200", r)
	}
}

// patch sends a trace chunk at offset start (Content-Range start-end).
func (s *testServer) patchTrace(t testing.TB, id int64, token string, start int, data []byte) *resp {
	t.Helper()
	req := s.runnerCall(t, "PATCH", "/jobs/"+itoa(id)+"/trace?debug_trace=false", data, false)
	req.Header.Set("JOB-TOKEN", token)
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("Content-Range", fmt.Sprintf("%d-%d", start, start+len(data)-1))
	return s.send(t, req)
}

// appendTrace sends data after what was sent so far, expecting 202.
func (j *runningJob) appendTrace(t testing.TB, data string) *resp {
	t.Helper()
	r := j.rc.s.patchTrace(t, j.ID, j.Token, len(j.sent), []byte(data))
	if r.Status != http.StatusAccepted {
		t.Fatalf("PATCH trace at %d: %s, want 202", len(j.sent), r)
	}
	j.sent = append(j.sent, data...)
	return r
}

// finish is the final PUT with the trace's checksum and size.
func (j *runningJob) finish(t testing.TB, state string) *resp {
	t.Helper()
	sum := fmt.Sprintf("crc32:%08x", crc32IEEE(j.sent))
	fields := map[string]any{"state": state, "checksum": sum, "output": map[string]any{"checksum": sum, "bytesize": len(j.sent)}}
	if state == "failed" {
		fields["failure_reason"] = "script_failure"
		fields["exit_code"] = 1
	}
	return j.update(t, fields)
}

// finishOK is finish expecting 200.
func (j *runningJob) finishOK(t testing.TB, state string) {
	t.Helper()
	if r := j.finish(t, state); r.Status != http.StatusOK {
		t.Fatalf("final PUT state=%s: %s, want 200", state, r)
	}
}

// getJob is GET /api/v4/job with the token in JOB-TOKEN.
func (s *testServer) getJob(t testing.TB, token string) *resp {
	t.Helper()
	req := s.newRequest(t, "GET", "/api/v4/job", nil)
	req.Header.Set("JOB-TOKEN", token)
	return s.send(t, req)
}

// wantLive checks that token authenticates GET /job as job id and git
// over HTTP on its project.
func (s *testServer) wantLive(t testing.TB, token string, id int64, fullPath string) {
	t.Helper()
	r := s.getJob(t, token)
	if r.Status != http.StatusOK {
		t.Fatalf("GET /job with a live token: %s, want 200", r)
	}
	if got := num(t, r.Object(t), "id"); got != id {
		t.Errorf("GET /job: id %d, want %d", got, id)
	}
	if fullPath != "" {
		if g := s.gitInfoRefs(t, fullPath, "gitlab-ci-token", token); g.Status != http.StatusOK {
			t.Errorf("git info/refs with a live job token: %s, want 200", g)
		}
	}
	// On SQLite the server caches live tokens: a wantDead that follows
	// then proves the change that ended the job evicted it.
	if cached := s.srv.Authenticator().JobTokenCached(token); cached != !s.srv.Store().Shared() {
		t.Errorf("job token cached after use: %v, want %v on %s", cached, !s.srv.Store().Shared(), s.srv.Store().Dialect())
	}
}

// wantDead checks that token is refused at once: 401 on GET /job and 401
// "HTTP Basic: Access denied" on git.
func (s *testServer) wantDead(t testing.TB, token, fullPath string) {
	t.Helper()
	r := s.getJob(t, token)
	if r.Status != http.StatusUnauthorized {
		t.Errorf("GET /job with a dead token: %s, want 401", r)
	} else if m := r.Object(t); m["message"] != "401 Unauthorized" {
		t.Errorf("GET /job with a dead token: body %s, want {\"message\":\"401 Unauthorized\"}", r.Body)
	}
	if fullPath != "" {
		g := s.gitInfoRefs(t, fullPath, "gitlab-ci-token", token)
		if g.Status != http.StatusUnauthorized || strings.TrimSpace(string(g.Body)) != "HTTP Basic: Access denied" {
			t.Errorf("git info/refs with a dead job token: %s, want 401 \"HTTP Basic: Access denied\"", g)
		}
	}
}

// hostOf is host:port of a URL.
func hostOf(t testing.TB, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := net.SplitHostPort(u.Host); err != nil {
		t.Fatalf("%s has no port", raw)
	}
	return u.Host
}

func crc32IEEE(b []byte) uint32 { return crc32.ChecksumIEEE(b) }

// allowJobTokens puts from on target's inbound job-token allowlist (as
// root), so that from's jobs may reach target.
func (s *testServer) allowJobTokens(t testing.TB, target, from project) {
	t.Helper()
	s.expect(t, "POST", "/projects/"+itoa(target.ID)+"/job_token_scope/allowlist", rootToken,
		map[string]any{"target_project_id": from.ID}, http.StatusCreated)
}
