package api_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

const (
	jsonCT = "application/json"
	formCT = "application/x-www-form-urlencoded"
)

// env is one server on a fresh database, driven over HTTP. The harness
// checks it when the test ends: no undeclared 5xx or panic in its log, no
// token in its log or at rest.
type env struct {
	*testserver.Server
	dialect string
}

// forEachDialect runs fn, in parallel, against a fresh server on each
// database dialect; PostgreSQL skips without CIWARDEN_TEST_POSTGRES_URL.
func forEachDialect(t *testing.T, fn func(t *testing.T, e *env)) {
	t.Helper()
	testserver.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		fn(t, &env{Server: testserver.New(t, testserver.Options{Dialect: dialect}), dialect: dialect})
	})
}

// call sends one request with body as it is, of content type ct, and
// token in the PRIVATE-TOKEN header when not empty.
func (e *env) call(t testing.TB, method, path, token, contentType, body string) *testserver.Resp {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := e.newReq(method, path, r)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("PRIVATE-TOKEN", token)
	}
	return e.Send(t, req)
}

// newReq is a request to path on the server, for a test to dress.
func (e *env) newReq(method, path string, body io.Reader) *http.Request {
	req, err := http.NewRequest(method, e.URL+path, body)
	if err != nil {
		panic(err) // the tests' own paths
	}
	return req
}

// post sends a JSON body as root unless token says otherwise.
func (e *env) postJSON(t testing.TB, path, token, body string) *testserver.Resp {
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
func decode(t testing.TB, rec *testserver.Resp) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(rec.Body, &v); err != nil {
		t.Fatalf("response body is not JSON (%v): %q", err, shorten(string(rec.Body)))
	}
	return v
}

// wantStatus checks the status and returns the decoded body (nil for an
// empty one).
func wantStatus(t testing.TB, rec *testserver.Resp, status int) any {
	t.Helper()
	if rec.Status != status {
		t.Fatalf("status %d, want %d; body %s", rec.Status, status, shorten(string(rec.Body)))
	}
	if len(rec.Body) == 0 {
		return nil
	}
	if ct := rec.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	return decode(t, rec)
}

// wantJSON checks the status and that the body equals want as JSON.
func wantJSON(t testing.TB, rec *testserver.Resp, status int, want string) {
	t.Helper()
	got := wantStatus(t, rec, status)
	var w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad expectation %q: %v", want, err)
	}
	if !reflect.DeepEqual(got, w) {
		t.Fatalf("body %s, want %s", strings.TrimSpace(string(rec.Body)), want)
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
func wantField(t testing.TB, rec *testserver.Resp, status int, path, want string) {
	t.Helper()
	got := wantStatus(t, rec, status)
	v, ok := field(got, path)
	if !ok {
		t.Fatalf("body %s has no %s", strings.TrimSpace(string(rec.Body)), path)
	}
	var w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad expectation %q: %v", want, err)
	}
	if !reflect.DeepEqual(v, w) {
		gotJSON, _ := json.Marshal(v)
		t.Fatalf("%s = %s, want %s (body %s)", path, gotJSON, want, strings.TrimSpace(string(rec.Body)))
	}
}

// idOf reads "id" from a created resource.
func idOf(t testing.TB, rec *testserver.Resp) int64 {
	t.Helper()
	v, ok := field(decode(t, rec), "id")
	if !ok {
		t.Fatalf("no id in %s", string(rec.Body))
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
	rec := e.call(t, http.MethodGet, path+sep+"per_page=1", e.RootToken, "", "")
	if rec.Status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, rec.Status, string(rec.Body))
	}
	n, err := strconv.Atoi(rec.Header.Get("X-Total"))
	if err != nil {
		t.Fatalf("GET %s: X-Total %q", path, rec.Header.Get("X-Total"))
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

// fixture is a group "grp" with a private project "grp/app" (both created
// by root, who owns the group); alice is a Maintainer and carol a
// Developer of the project, bob belongs to nothing.
type fixture struct {
	group, project    int64
	alice, bob, carol testserver.User
	groupAPI, projAPI string // "/api/v4/groups/<id>", "/api/v4/projects/<id>"
	groupMem, projMem string // their members endpoints
}

func (e *env) fixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{}
	rec := e.postJSON(t, "/api/v4/groups", e.RootToken, `{"name":"Group","path":"grp"}`)
	wantStatus(t, rec, http.StatusCreated)
	f.group = idOf(t, rec)
	rec = e.postJSON(t, "/api/v4/projects", e.RootToken, fmt.Sprintf(`{"name":"App","path":"app","namespace_id":%d}`, f.group))
	wantStatus(t, rec, http.StatusCreated)
	f.project = idOf(t, rec)
	f.groupAPI = fmt.Sprintf("/api/v4/groups/%d", f.group)
	f.projAPI = fmt.Sprintf("/api/v4/projects/%d", f.project)
	f.groupMem, f.projMem = f.groupAPI+"/members", f.projAPI+"/members"
	f.alice, f.bob, f.carol = e.CreateUser(t, "alice"), e.CreateUser(t, "bob"), e.CreateUser(t, "carol")
	wantStatus(t, e.postJSON(t, f.projMem, e.RootToken, fmt.Sprintf(`{"user_id":%d,"access_level":40}`, f.alice.ID)), http.StatusCreated)
	wantStatus(t, e.postJSON(t, f.projMem, e.RootToken, fmt.Sprintf(`{"user_id":%d,"access_level":30}`, f.carol.ID)), http.StatusCreated)
	wantStatus(t, e.postJSON(t, f.groupMem, e.RootToken, fmt.Sprintf(`{"user_id":%d,"access_level":30}`, f.carol.ID)), http.StatusCreated)
	return f
}
