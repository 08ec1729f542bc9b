package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"testing"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// api is the prefix of GitLab's REST API.
const api = testserver.API

// TestMain: every server here is a child process of the ciwarden binary,
// which testserver builds once for this test binary.
func TestMain(m *testing.M) { testserver.Main(m) }

// start starts ciwarden as a child process (testserver.Options.Process)
// and stops it (SIGTERM, exit 0 within 10 s) when the test ends, checking
// its log and data.
func start(t *testing.T, o testserver.Options) *testserver.Server {
	t.Helper()
	o.Process = true
	return testserver.New(t, o)
}

// startServer starts ciwarden on dialect's database.
func startServer(t *testing.T, dialect string) *testserver.Server {
	t.Helper()
	return start(t, testserver.Options{Dialect: dialect})
}

// forEachDialect runs fn against SQLite and PostgreSQL (the latter skips
// without CIWARDEN_TEST_POSTGRES_URL).
func forEachDialect(t *testing.T, fn func(t *testing.T, s *testserver.Server)) {
	testserver.ForEachDialect(t, func(t *testing.T, dialect string) {
		fn(t, startServer(t, dialect))
	})
}

// forEachStorage runs fn against every database and every blob storage:
// the filesystem, and S3 (a versitygw started for the test; skipped when
// versitygw is not installed). args are extra serve flags.
func forEachStorage(t *testing.T, args []string, fn func(t *testing.T, s *testserver.Server)) {
	testserver.ForEachStorage(t, testserver.Options{Process: true, Args: args}, fn)
}

// checkJSON fails the test unless the body is the JSON value want.
func checkJSON(t testing.TB, r *testserver.Resp, want string) {
	t.Helper()
	var got, exp any
	if err := json.Unmarshal(r.Body, &got); err != nil {
		t.Errorf("%s: body is not JSON (%v): %q", r.Req, err, r.Body)
		return
	}
	if err := json.Unmarshal([]byte(want), &exp); err != nil {
		t.Fatalf("bad expectation %q: %v", want, err)
	}
	if !reflect.DeepEqual(got, exp) {
		t.Errorf("%s: body %s, want %s", r.Req, bytes.TrimSpace(r.Body), want)
	}
}

// checkStatus checks the status and, for the usual refusals, GitLab's body.
func checkStatus(t testing.TB, r *testserver.Resp, want int, notFound string) {
	t.Helper()
	if r.Status != want {
		t.Errorf("%s: status %d, want %d; body: %s", r.Req, r.Status, want, r.Body)
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
func checkInvalidToken(t testing.TB, r *testserver.Resp, description string) {
	t.Helper()
	if r.Status != http.StatusUnauthorized {
		t.Errorf("%s: status %d, want 401; body: %s", r.Req, r.Status, r.Body)
		return
	}
	checkJSON(t, r, `{"error":"invalid_token","error_description":"`+description+`"}`)
}

// pathID is a full path as the {id} of a project or group route.
func pathID(fullPath string) string { return url.PathEscape(fullPath) }
