package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/ciwarden/ciwarden/internal/server"
	"github.com/ciwarden/ciwarden/internal/testdb"
)

const (
	jsonCT = "application/json"
	formCT = "application/x-www-form-urlencoded"

	// rootToken is root's token, set through InitialRootToken.
	rootToken = "cwpat-api-test-root-token-Zq8xVw2mK4"
)

// lockedBuffer is a log sink that handlers may write to concurrently.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// env is one server on a fresh database, driven in-process.
type env struct {
	dialect string
	srv     *server.Server
	h       http.Handler
	logs    *lockedBuffer

	mu     sync.Mutex
	tokens []string // every secret minted or presented, to look for in the log
}

// newEnv starts a server on a fresh database of the dialect. When the test
// ends it checks the log: no 500 or panic was logged, and no token value
// appears in it.
func newEnv(t *testing.T, dialect string) *env {
	t.Helper()
	dbURL := testdb.URL(t, dialect)
	e := &env{dialect: dialect, logs: &lockedBuffer{}, tokens: []string{rootToken}}
	srv, err := server.New(context.Background(), server.Config{
		DataDir:          t.TempDir(),
		DatabaseURL:      dbURL,
		InitialRootToken: rootToken,
		ExternalURL:      "http://ci.example.test",
	}, server.NewLogger(e.logs, slog.LevelDebug), io.Discard)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	e.srv, e.h = srv, srv.Handler()
	t.Cleanup(func() {
		srv.Store().Close()
		out := e.logs.String()
		if strings.Contains(out, "handler panic") || strings.Contains(out, "request failed") {
			t.Errorf("the server logged a failure (a 500):\n%s", failureLines(out))
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		for _, tok := range e.tokens {
			if strings.Contains(out, tok) {
				t.Errorf("the log contains the token %q", tok)
			}
		}
	})
	return e
}

func failureLines(log string) string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "level=ERROR") || strings.Contains(l, "level=WARN") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// forEachDialect runs fn against a fresh server on each database dialect;
// PostgreSQL skips without CIWARDEN_TEST_POSTGRES_URL.
func forEachDialect(t *testing.T, fn func(t *testing.T, e *env)) {
	t.Helper()
	for _, d := range testdb.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			fn(t, newEnv(t, d))
		})
	}
}

func (e *env) remember(token string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.tokens = append(e.tokens, token)
}

// call sends one request through the whole HTTP surface, with token in the
// PRIVATE-TOKEN header when not empty. Any 5xx fails the test.
func (e *env) call(t testing.TB, method, path, token, contentType, body string) *httptest.ResponseRecorder {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("PRIVATE-TOKEN", token)
	}
	return e.do(t, req)
}

// do serves req and fails the test on any 5xx.
func (e *env) do(t testing.TB, req *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	before := len(e.logs.String())
	e.h.ServeHTTP(rec, req)
	if rec.Code >= 500 {
		t.Errorf("%s %s: status %d, body %s\nlog:\n%s", req.Method, shorten(req.URL.String()), rec.Code, rec.Body.String(), failureLines(e.logs.String()[before:]))
	}
	return rec
}

// post sends a JSON body as root unless token says otherwise.
func (e *env) postJSON(t testing.TB, path, token, body string) *httptest.ResponseRecorder {
	t.Helper()
	return e.call(t, http.MethodPost, path, token, jsonCT, body)
}

func shorten(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

// decode parses a JSON response body.
func decode(t testing.TB, rec *httptest.ResponseRecorder) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("response body is not JSON (%v): %q", err, shorten(rec.Body.String()))
	}
	return v
}

// wantStatus checks the status and returns the decoded body (nil for an
// empty one).
func wantStatus(t testing.TB, rec *httptest.ResponseRecorder, status int) any {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status %d, want %d; body %s", rec.Code, status, shorten(rec.Body.String()))
	}
	if rec.Body.Len() == 0 {
		return nil
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	return decode(t, rec)
}

// wantJSON checks the status and that the body equals want as JSON.
func wantJSON(t testing.TB, rec *httptest.ResponseRecorder, status int, want string) {
	t.Helper()
	got := wantStatus(t, rec, status)
	var w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad expectation %q: %v", want, err)
	}
	if !reflect.DeepEqual(got, w) {
		t.Fatalf("body %s, want %s", strings.TrimSpace(rec.Body.String()), want)
	}
}

// field walks a dotted path ("message.path") into a decoded body.
func field(v any, path string) (any, bool) {
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[k]; !ok {
			return nil, false
		}
	}
	return v, true
}

// wantField checks the status and that one field of the body equals want
// (JSON).
func wantField(t testing.TB, rec *httptest.ResponseRecorder, status int, path, want string) {
	t.Helper()
	got := wantStatus(t, rec, status)
	v, ok := field(got, path)
	if !ok {
		t.Fatalf("body %s has no %s", strings.TrimSpace(rec.Body.String()), path)
	}
	var w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad expectation %q: %v", want, err)
	}
	if !reflect.DeepEqual(v, w) {
		gotJSON, _ := json.Marshal(v)
		t.Fatalf("%s = %s, want %s (body %s)", path, gotJSON, want, strings.TrimSpace(rec.Body.String()))
	}
}

// idOf reads "id" from a created resource.
func idOf(t testing.TB, rec *httptest.ResponseRecorder) int64 {
	t.Helper()
	v, ok := field(decode(t, rec), "id")
	if !ok {
		t.Fatalf("no id in %s", rec.Body.String())
	}
	return int64(v.(float64))
}

// total is X-Total of a listing as root (who sees everything).
func (e *env) total(t testing.TB, path string) int {
	t.Helper()
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	rec := e.call(t, http.MethodGet, path+sep+"per_page=1", rootToken, "", "")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body.String())
	}
	n, err := strconv.Atoi(rec.Header().Get("X-Total"))
	if err != nil {
		t.Fatalf("GET %s: X-Total %q", path, rec.Header().Get("X-Total"))
	}
	return n
}

// unchanged runs fn and fails if the listing's total moved: a rejected
// request wrote nothing.
func (e *env) unchanged(t *testing.T, listing string, fn func()) {
	t.Helper()
	before := e.total(t, listing)
	fn()
	if after := e.total(t, listing); after != before {
		t.Errorf("%s: X-Total went from %d to %d after a rejected request", listing, before, after)
	}
}

type user struct {
	id       int64
	username string
	token    string
}

// newUser creates a user as root and an api-scoped token for them.
func (e *env) newUser(t testing.TB, username string) user {
	t.Helper()
	rec := e.postJSON(t, "/api/v4/users", rootToken,
		fmt.Sprintf(`{"username":%q,"name":%q,"email":"%s@example.com"}`, username, username, username))
	wantStatus(t, rec, http.StatusCreated)
	u := user{id: idOf(t, rec), username: username}
	rec = e.postJSON(t, fmt.Sprintf("/api/v4/users/%d/personal_access_tokens", u.id), rootToken, `{"name":"test","scopes":["api"]}`)
	body := wantStatus(t, rec, http.StatusCreated)
	tok, _ := field(body, "token")
	u.token, _ = tok.(string)
	if u.token == "" {
		t.Fatalf("no token in %s", rec.Body.String())
	}
	e.remember(u.token)
	return u
}

// fixture is a group "grp" with a private project "grp/app" (both created
// by root, who owns the group); alice is a Maintainer and carol a
// Developer of the project, bob belongs to nothing.
type fixture struct {
	group, project    int64
	alice, bob, carol user
	groupAPI, projAPI string // "/api/v4/groups/<id>", "/api/v4/projects/<id>"
	groupMem, projMem string // their members endpoints
}

func (e *env) fixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{}
	rec := e.postJSON(t, "/api/v4/groups", rootToken, `{"name":"Group","path":"grp"}`)
	wantStatus(t, rec, http.StatusCreated)
	f.group = idOf(t, rec)
	rec = e.postJSON(t, "/api/v4/projects", rootToken, fmt.Sprintf(`{"name":"App","path":"app","namespace_id":%d}`, f.group))
	wantStatus(t, rec, http.StatusCreated)
	f.project = idOf(t, rec)
	f.groupAPI = fmt.Sprintf("/api/v4/groups/%d", f.group)
	f.projAPI = fmt.Sprintf("/api/v4/projects/%d", f.project)
	f.groupMem, f.projMem = f.groupAPI+"/members", f.projAPI+"/members"
	f.alice, f.bob, f.carol = e.newUser(t, "alice"), e.newUser(t, "bob"), e.newUser(t, "carol")
	wantStatus(t, e.postJSON(t, f.projMem, rootToken, fmt.Sprintf(`{"user_id":%d,"access_level":40}`, f.alice.id)), http.StatusCreated)
	wantStatus(t, e.postJSON(t, f.projMem, rootToken, fmt.Sprintf(`{"user_id":%d,"access_level":30}`, f.carol.id)), http.StatusCreated)
	wantStatus(t, e.postJSON(t, f.groupMem, rootToken, fmt.Sprintf(`{"user_id":%d,"access_level":30}`, f.carol.id)), http.StatusCreated)
	return f
}
