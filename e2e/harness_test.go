package e2e

import (
	"bytes"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // "pgx", to reach into the PostgreSQL database
	_ "modernc.org/sqlite"             // "sqlite", to reach into the SQLite database

	"github.com/ciwarden/ciwarden/internal/testblob"
	"github.com/ciwarden/ciwarden/internal/testdb"
)

// api is the prefix of GitLab's REST API.
const api = "/api/v4"

// binary is the ciwarden executable TestMain built.
var binary string

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "ciwarden-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	binary = filepath.Join(dir, "ciwarden")
	build := exec.Command("go", "build", "-o", binary, "./cmd/ciwarden")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go build ./cmd/ciwarden: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// moduleRoot finds the directory of go.mod: `go env GOMOD`, else "..".
func moduleRoot() (string, error) {
	if out, err := exec.Command("go", "env", "GOMOD").Output(); err == nil {
		if gomod := strings.TrimSpace(string(out)); gomod != "" && gomod != os.DevNull {
			return filepath.Dir(gomod), nil
		}
	}
	dir, err := filepath.Abs("..")
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		return "", fmt.Errorf("cannot find the module root: %v", err)
	}
	return dir, nil
}

// syncBuffer collects a process's output; the process writes while the
// test may read.
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

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// cleanEnv is the test's environment without any CIWARDEN_* variable, so
// that the developer's shell cannot change what a test starts.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CIWARDEN_") {
			env = append(env, kv)
		}
	}
	return env
}

// freePort asks the kernel for a free port on 127.0.0.1 and releases it
// for the server to take.
func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pick a free port: %v", err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// Server is one running ciwarden process.
type Server struct {
	URL       string // http://127.0.0.1:PORT, also the external URL
	RootToken string // root's api-scoped token (CIWARDEN_INITIAL_ROOT_TOKEN)
	DataDir   string
	DBURL     string // as given to --database-url; "" for the default
	Dialect   string
	// Ready is the time from exec to the first 200 from /-/readiness.
	Ready time.Duration

	cmd        *exec.Cmd
	stderr     *syncBuffer
	exited     chan struct{}
	waitErr    error
	client     *http.Client
	terminated bool
	sigterm    time.Time

	mu      sync.Mutex
	secrets []string // tokens that must never appear in the log
	args    []string // extra serve flags
	env     []string // extra environment
	// Storage is where artifacts and packages live: "fs" or "s3".
	Storage string
}

type serverOptions struct {
	Dialect string
	// DefaultDB leaves out --database-url: SQLite in the data directory.
	DefaultDB bool
	// Args are more serve flags (--runners 2).
	Args []string
	// Env is more environment (S3 settings: testblob.S3.Env()).
	Env []string
}

var errPortTaken = errors.New("port taken")

// startServer starts ciwarden on dialect's database and stops it (SIGTERM,
// exit 0 within 10 s) when the test ends.
func startServer(t *testing.T, dialect string) *Server {
	t.Helper()
	return start(t, serverOptions{Dialect: dialect})
}

func start(t *testing.T, o serverOptions) *Server {
	t.Helper()
	s := &Server{
		Dialect:   o.Dialect,
		DataDir:   t.TempDir(),
		RootToken: "e2e-root-" + randHex(16),
		client:    &http.Client{Timeout: 30 * time.Second},
		args:      o.Args,
		env:       o.Env,
	}
	s.secrets = append(s.secrets, s.RootToken)
	if !o.DefaultDB {
		s.DBURL = testdb.URL(t, o.Dialect) // skips postgres without the env var
	}
	for attempt := 1; ; attempt++ {
		err := s.launch(t)
		if err == nil {
			break
		}
		// Another process may take the port between freePort and the
		// server's bind: try a new one.
		if errors.Is(err, errPortTaken) && attempt < 3 {
			continue
		}
		t.Fatalf("start ciwarden: %v\nstderr:\n%s", err, s.stderr.String())
	}
	if s.Ready > time.Second {
		t.Logf("ciwarden took %v to become ready", s.Ready)
	}
	t.Cleanup(func() { s.stop(t) })
	return s
}

func (s *Server) launch(t *testing.T) error {
	port := freePort(t)
	s.URL = "http://127.0.0.1:" + port
	args := []string{"serve", "--listen", "127.0.0.1:" + port, "--data-dir", s.DataDir}
	if s.DBURL != "" {
		args = append(args, "--database-url", s.DBURL)
	}
	args = append(args, s.args...)
	s.cmd = exec.Command(binary, args...)
	s.cmd.Dir = s.DataDir
	s.cmd.Env = append(append(cleanEnv(), "CIWARDEN_INITIAL_ROOT_TOKEN="+s.RootToken), s.env...)
	s.stderr = &syncBuffer{}
	s.cmd.Stdout = s.stderr
	s.cmd.Stderr = s.stderr
	s.exited = make(chan struct{})
	dieWithParent(s.cmd)
	begin := time.Now()
	if err := s.cmd.Start(); err != nil {
		return err
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	poll := &http.Client{Timeout: time.Second}
	defer poll.CloseIdleConnections()
	deadline := begin.Add(30 * time.Second)
	for {
		select {
		case <-s.exited:
			if strings.Contains(s.stderr.String(), "address already in use") {
				return errPortTaken
			}
			return fmt.Errorf("exited before it was ready: %v", s.waitErr)
		default:
		}
		resp, err := poll.Get(s.URL + "/-/readiness")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				s.Ready = time.Since(begin)
				return nil
			}
		}
		if time.Now().After(deadline) {
			s.cmd.Process.Kill()
			<-s.exited
			return fmt.Errorf("/-/readiness not 200 within 30s (last error: %v)", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// stop ends the server (Terminate, unless the test did) and checks that
// no token the test used ever reached the log.
func (s *Server) stop(t *testing.T) {
	if !s.terminated {
		select {
		case <-s.exited:
			t.Errorf("ciwarden exited before the test ended: %v", s.waitErr)
		default:
			// Connections the client dialed but never used would hold up
			// net/http's Shutdown for 5 s (it waits on connections in
			// StateNew): a client that is done closes them.
			s.client.CloseIdleConnections()
			s.Terminate(t)
			s.Wait(t)
		}
	}
	log := s.stderr.String()
	s.mu.Lock()
	for _, secret := range s.secrets {
		if strings.Contains(log, secret) {
			t.Errorf("a token (%.12s...) appears in the server's log", secret)
		}
	}
	s.mu.Unlock()
	if strings.Contains(log, "goroutine ") || strings.Contains(log, "panic") {
		t.Errorf("the server's log shows a panic or stack trace")
	}
	if t.Failed() {
		t.Logf("ciwarden (%s) stderr:\n%s", s.Dialect, log)
	}
}

// Terminate sends SIGTERM; Wait then expects exit status 0 within 10 s.
func (s *Server) Terminate(t testing.TB) {
	t.Helper()
	s.terminated = true
	s.sigterm = time.Now()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Errorf("SIGTERM: %v", err)
	}
}

// Wait waits for the process to exit after Terminate, and expects exit
// status 0 within 10 s of the signal.
func (s *Server) Wait(t testing.TB) {
	t.Helper()
	select {
	case <-s.exited:
		if s.waitErr != nil {
			t.Errorf("ciwarden did not exit 0 after SIGTERM: %v", s.waitErr)
		}
		if d := time.Since(s.sigterm); d > time.Second {
			t.Logf("ciwarden took %v to exit after SIGTERM", d)
		}
	case <-time.After(time.Until(s.sigterm.Add(10 * time.Second))):
		s.cmd.Process.Kill()
		<-s.exited
		t.Errorf("ciwarden did not exit within 10s of SIGTERM")
	}
}

// remember records a secret that must not be logged.
func (s *Server) remember(secret string) {
	s.mu.Lock()
	s.secrets = append(s.secrets, secret)
	s.mu.Unlock()
}

// Resp is an HTTP answer, read in full.
type Resp struct {
	Status int
	Body   []byte
	Header http.Header
	req    string
}

// JSON decodes the body into v, failing the test on malformed JSON.
func (r *Resp) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("%s: body is not the expected JSON (%v): %s", r.req, err, r.Body)
	}
}

// Object decodes a JSON object body.
func (r *Resp) Object(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	r.JSON(t, &m)
	return m
}

// List decodes a JSON array of objects.
func (r *Resp) List(t testing.TB) []map[string]any {
	t.Helper()
	var l []map[string]any
	r.JSON(t, &l)
	return l
}

// NewRequest builds a request for path on s: url.Values go as a form,
// anything else but nil as JSON. token, if set, goes in PRIVATE-TOKEN.
func (s *Server) NewRequest(t testing.TB, method, path, token string, body any) *http.Request {
	t.Helper()
	var rd io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case url.Values:
		rd, ctype = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	case string:
		rd, ctype = strings.NewReader(b), "application/json"
	default:
		js, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("encode body: %v", err)
		}
		rd, ctype = bytes.NewReader(js), "application/json"
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		t.Fatalf("new request %s %s: %v", method, path, err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if token != "" {
		req.Header.Set("PRIVATE-TOKEN", token)
	}
	return req
}

// Send performs req and reads the answer.
func (s *Server) Send(t testing.TB, req *http.Request) *Resp {
	t.Helper()
	r, err := s.try(req)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// try performs req without a testing.TB, for other goroutines.
func (s *Server) try(req *http.Request) (*Resp, error) {
	name := req.Method + " " + req.URL.RequestURI()
	res, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, fmt.Errorf("%s: read body: %v", name, err)
	}
	return &Resp{Status: res.StatusCode, Body: body, Header: res.Header, req: name}, nil
}

// MakeRequest performs req and fails the test unless it answers want.
func (s *Server) MakeRequest(t testing.TB, req *http.Request, want int) *Resp {
	t.Helper()
	r := s.Send(t, req)
	if r.Status != want {
		t.Fatalf("%s: status %d, want %d; body: %s", r.req, r.Status, want, r.Body)
	}
	return r
}

// Do sends one request and returns the answer whatever its status.
func (s *Server) Do(t testing.TB, method, path, token string, body any) *Resp {
	t.Helper()
	return s.Send(t, s.NewRequest(t, method, path, token, body))
}

// Expect sends one request and fails the test unless it answers want.
func (s *Server) Expect(t testing.TB, method, path, token string, body any, want int) *Resp {
	t.Helper()
	return s.MakeRequest(t, s.NewRequest(t, method, path, token, body), want)
}

// checkJSON fails the test unless the body is the JSON value want.
func checkJSON(t testing.TB, r *Resp, want string) {
	t.Helper()
	var got, exp any
	if err := json.Unmarshal(r.Body, &got); err != nil {
		t.Errorf("%s: body is not JSON (%v): %q", r.req, err, r.Body)
		return
	}
	if err := json.Unmarshal([]byte(want), &exp); err != nil {
		t.Fatalf("bad expectation %q: %v", want, err)
	}
	if !reflect.DeepEqual(got, exp) {
		t.Errorf("%s: body %s, want %s", r.req, bytes.TrimSpace(r.Body), want)
	}
}

// checkStatus checks the status and, for the usual refusals, GitLab's body.
func checkStatus(t testing.TB, r *Resp, want int, notFound string) {
	t.Helper()
	if r.Status != want {
		t.Errorf("%s: status %d, want %d; body: %s", r.req, r.Status, want, r.Body)
		return
	}
	switch want {
	case http.StatusUnauthorized:
		checkJSON(t, r, `{"message":"401 Unauthorized"}`)
	case http.StatusForbidden:
		checkJSON(t, r, `{"message":"403 Forbidden"}`)
	case http.StatusNotFound:
		if notFound == "" {
			checkJSON(t, r, `{"message":"404 Not Found"}`)
		} else {
			checkJSON(t, r, fmt.Sprintf(`{"message":"404 %s Not Found"}`, notFound))
		}
	}
}

// checkInvalidToken checks GitLab's 401 for an expired or revoked token.
func checkInvalidToken(t testing.TB, r *Resp, description string) {
	t.Helper()
	if r.Status != http.StatusUnauthorized {
		t.Errorf("%s: status %d, want 401; body: %s", r.req, r.Status, r.Body)
		return
	}
	checkJSON(t, r, `{"error":"invalid_token","error_description":"`+description+`"}`)
}

// num reads a JSON number field as int64.
func num(t testing.TB, m map[string]any, key string) int64 {
	t.Helper()
	f, ok := m[key].(float64)
	if !ok {
		t.Fatalf("field %q is %T (%v), want a number", key, m[key], m[key])
	}
	return int64(f)
}

// str reads a JSON string field.
func str(t testing.TB, m map[string]any, key string) string {
	t.Helper()
	s, ok := m[key].(string)
	if !ok {
		t.Fatalf("field %q is %T (%v), want a string", key, m[key], m[key])
	}
	return s
}

// pathID is a full path as the {id} of a project or group route.
func pathID(fullPath string) string { return url.PathEscape(fullPath) }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// User is a user created by a test, with an api-scoped token.
type User struct {
	ID       int64
	Username string
	Token    string
	TokenID  int64
}

// CreateUser creates a user as root and gives them an api token.
func (s *Server) CreateUser(t testing.TB, username string) User {
	t.Helper()
	r := s.Expect(t, "POST", api+"/users", s.RootToken, url.Values{
		"username": {username}, "name": {"User " + username}, "email": {username + "@example.com"},
	}, http.StatusCreated)
	m := r.Object(t)
	u := User{ID: num(t, m, "id"), Username: str(t, m, "username")}
	if u.Username != username {
		t.Fatalf("created user %q, answer says %q", username, u.Username)
	}
	u.TokenID, u.Token = s.CreateToken(t, u.ID, "api")
	return u
}

// CreateToken creates a personal access token as root and returns its ID
// and secret. (A JSON body: see TestTokenScopesFormArray for the form.)
func (s *Server) CreateToken(t testing.TB, userID int64, scopes ...string) (int64, string) {
	t.Helper()
	return s.createToken(t, userID, map[string]any{"name": "e2e", "scopes": scopes})
}

func (s *Server) createToken(t testing.TB, userID int64, body any) (int64, string) {
	t.Helper()
	r := s.Expect(t, "POST", api+"/users/"+itoa(userID)+"/personal_access_tokens", s.RootToken, body, http.StatusCreated)
	m := r.Object(t)
	secret := str(t, m, "token")
	if secret == "" {
		t.Fatalf("token creation answered an empty token: %s", r.Body)
	}
	s.remember(secret)
	return num(t, m, "id"), secret
}

// CreateGroup creates a group as root; parent 0 makes a top-level group.
func (s *Server) CreateGroup(t testing.TB, path string, parent int64, visibility string) int64 {
	t.Helper()
	form := url.Values{"name": {"Group " + path}, "path": {path}, "visibility": {visibility}}
	if parent != 0 {
		form.Set("parent_id", itoa(parent))
	}
	m := s.Expect(t, "POST", api+"/groups", s.RootToken, form, http.StatusCreated).Object(t)
	if got := str(t, m, "visibility"); got != visibility {
		t.Fatalf("group %s: visibility %q, want %q", path, got, visibility)
	}
	return num(t, m, "id")
}

// CreateProject creates a project as root in a namespace and returns its
// ID and full path.
func (s *Server) CreateProject(t testing.TB, namespaceID int64, path, visibility string) (int64, string) {
	t.Helper()
	m := s.Expect(t, "POST", api+"/projects", s.RootToken, url.Values{
		"name": {path}, "path": {path}, "namespace_id": {itoa(namespaceID)}, "visibility": {visibility},
	}, http.StatusCreated).Object(t)
	if got := str(t, m, "visibility"); got != visibility {
		t.Fatalf("project %s: visibility %q, want %q", path, got, visibility)
	}
	return num(t, m, "id"), str(t, m, "path_with_namespace")
}

// AddMember adds a user to a project ("projects") or group ("groups") as root.
func (s *Server) AddMember(t testing.TB, kind string, sourceID, userID int64, level int) {
	t.Helper()
	m := s.Expect(t, "POST", api+"/"+kind+"/"+itoa(sourceID)+"/members", s.RootToken, url.Values{
		"user_id": {itoa(userID)}, "access_level": {strconv.Itoa(level)},
	}, http.StatusCreated).Object(t)
	if num(t, m, "id") != userID || num(t, m, "access_level") != int64(level) {
		t.Fatalf("add member: answer %v, want user %d at %d", m, userID, level)
	}
}

// OpenDB opens the server's database directly, for what the API cannot do
// (such as moving a token's expiry into the past).
func (s *Server) OpenDB(t testing.TB) (db *sql.DB, rebind func(string) string) {
	t.Helper()
	var err error
	switch {
	case strings.HasPrefix(s.DBURL, "postgres://"):
		db, err = sql.Open("pgx", s.DBURL)
		rebind = func(q string) string {
			for i := 1; strings.Contains(q, "?"); i++ {
				q = strings.Replace(q, "?", "$"+strconv.Itoa(i), 1)
			}
			return q
		}
	default:
		path := filepath.Join(s.DataDir, "ciwarden.db")
		if strings.HasPrefix(s.DBURL, "sqlite://") {
			path = strings.TrimPrefix(s.DBURL, "sqlite://")
		}
		db, err = sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
		rebind = func(q string) string { return q }
	}
	if err != nil {
		t.Fatalf("open the database: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db, rebind
}

// forEachDialect runs fn against SQLite and PostgreSQL (the latter skips
// without CIWARDEN_TEST_POSTGRES_URL).
func forEachDialect(t *testing.T, fn func(t *testing.T, s *Server)) {
	for _, d := range testdb.Dialects {
		t.Run(d, func(t *testing.T) {
			fn(t, startServer(t, d))
		})
	}
}

// forEachStorage runs fn against every database and every blob storage:
// the filesystem, and S3 (a versitygw started for the test; skipped when
// versitygw is not installed). args are extra serve flags.
func forEachStorage(t *testing.T, args []string, fn func(t *testing.T, s *Server)) {
	for _, d := range testdb.Dialects {
		for _, storage := range []string{"fs", "s3"} {
			t.Run(d+"/"+storage, func(t *testing.T) {
				o := serverOptions{Dialect: d, Args: args}
				if storage == "s3" {
					o.Env = testblob.Start(t).Env()
				}
				s := start(t, o)
				s.Storage = storage
				fn(t, s)
			})
		}
	}
}

// AllowJobTokens puts project from on project target's inbound job-token
// allowlist (as root): from's jobs may then reach target.
func (s *Server) AllowJobTokens(t testing.TB, target, from int64) {
	t.Helper()
	s.Expect(t, "POST", api+"/projects/"+itoa(target)+"/job_token_scope/allowlist", s.RootToken,
		map[string]any{"target_project_id": from}, 201)
}
