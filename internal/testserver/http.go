package testserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Resp is one answer, read whole.
type Resp struct {
	Status  int
	Header  http.Header
	Body    []byte
	Elapsed time.Duration
	// Req is "METHOD path" without the query string (which may carry a
	// token), for messages.
	Req string
}

func (r *Resp) String() string {
	b := string(r.Body)
	if len(b) > 300 {
		b = b[:300] + "…"
	}
	return fmt.Sprintf("%s: %d %q", r.Req, r.Status, b)
}

// JSON decodes the body into v, failing the test on malformed JSON.
func (r *Resp) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("%s: body is not the expected JSON (%v): %s", r.Req, err, r)
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

// Client is the keep-alive HTTP client the helpers use. It follows no
// redirect.
func (s *Server) Client() *http.Client { return s.client }

// NewRequest builds a request for path (absolute, "/api/v4/..."): a nil
// body sends none, a string is sent as JSON text, []byte as it is with no
// Content-Type, url.Values as a form, anything else encoded as JSON.
// token, if set, goes in PRIVATE-TOKEN.
func (s *Server) NewRequest(t testing.TB, method, path, token string, body any) *http.Request {
	t.Helper()
	var rd io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case string:
		rd, ctype = strings.NewReader(b), "application/json"
	case []byte:
		rd = bytes.NewReader(b)
	case url.Values:
		rd, ctype = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
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

// Try performs req and reads the answer, whatever its status; it takes no
// testing.TB, for other goroutines. (A 5xx still fails the test: the
// check reads the server's log.)
func (s *Server) Try(req *http.Request) (*Resp, error) {
	name := req.Method + " " + req.URL.Path
	start := time.Now()
	res, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, fmt.Errorf("%s: read body: %w", name, err)
	}
	return &Resp{Status: res.StatusCode, Header: res.Header, Body: body, Elapsed: time.Since(start), Req: name}, nil
}

// Send performs req and reads the answer, whatever its status.
func (s *Server) Send(t testing.TB, req *http.Request) *Resp {
	t.Helper()
	r, err := s.Try(req)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// MakeRequest performs req and fails the test unless it answers want.
func (s *Server) MakeRequest(t testing.TB, req *http.Request, want int) *Resp {
	t.Helper()
	r := s.Send(t, req)
	if r.Status != want {
		t.Fatalf("%s: want %d", r, want)
	}
	return r
}

// Do sends one request (token in PRIVATE-TOKEN) and returns the answer
// whatever its status.
func (s *Server) Do(t testing.TB, method, path, token string, body any) *Resp {
	t.Helper()
	return s.Send(t, s.NewRequest(t, method, path, token, body))
}

// Expect sends one request and fails the test unless it answers want.
func (s *Server) Expect(t testing.TB, method, path, token string, body any, want int) *Resp {
	t.Helper()
	return s.MakeRequest(t, s.NewRequest(t, method, path, token, body), want)
}

// Num reads a JSON number field as int64.
func Num(t testing.TB, m map[string]any, key string) int64 {
	t.Helper()
	f, ok := m[key].(float64)
	if !ok {
		t.Fatalf("field %q is %T (%v), want a number (in %v)", key, m[key], m[key], m)
	}
	return int64(f)
}

// Str reads a JSON string field.
func Str(t testing.TB, m map[string]any, key string) string {
	t.Helper()
	s, ok := m[key].(string)
	if !ok {
		t.Fatalf("field %q is %T (%v), want a string", key, m[key], m[key])
	}
	return s
}

// Itoa is strconv.FormatInt(n, 10), for paths.
func Itoa(n int64) string { return strconv.FormatInt(n, 10) }

// Cred puts a credential into a request: one of the ways a token travels
// (gitlab-compat.md §1).
type Cred func(*http.Request)

// PrivateToken is the PRIVATE-TOKEN header.
func PrivateToken(token string) Cred {
	return func(r *http.Request) { r.Header.Set("PRIVATE-TOKEN", token) }
}

// JobToken is the JOB-TOKEN header.
func JobToken(token string) Cred {
	return func(r *http.Request) { r.Header.Set("JOB-TOKEN", token) }
}

// JobTokenParam is the job_token query parameter.
func JobTokenParam(token string) Cred {
	return func(r *http.Request) {
		q := r.URL.Query()
		q.Set("job_token", token)
		r.URL.RawQuery = q.Encode()
	}
}

// Bearer is Authorization: Bearer.
func Bearer(token string) Cred {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
}

// Basic is HTTP Basic; a job token travels as gitlab-ci-token:<token>.
func Basic(user, password string) Cred {
	return func(r *http.Request) { r.SetBasicAuth(user, password) }
}

// Call sends method path with cred (nil: anonymous) and body as
// NewRequest encodes it, and returns the answer whatever its status.
func (s *Server) Call(t testing.TB, method, path string, cred Cred, body any) *Resp {
	t.Helper()
	req := s.NewRequest(t, method, path, "", body)
	if cred != nil {
		cred(req)
	}
	return s.Send(t, req)
}
