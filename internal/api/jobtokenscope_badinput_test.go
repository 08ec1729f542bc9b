package api_test

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// TestJobTokenScopeBadInput sends the scope endpoints malformed ids,
// wrongly typed values and broken bodies: every one is a 4xx, and the
// scope is exactly as before afterwards. (The harness also fails the test
// on any 500 or panic in the log.)
func TestJobTokenScopeBadInput(t *testing.T) {
	s := testserver.New(t, testserver.Options{})
	g := s.CreateGroup(t, "bad", 0, "private")
	p := s.CreateProject(t, g, "p", "private")
	other := s.CreateProject(t, g, "other", "private")
	base := "/projects/" + testserver.Itoa(p.ID) + "/job_token_scope"
	s.Expect(t, "POST", testserver.API+base+"/allowlist", s.RootToken, map[string]any{"target_project_id": other.ID}, http.StatusCreated)

	snapshot := func() []byte {
		var out bytes.Buffer
		for _, path := range []string{"", "/allowlist", "/groups_allowlist", "/outbound_allowlist"} {
			out.Write(s.Expect(t, "GET", testserver.API+base+path, s.RootToken, nil, http.StatusOK).Body)
		}
		return out.Bytes()
	}
	before := snapshot()

	type call struct {
		method, path string
		body         any // JSON unless a string (sent raw as JSON)
	}
	huge := "9223372036854775808"
	calls := []call{
		{"PATCH", "", `{"enabled":`},
		{"PATCH", "", `[true]`},
		{"PATCH", "", map[string]any{"enabled": "maybe"}},
		{"PATCH", "", map[string]any{"enabled": []any{true}}},
		{"PATCH", "", map[string]any{"enabled": map[string]any{"a": 1}}},
		{"PATCH", "", map[string]any{"outbound_enabled": 1.5}},
		{"POST", "/allowlist", map[string]any{"target_project_id": true}},
		{"POST", "/allowlist", map[string]any{"target_project_id": []any{other.ID}}},
		{"POST", "/allowlist", map[string]any{"target_project_id": map[string]any{"id": 1}}},
		{"POST", "/allowlist", map[string]any{"target_project_id": "abc"}},
		{"POST", "/allowlist", `{"target_project_id": ` + huge + `}`},
		{"POST", "/allowlist", map[string]any{"target_project_id": -1}},
		{"POST", "/allowlist", map[string]any{"target_project_id": other.ID, "job_token_policies": map[string]any{"a": 1}}},
		{"POST", "/allowlist", map[string]any{"target_project_id": other.ID, "job_token_policies": []any{1}}},
		{"POST", "/allowlist", map[string]any{"target_project_id": other.ID, "job_token_policies": []any{nil}}},
		{"POST", "/allowlist", map[string]any{"target_project_id": other.ID, "default_permissions": "sometimes"}},
		{"POST", "/allowlist", "\x00"},
		{"POST", "/groups_allowlist", map[string]any{"target_group_id": "x"}},
		{"POST", "/groups_allowlist", `{"target_group_id": ` + huge + `}`},
		{"POST", "/outbound_allowlist", map[string]any{"target_project_id": nil}},
		{"PUT", "/allowlist/abc", map[string]any{"default_permissions": true}},
		{"PUT", "/allowlist/" + huge, map[string]any{"default_permissions": true}},
		{"PUT", "/allowlist/" + testserver.Itoa(other.ID), map[string]any{"job_token_policies": "read_jobs"}},
		{"PUT", "/allowlist/" + testserver.Itoa(other.ID), map[string]any{"job_token_policies": []any{"read_jobs", "bogus"}}},
		{"PUT", "/allowlist/" + testserver.Itoa(other.ID), map[string]any{"default_permissions": []any{}}},
		{"PUT", "/groups_allowlist/-3", map[string]any{"default_permissions": true}},
		{"DELETE", "/allowlist/abc", nil},
		{"DELETE", "/allowlist/-1", nil},
		{"DELETE", "/groups_allowlist/" + huge, nil},
		{"DELETE", "/outbound_allowlist/%00", nil},
		{"GET", "/allowlist?page=0", nil},
		{"GET", "/groups_allowlist?per_page=abc", nil},
		{"GET", "/authorizations?page=-1", nil},
		{"GET", "/explain?job_id=abc&permission=read_jobs", nil},
		{"GET", "/explain?job_id=" + huge + "&permission=read_jobs", nil},
		{"GET", "/explain?job_id=-5&permission=read_jobs", nil},
		{"GET", "/explain?job_id=1&permission[]=read_jobs", nil},
		{"GET", "/explain?job_id=1&permission=", nil},
		{"GET", "/explain?job_id=1&permission=admin_deployments", nil},
	}
	for _, c := range calls {
		var r *testserver.Resp
		if raw, ok := c.body.(string); ok {
			req := s.NewRequest(t, c.method, "/api/v4"+base+c.path, "", raw)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("PRIVATE-TOKEN", s.RootToken)
			r = s.Send(t, req)
		} else {
			r = s.Do(t, c.method, testserver.API+base+c.path, s.RootToken, c.body)
		}
		if r.Status < 400 || r.Status > 499 {
			t.Errorf("%s %s %v: %s, want a 4xx", c.method, c.path, c.body, r)
		}
	}
	if after := snapshot(); !bytes.Equal(after, before) {
		t.Errorf("bad input changed the scope:\nbefore %s\nafter  %s", before, after)
	}
}
