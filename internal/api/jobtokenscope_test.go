package api_test

// The REST contract of /projects/:id/job_token_scope (gitlab-compat.md
// §5) and ciwarden's additions to it (entry permissions, the outbound
// allowlist, the authentication log, the instance setting), against the
// real server on SQLite and PostgreSQL. Every refusal is followed by a
// read that shows it changed nothing.

import (
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// Messages the scope endpoints answer with, as GitLab words them.
const (
	jtsMsgProjectListed = "400 Bad request - Target project is already in the job token scope"
	jtsMsgGroupListed   = "400 Bad request - This group is already in the job token allowlist."
	jtsMsgSelfLink      = "400 Bad request - Validation failed: Target project can't be the same as the source project"
	jtsMsgLinkLimit     = "400 Bad request - Validation failed: Source project exceeds the allowable number of project links in this direction"
	// A target missing and one the caller cannot see answer alike.
	jtsMsgProjectHidden  = "404 target_project_id not found Not Found"
	jtsMsgGroupHidden    = "404 target_group_id not found Not Found"
	jtsMsgProjectUnlist  = "400 Bad request - Target project is not in the job token scope"
	jtsMsgGroupUnlist    = "400 Bad request - Target group is not in the job token scope"
	jtsMsgSelfRemoval    = "400 Bad request - Source project cannot be removed from the job token scope"
	jtsMsgOutboundTarget = "403 Forbidden - Insufficient permissions to add the target project: the Maintainer role is required on it too"
	jtsEnforceSetting    = "enforce_ci_inbound_job_token_scope_enabled"
	// jtsMissingID is an ID no project or group has.
	jtsMissingID = 987654
)

type jtsObj = map[string]any

var (
	jtsUnauthorized    = jtsObj{"message": "401 Unauthorized"}
	jtsForbidden       = jtsObj{"message": "403 Forbidden"}
	jtsProjectNotFound = jtsObj{"message": "404 Project Not Found"}
)

// jtsEnv is a private project app in private group src, with a
// Maintainer, a Developer and a signed-in outsider.
type jtsEnv struct {
	s                    *testserver.Server
	srcGroup             int64
	app                  testserver.Project
	maint, dev, outsider testserver.User
}

func jtsNewEnv(t *testing.T, s *testserver.Server) *jtsEnv {
	t.Helper()
	e := &jtsEnv{s: s}
	e.srcGroup = s.CreateGroup(t, "src", 0, "private")
	e.app = s.CreateProject(t, e.srcGroup, "app", "private")
	e.maint = s.CreateUser(t, "maint")
	e.dev = s.CreateUser(t, "dev")
	e.outsider = s.CreateUser(t, "outsider")
	s.AddMember(t, "projects", e.app.ID, e.maint.ID, 40)
	s.AddMember(t, "projects", e.app.ID, e.dev.ID, 30)
	return e
}

// jtsPath is p's scope path followed by rest.
func jtsPath(p testserver.Project, rest string) string {
	return "/projects/" + testserver.Itoa(p.ID) + "/job_token_scope" + rest
}

// jtsCheck asserts r's status and that its body is the JSON of want; a
// nil want means an empty body.
func jtsCheck(t testing.TB, r *testserver.Resp, status int, want any) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: want %d", r, status)
	}
	if want == nil {
		if len(r.Body) != 0 {
			t.Fatalf("%s: want an empty body", r)
		}
		return
	}
	wantJSON, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var got, w any
	if err := json.Unmarshal(r.Body, &got); err != nil {
		t.Fatalf("%s: body is not JSON: %v", r, err)
	}
	if err := json.Unmarshal(wantJSON, &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, w) {
		t.Fatalf("%s: body\n  %s\nwant\n  %s", r.Req, r.Body, wantJSON)
	}
}

// jtsCall is s.api plus jtsCheck.
func jtsCall(t testing.TB, s *testserver.Server, method, path, token string, body any, status int, want any) *testserver.Resp {
	t.Helper()
	r := s.Do(t, method, testserver.API+path, token, body)
	jtsCheck(t, r, status, want)
	return r
}

// jtsScope asserts the scope's two toggles as a Maintainer reads them.
func jtsScope(t testing.TB, s *testserver.Server, p testserver.Project, token string, inbound, outbound bool) {
	t.Helper()
	jtsCall(t, s, "GET", jtsPath(p, ""), token, nil, http.StatusOK,
		jtsObj{"inbound_enabled": inbound, "outbound_enabled": outbound})
}

// jtsEntry is one project of an allowlist listing, cut to the fields
// the suite compares.
func jtsEntry(p testserver.Project, def bool, policies ...string) jtsObj {
	if policies == nil {
		policies = []string{}
	}
	return jtsObj{"id": p.ID, "path_with_namespace": p.Path, "default_permissions": def, "job_token_policies": policies}
}

// jtsList asserts a project allowlist listing (list is "allowlist" or
// "outbound_allowlist"): exactly want, in order.
func jtsList(t testing.TB, s *testserver.Server, p testserver.Project, list, token string, want ...jtsObj) {
	t.Helper()
	r := s.Do(t, "GET", testserver.API+jtsPath(p, "/"+list), token, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("%s: want 200", r)
	}
	var items []jtsObj
	r.JSON(t, &items)
	keys := []string{"id", "path_with_namespace", "default_permissions", "job_token_policies"}
	if list == "outbound_allowlist" {
		// Outbound entries carry no permissions.
		keys = keys[:2]
		for i, it := range items {
			if _, ok := it["default_permissions"]; ok {
				t.Fatalf("%s: outbound entry %d shows permissions: %v", r.Req, i, it)
			}
		}
		for i := range want {
			want[i] = jtsObj{"id": want[i]["id"], "path_with_namespace": want[i]["path_with_namespace"]}
		}
	}
	got := make([]jtsObj, len(items))
	for i, it := range items {
		got[i] = jtsObj{}
		for _, k := range keys {
			v, ok := it[k]
			if !ok {
				t.Fatalf("%s: entry %d has no %q: %v", r.Req, i, k, it)
			}
			got[i][k] = v
		}
	}
	gotJSON, _ := json.Marshal(got)
	if want == nil {
		want = []jtsObj{}
	}
	wantJSON, _ := json.Marshal(want)
	var g, w any
	_ = json.Unmarshal(gotJSON, &g)
	_ = json.Unmarshal(wantJSON, &w)
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("%s: entries\n  %s\nwant\n  %s", r.Req, gotJSON, wantJSON)
	}
}

// jtsHeaders asserts pagination headers.
func jtsHeaders(t testing.TB, r *testserver.Resp, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got := r.Header.Get(k); got != v {
			t.Errorf("%s: %s is %q, want %q", r.Req, k, got, v)
		}
	}
}

// ---- GET and PATCH /projects/:id/job_token_scope, instance setting ----

func TestJobTokenScopeSettings(t *testing.T) {
	testserver.ForEachDialect(t, func(t *testing.T, dialect string) {
		s := testserver.New(t, testserver.Options{Dialect: dialect})
		e := jtsNewEnv(t, s)
		path := jtsPath(e.app, "")

		// Who may read it.
		jtsCall(t, s, "GET", path, "", nil, http.StatusUnauthorized, jtsUnauthorized)
		jtsCall(t, s, "GET", path, "cwpat-no-such-token-0000000000", nil, http.StatusUnauthorized, jtsUnauthorized)
		jtsCall(t, s, "GET", path, e.dev.Token, nil, http.StatusForbidden, jtsForbidden)
		jtsCall(t, s, "GET", path, e.outsider.Token, nil, http.StatusNotFound, jtsProjectNotFound)
		jtsCall(t, s, "GET", jtsPath(testserver.Project{ID: jtsMissingID}, ""), e.maint.Token, nil, http.StatusNotFound, jtsProjectNotFound)
		// A new project: the allowlist on, the outbound limit off.
		jtsScope(t, s, e.app, e.maint.Token, true, false)

		// Each toggle alone, then both at once.
		jtsCall(t, s, "PATCH", path, e.maint.Token, jtsObj{"enabled": false}, http.StatusNoContent, nil)
		jtsScope(t, s, e.app, e.maint.Token, false, false)
		jtsCall(t, s, "PATCH", path, e.maint.Token, jtsObj{"outbound_enabled": true}, http.StatusNoContent, nil)
		jtsScope(t, s, e.app, e.maint.Token, false, true)
		jtsCall(t, s, "PATCH", path, e.maint.Token, jtsObj{"enabled": true, "outbound_enabled": false}, http.StatusNoContent, nil)
		jtsScope(t, s, e.app, e.maint.Token, true, false)
		jtsCall(t, s, "PATCH", path, e.maint.Token, jtsObj{"enabled": false, "outbound_enabled": true}, http.StatusNoContent, nil)
		jtsScope(t, s, e.app, e.maint.Token, false, true)

		// Refusals leave {false, true} alone; several would set enabled
		// to true if any part of them were applied.
		for _, c := range []struct {
			name string
			body any
			want jtsObj
		}{
			{"empty body", nil, jtsObj{"error": "enabled is missing"}},
			{"empty object", jtsObj{}, jtsObj{"error": "enabled is missing"}},
			{"number", jtsObj{"enabled": 123}, jtsObj{"error": "enabled is invalid"}},
			{"null", jtsObj{"enabled": nil}, jtsObj{"error": "enabled is empty"}},
			{"blank", jtsObj{"enabled": ""}, jtsObj{"error": "enabled is empty"}},
			{"not a boolean", jtsObj{"enabled": "maybe"}, jtsObj{"error": "enabled is invalid"}},
			{"GitLab's removed outbound param", jtsObj{"enabled": true, "outbound_scope_enabled": true},
				jtsObj{"error": "outbound_scope_enabled does not have a valid value"}},
			{"unknown param only", jtsObj{"foo": 1}, jtsObj{"error": "foo does not have a valid value"}},
			{"one bad of two", jtsObj{"enabled": true, "outbound_enabled": nil}, jtsObj{"error": "outbound_enabled is empty"}},
		} {
			t.Run(c.name, func(t *testing.T) {
				jtsCall(t, s, "PATCH", path, e.maint.Token, c.body, http.StatusBadRequest, c.want)
				jtsScope(t, s, e.app, e.maint.Token, false, true)
			})
		}
		jtsCall(t, s, "PATCH", path, e.dev.Token, jtsObj{"enabled": true}, http.StatusForbidden, jtsForbidden)
		jtsCall(t, s, "PATCH", path, e.outsider.Token, jtsObj{"enabled": true}, http.StatusNotFound, jtsProjectNotFound)
		jtsCall(t, s, "PATCH", path, "", jtsObj{"enabled": true}, http.StatusUnauthorized, jtsUnauthorized)
		jtsScope(t, s, e.app, e.maint.Token, false, true)

		// The instance setting: administrators only.
		settings := "/application/settings"
		jtsCall(t, s, "GET", settings, s.RootToken, nil, http.StatusOK, jtsObj{jtsEnforceSetting: false})
		jtsCall(t, s, "GET", settings, e.maint.Token, nil, http.StatusForbidden, jtsForbidden)
		jtsCall(t, s, "GET", settings, "", nil, http.StatusUnauthorized, jtsUnauthorized)
		jtsCall(t, s, "PUT", settings, e.maint.Token, jtsObj{jtsEnforceSetting: true}, http.StatusForbidden, jtsForbidden)
		jtsCall(t, s, "PUT", settings, "", jtsObj{jtsEnforceSetting: true}, http.StatusUnauthorized, jtsUnauthorized)
		jtsCall(t, s, "PUT", settings, s.RootToken, jtsObj{jtsEnforceSetting: nil}, http.StatusBadRequest, jtsObj{"error": jtsEnforceSetting + " is empty"})
		jtsCall(t, s, "GET", settings, s.RootToken, nil, http.StatusOK, jtsObj{jtsEnforceSetting: false})

		// Enforcement on: the allowlist cannot be switched off, in a
		// request alone or with another change, and the other change is
		// not applied either.
		jtsCall(t, s, "PATCH", path, e.maint.Token, jtsObj{"enabled": true, "outbound_enabled": false}, http.StatusNoContent, nil)
		r := s.Expect(t, "PUT", testserver.API+settings, s.RootToken, jtsObj{jtsEnforceSetting: true}, http.StatusOK).Object(t)
		if r[jtsEnforceSetting] != true {
			t.Fatalf("PUT %s: %s is %v, want true", settings, jtsEnforceSetting, r[jtsEnforceSetting])
		}
		jtsCall(t, s, "GET", settings, s.RootToken, nil, http.StatusOK, jtsObj{jtsEnforceSetting: true})
		enforced := jtsObj{"message": "400 Bad request - The instance enforces the job token allowlist on every project; it cannot be turned off"}
		jtsCall(t, s, "PATCH", path, e.maint.Token, jtsObj{"enabled": false}, http.StatusBadRequest, enforced)
		jtsCall(t, s, "PATCH", path, e.maint.Token, jtsObj{"enabled": false, "outbound_enabled": true}, http.StatusBadRequest, enforced)
		jtsScope(t, s, e.app, e.maint.Token, true, false)
		// Turning it on, and the outbound limit, stay possible.
		jtsCall(t, s, "PATCH", path, e.maint.Token, jtsObj{"enabled": true, "outbound_enabled": true}, http.StatusNoContent, nil)
		jtsScope(t, s, e.app, e.maint.Token, true, true)

		// Lifted again: the project may switch it off.
		jtsCall(t, s, "PUT", settings, s.RootToken, jtsObj{jtsEnforceSetting: false}, http.StatusOK, jtsObj{jtsEnforceSetting: false})
		jtsCall(t, s, "PATCH", path, e.maint.Token, jtsObj{"enabled": false}, http.StatusNoContent, nil)
		jtsScope(t, s, e.app, e.maint.Token, false, true)
		// Enforced later, a project that had switched it off reads the
		// effective value, as GitLab's: the allowlist is in force.
		jtsCall(t, s, "PUT", settings, s.RootToken, jtsObj{jtsEnforceSetting: true}, http.StatusOK, jtsObj{jtsEnforceSetting: true})
		jtsScope(t, s, e.app, e.maint.Token, true, true)
		jtsCall(t, s, "PUT", settings, s.RootToken, jtsObj{jtsEnforceSetting: false}, http.StatusOK, jtsObj{jtsEnforceSetting: false})
		jtsScope(t, s, e.app, e.maint.Token, false, true)
	})
}

// ---- the inbound project allowlist ----

func TestJobTokenScopeProjectAllowlist(t *testing.T) {
	testserver.ForEachDialect(t, func(t *testing.T, dialect string) {
		s := testserver.New(t, testserver.Options{Dialect: dialect})
		e := jtsNewEnv(t, s)
		pub := s.CreateGroup(t, "pub", 0, "public")
		a := s.CreateProject(t, pub, "a", "public")
		// b is private: the Maintainer can read it as a Reporter.
		b := s.CreateProject(t, e.srcGroup, "b", "private")
		s.AddMember(t, "projects", b.ID, e.maint.ID, 20)
		c := s.CreateProject(t, pub, "c", "public")
		d := s.CreateProject(t, pub, "d", "public")
		other := s.CreateGroup(t, "other", 0, "private")
		hidden := s.CreateProject(t, other, "hidden", "private")
		list := jtsPath(e.app, "/allowlist")

		// The project itself is listed even with no links.
		jtsList(t, s, e.app, "allowlist", e.maint.Token, jtsEntry(e.app, true))
		jtsCall(t, s, "GET", list, "", nil, http.StatusUnauthorized, jtsUnauthorized)
		jtsCall(t, s, "GET", list, e.dev.Token, nil, http.StatusForbidden, jtsForbidden)
		jtsCall(t, s, "GET", list, e.outsider.Token, nil, http.StatusNotFound, jtsProjectNotFound)

		// Adding: the body names both projects and nothing else.
		jtsCall(t, s, "POST", list, e.maint.Token, jtsObj{"target_project_id": a.ID}, http.StatusCreated,
			jtsObj{"source_project_id": e.app.ID, "target_project_id": a.ID})
		// A form body and a string ID work as in GitLab.
		jtsCall(t, s, "POST", list, e.maint.Token, url.Values{"target_project_id": {testserver.Itoa(b.ID)}}, http.StatusCreated,
			jtsObj{"source_project_id": e.app.ID, "target_project_id": b.ID})
		jtsList(t, s, e.app, "allowlist", e.maint.Token, jtsEntry(e.app, true), jtsEntry(a, true), jtsEntry(b, true))

		// Pages count the project itself: page 2 of 1 is a.
		r := s.Expect(t, "GET", testserver.API+list+"?per_page=1&page=2", e.maint.Token, nil, http.StatusOK)
		var page []jtsObj
		r.JSON(t, &page)
		if len(page) != 1 || testserver.Num(t, page[0], "id") != a.ID {
			t.Fatalf("%s: want only project %d", r, a.ID)
		}
		jtsHeaders(t, r, map[string]string{"X-Total": "3", "X-Total-Pages": "3", "X-Page": "2", "X-Per-Page": "1",
			"X-Next-Page": "3", "X-Prev-Page": "1"})

		// Refusals; the list is the same afterwards.
		for _, c := range []struct {
			name   string
			token  string
			body   any
			status int
			want   jtsObj
		}{
			{"duplicate", e.maint.Token, jtsObj{"target_project_id": a.ID}, http.StatusBadRequest, jtsObj{"message": jtsMsgProjectListed}},
			{"self", e.maint.Token, jtsObj{"target_project_id": e.app.ID}, http.StatusBadRequest, jtsObj{"message": jtsMsgSelfLink}},
			{"no body", e.maint.Token, nil, http.StatusBadRequest, jtsObj{"error": "target_project_id is missing"}},
			{"null", e.maint.Token, jtsObj{"target_project_id": nil}, http.StatusBadRequest, jtsObj{"error": "target_project_id is missing"}},
			{"blank", e.maint.Token, jtsObj{"target_project_id": ""}, http.StatusBadRequest, jtsObj{"error": "target_project_id is missing"}},
			{"float", e.maint.Token, jtsObj{"target_project_id": 1.5}, http.StatusBadRequest, jtsObj{"error": "target_project_id is invalid"}},
			{"not a number", e.maint.Token, jtsObj{"target_project_id": "abc"}, http.StatusBadRequest, jtsObj{"error": "target_project_id is invalid"}},
			{"no such project", e.maint.Token, jtsObj{"target_project_id": jtsMissingID}, http.StatusNotFound,
				jtsObj{"message": jtsMsgProjectHidden}},
			{"unreadable target", e.maint.Token, jtsObj{"target_project_id": hidden.ID}, http.StatusNotFound, jtsObj{"message": jtsMsgProjectHidden}},
			{"developer", e.dev.Token, jtsObj{"target_project_id": c.ID}, http.StatusForbidden, jtsForbidden},
			{"outsider", e.outsider.Token, jtsObj{"target_project_id": c.ID}, http.StatusNotFound, jtsProjectNotFound},
			{"no token", "", jtsObj{"target_project_id": c.ID}, http.StatusUnauthorized, jtsUnauthorized},
			{"unknown policy", e.maint.Token, jtsObj{"target_project_id": d.ID, "job_token_policies": []string{"read_packages", "read_everything"}},
				http.StatusBadRequest, jtsObj{"error": "job_token_policies does not have a valid value"}},
			{"policies as a string", e.maint.Token, jtsObj{"target_project_id": d.ID, "job_token_policies": "read_packages"},
				http.StatusBadRequest, jtsObj{"error": "job_token_policies is invalid"}},
		} {
			t.Run("POST "+c.name, func(t *testing.T) {
				jtsCall(t, s, "POST", list, c.token, c.body, c.status, c.want)
				jtsList(t, s, e.app, "allowlist", e.maint.Token, jtsEntry(e.app, true), jtsEntry(a, true), jtsEntry(b, true))
			})
		}

		// An entry with policies (ciwarden's REST for GitLab's GraphQL-only
		// permissions); the answer keeps GitLab's shape.
		jtsCall(t, s, "POST", list, e.maint.Token, jtsObj{"target_project_id": c.ID, "job_token_policies": []string{"read_packages"}},
			http.StatusCreated, jtsObj{"source_project_id": e.app.ID, "target_project_id": c.ID})
		jtsList(t, s, e.app, "allowlist", e.maint.Token, jtsEntry(e.app, true), jtsEntry(a, true), jtsEntry(b, true),
			jtsEntry(c, false, "read_packages"))

		// Changing an entry's permissions.
		cPath := list + "/" + testserver.Itoa(c.ID)
		jtsCall(t, s, "PUT", cPath, e.maint.Token, jtsObj{"default_permissions": true}, http.StatusOK,
			jtsObj{"source_project_id": e.app.ID, "target_project_id": c.ID, "default_permissions": true, "job_token_policies": []string{"read_packages"}})
		jtsList(t, s, e.app, "allowlist", e.maint.Token, jtsEntry(e.app, true), jtsEntry(a, true), jtsEntry(b, true),
			jtsEntry(c, true, "read_packages"))
		// Listing policies without default_permissions applies them.
		jtsCall(t, s, "PUT", cPath, e.maint.Token, jtsObj{"job_token_policies": []string{"read_jobs", "admin_packages"}}, http.StatusOK,
			jtsObj{"source_project_id": e.app.ID, "target_project_id": c.ID, "default_permissions": false, "job_token_policies": []string{"admin_packages", "read_jobs"}})
		afterPut := []jtsObj{jtsEntry(e.app, true), jtsEntry(a, true), jtsEntry(b, true), jtsEntry(c, false, "admin_packages", "read_jobs")}
		jtsList(t, s, e.app, "allowlist", e.maint.Token, afterPut...)
		for _, c := range []struct {
			name   string
			path   string
			token  string
			body   any
			status int
			want   jtsObj
		}{
			{"not listed", list + "/" + testserver.Itoa(d.ID), e.maint.Token, jtsObj{"default_permissions": true}, http.StatusBadRequest, jtsObj{"message": jtsMsgProjectUnlist}},
			{"the project itself", list + "/" + testserver.Itoa(e.app.ID), e.maint.Token, jtsObj{"default_permissions": true}, http.StatusBadRequest, jtsObj{"message": jtsMsgProjectUnlist}},
			{"no params", cPath, e.maint.Token, nil, http.StatusBadRequest,
				jtsObj{"error": "default_permissions, job_token_policies are missing, at least one parameter must be provided"}},
			{"unknown policy", cPath, e.maint.Token, jtsObj{"job_token_policies": []string{"read_nothing"}}, http.StatusBadRequest,
				jtsObj{"error": "job_token_policies does not have a valid value"}},
			{"policies as a string", cPath, e.maint.Token, jtsObj{"job_token_policies": "read_jobs"}, http.StatusBadRequest,
				jtsObj{"error": "job_token_policies is invalid"}},
			{"default_permissions not a boolean", cPath, e.maint.Token, jtsObj{"default_permissions": "sometimes"}, http.StatusBadRequest,
				jtsObj{"error": "default_permissions is invalid"}},
			{"developer", cPath, e.dev.Token, jtsObj{"default_permissions": true}, http.StatusForbidden, jtsForbidden},
			{"no token", cPath, "", jtsObj{"default_permissions": true}, http.StatusUnauthorized, jtsUnauthorized},
		} {
			t.Run("PUT "+c.name, func(t *testing.T) {
				jtsCall(t, s, "PUT", c.path, c.token, c.body, c.status, c.want)
				jtsList(t, s, e.app, "allowlist", e.maint.Token, afterPut...)
			})
		}

		// Removing.
		jtsCall(t, s, "DELETE", list+"/"+testserver.Itoa(a.ID), e.maint.Token, nil, http.StatusNoContent, nil)
		afterDelete := []jtsObj{jtsEntry(e.app, true), jtsEntry(b, true), jtsEntry(c, false, "admin_packages", "read_jobs")}
		jtsList(t, s, e.app, "allowlist", e.maint.Token, afterDelete...)
		for _, c := range []struct {
			name   string
			target int64
			token  string
			status int
			want   jtsObj
		}{
			{"again", a.ID, e.maint.Token, http.StatusBadRequest, jtsObj{"message": jtsMsgProjectUnlist}},
			{"never listed", d.ID, e.maint.Token, http.StatusBadRequest, jtsObj{"message": jtsMsgProjectUnlist}},
			{"the project itself", e.app.ID, e.maint.Token, http.StatusBadRequest, jtsObj{"message": jtsMsgSelfRemoval}},
			{"no such project", jtsMissingID, e.maint.Token, http.StatusNotFound, jtsProjectNotFound},
			{"developer", b.ID, e.dev.Token, http.StatusForbidden, jtsForbidden},
			{"outsider", b.ID, e.outsider.Token, http.StatusNotFound, jtsProjectNotFound},
			{"no token", b.ID, "", http.StatusUnauthorized, jtsUnauthorized},
		} {
			t.Run("DELETE "+c.name, func(t *testing.T) {
				jtsCall(t, s, "DELETE", list+"/"+testserver.Itoa(c.target), c.token, nil, c.status, c.want)
				jtsList(t, s, e.app, "allowlist", e.maint.Token, afterDelete...)
			})
		}
		// A link can be added again once removed.
		jtsCall(t, s, "POST", list, e.maint.Token, jtsObj{"target_project_id": a.ID}, http.StatusCreated,
			jtsObj{"source_project_id": e.app.ID, "target_project_id": a.ID})
		jtsList(t, s, e.app, "allowlist", e.maint.Token, append(afterDelete, jtsEntry(a, true))...)

		// On a public project a signed-in non-member sees the project but
		// holds no role: 403, and the entry stays.
		open := s.CreateProject(t, pub, "open", "public")
		openList := jtsPath(open, "/allowlist")
		jtsCall(t, s, "POST", openList, s.RootToken, jtsObj{"target_project_id": a.ID}, http.StatusCreated,
			jtsObj{"source_project_id": open.ID, "target_project_id": a.ID})
		jtsCall(t, s, "DELETE", openList+"/"+testserver.Itoa(a.ID), e.outsider.Token, nil, http.StatusForbidden, jtsForbidden)
		jtsCall(t, s, "POST", openList, e.outsider.Token, jtsObj{"target_project_id": c.ID}, http.StatusForbidden, jtsForbidden)
		jtsCall(t, s, "GET", openList, e.outsider.Token, nil, http.StatusForbidden, jtsForbidden)
		jtsCall(t, s, "GET", jtsPath(open, ""), "", nil, http.StatusUnauthorized, jtsUnauthorized)
		jtsList(t, s, open, "allowlist", s.RootToken, jtsEntry(open, true), jtsEntry(a, true))
	})
}

// TestJobTokenScopeLinkLimit: 200 project links per direction; the 201st
// is refused, and the other direction has its own 200.
func TestJobTokenScopeLinkLimit(t *testing.T) {
	testserver.ForEachDialect(t, func(t *testing.T, dialect string) {
		s := testserver.New(t, testserver.Options{Dialect: dialect})
		g := s.CreateGroup(t, "many", 0, "public")
		owner := s.CreateProject(t, g, "owner", "private")
		list := jtsPath(owner, "/allowlist")
		start := time.Now()
		var targets []testserver.Project
		for i := range 201 {
			targets = append(targets, s.CreateProject(t, g, "p"+testserver.Itoa(int64(i)), "public"))
		}
		for _, p := range targets[:200] {
			s.Expect(t, "POST", testserver.API+list, s.RootToken, jtsObj{"target_project_id": p.ID}, http.StatusCreated)
		}
		t.Logf("200 projects and links in %v", time.Since(start))
		jtsCall(t, s, "POST", list, s.RootToken, jtsObj{"target_project_id": targets[200].ID}, http.StatusBadRequest,
			jtsObj{"message": jtsMsgLinkLimit})
		r := s.Expect(t, "GET", testserver.API+list+"?per_page=100&page=3", s.RootToken, nil, http.StatusOK)
		jtsHeaders(t, r, map[string]string{"X-Total": "201", "X-Total-Pages": "3", "X-Page": "3", "X-Per-Page": "100"})
		var last []jtsObj
		r.JSON(t, &last)
		if len(last) != 1 || testserver.Num(t, last[0], "id") != targets[199].ID {
			t.Fatalf("%s: want only project %d", r, targets[199].ID)
		}
		// The outbound direction counts apart.
		jtsCall(t, s, "POST", jtsPath(owner, "/outbound_allowlist"), s.RootToken, jtsObj{"target_project_id": targets[200].ID},
			http.StatusCreated, jtsObj{"source_project_id": owner.ID, "target_project_id": targets[200].ID})
		// Making room admits one more.
		jtsCall(t, s, "DELETE", list+"/"+testserver.Itoa(targets[0].ID), s.RootToken, nil, http.StatusNoContent, nil)
		jtsCall(t, s, "POST", list, s.RootToken, jtsObj{"target_project_id": targets[200].ID}, http.StatusCreated,
			jtsObj{"source_project_id": owner.ID, "target_project_id": targets[200].ID})
	})
}

// ---- the inbound group allowlist ----

func TestJobTokenScopeGroupsAllowlist(t *testing.T) {
	testserver.ForEachDialect(t, func(t *testing.T, dialect string) {
		s := testserver.New(t, testserver.Options{Dialect: dialect})
		e := jtsNewEnv(t, s)
		pub := s.CreateGroup(t, "pubgrp", 0, "public")
		secret := s.CreateGroup(t, "secret", 0, "private")
		list := jtsPath(e.app, "/groups_allowlist")
		group := func(id int64, path string, def bool, policies ...string) jtsObj {
			if policies == nil {
				policies = []string{}
			}
			return jtsObj{"id": id, "name": path, "web_url": s.URL + "/groups/" + path, "full_path": path,
				"default_permissions": def, "job_token_policies": policies}
		}

		r := jtsCall(t, s, "GET", list, e.maint.Token, nil, http.StatusOK, []jtsObj{})
		jtsHeaders(t, r, map[string]string{"X-Total": "0", "X-Page": "1"})
		jtsCall(t, s, "GET", list, "", nil, http.StatusUnauthorized, jtsUnauthorized)
		jtsCall(t, s, "GET", list, e.dev.Token, nil, http.StatusForbidden, jtsForbidden)
		jtsCall(t, s, "GET", list, e.outsider.Token, nil, http.StatusNotFound, jtsProjectNotFound)

		jtsCall(t, s, "POST", list, e.maint.Token, jtsObj{"target_group_id": pub}, http.StatusCreated,
			jtsObj{"source_project_id": e.app.ID, "target_group_id": pub})
		// The project's own private group: its Maintainer sees it through
		// the project.
		jtsCall(t, s, "POST", list, e.maint.Token, jtsObj{"target_group_id": e.srcGroup, "job_token_policies": []string{"read_packages"}},
			http.StatusCreated, jtsObj{"source_project_id": e.app.ID, "target_group_id": e.srcGroup})
		want := []jtsObj{group(pub, "pubgrp", true), group(e.srcGroup, "src", false, "read_packages")}
		jtsCall(t, s, "GET", list, e.maint.Token, nil, http.StatusOK, want)
		r = jtsCall(t, s, "GET", list+"?per_page=1&page=2", e.maint.Token, nil, http.StatusOK, want[1:])
		jtsHeaders(t, r, map[string]string{"X-Total": "2", "X-Total-Pages": "2", "X-Page": "2", "X-Per-Page": "1"})
		// Group links are not project links.
		jtsList(t, s, e.app, "allowlist", e.maint.Token, jtsEntry(e.app, true))

		for _, c := range []struct {
			name   string
			token  string
			body   any
			status int
			want   jtsObj
		}{
			{"duplicate", e.maint.Token, jtsObj{"target_group_id": pub}, http.StatusBadRequest, jtsObj{"message": jtsMsgGroupListed}},
			{"no body", e.maint.Token, nil, http.StatusBadRequest, jtsObj{"error": "target_group_id is missing"}},
			{"null", e.maint.Token, jtsObj{"target_group_id": nil}, http.StatusBadRequest, jtsObj{"error": "target_group_id is missing"}},
			{"blank", e.maint.Token, jtsObj{"target_group_id": ""}, http.StatusBadRequest, jtsObj{"error": "target_group_id is missing"}},
			{"float", e.maint.Token, jtsObj{"target_group_id": 1.5}, http.StatusBadRequest, jtsObj{"error": "target_group_id is invalid"}},
			{"no such group", e.maint.Token, jtsObj{"target_group_id": jtsMissingID}, http.StatusNotFound,
				jtsObj{"message": jtsMsgGroupHidden}},
			{"unreadable group", e.maint.Token, jtsObj{"target_group_id": secret}, http.StatusNotFound, jtsObj{"message": jtsMsgGroupHidden}},
			{"unknown policy", e.maint.Token, jtsObj{"target_group_id": secret, "job_token_policies": []string{"read_all"}},
				http.StatusBadRequest, jtsObj{"error": "job_token_policies does not have a valid value"}},
			{"developer", e.dev.Token, jtsObj{"target_group_id": secret}, http.StatusForbidden, jtsForbidden},
			{"no token", "", jtsObj{"target_group_id": secret}, http.StatusUnauthorized, jtsUnauthorized},
		} {
			t.Run("POST "+c.name, func(t *testing.T) {
				jtsCall(t, s, "POST", list, c.token, c.body, c.status, c.want)
				jtsCall(t, s, "GET", list, e.maint.Token, nil, http.StatusOK, want)
			})
		}

		// Permissions of a group entry.
		pubPath := list + "/" + testserver.Itoa(pub)
		jtsCall(t, s, "PUT", pubPath, e.maint.Token, jtsObj{"job_token_policies": []string{"read_jobs"}}, http.StatusOK,
			jtsObj{"source_project_id": e.app.ID, "target_group_id": pub, "default_permissions": false, "job_token_policies": []string{"read_jobs"}})
		want = []jtsObj{group(pub, "pubgrp", false, "read_jobs"), group(e.srcGroup, "src", false, "read_packages")}
		jtsCall(t, s, "GET", list, e.maint.Token, nil, http.StatusOK, want)
		jtsCall(t, s, "PUT", list+"/"+testserver.Itoa(secret), e.maint.Token, jtsObj{"default_permissions": true}, http.StatusBadRequest,
			jtsObj{"message": jtsMsgGroupUnlist})
		jtsCall(t, s, "PUT", pubPath, e.dev.Token, jtsObj{"default_permissions": true}, http.StatusForbidden, jtsForbidden)
		jtsCall(t, s, "PUT", pubPath, e.maint.Token, nil, http.StatusBadRequest,
			jtsObj{"error": "default_permissions, job_token_policies are missing, at least one parameter must be provided"})
		jtsCall(t, s, "GET", list, e.maint.Token, nil, http.StatusOK, want)

		// Removing.
		jtsCall(t, s, "DELETE", pubPath, e.dev.Token, nil, http.StatusForbidden, jtsForbidden)
		jtsCall(t, s, "DELETE", pubPath, "", nil, http.StatusUnauthorized, jtsUnauthorized)
		jtsCall(t, s, "GET", list, e.maint.Token, nil, http.StatusOK, want)
		jtsCall(t, s, "DELETE", pubPath, e.maint.Token, nil, http.StatusNoContent, nil)
		want = want[1:]
		jtsCall(t, s, "GET", list, e.maint.Token, nil, http.StatusOK, want)
		jtsCall(t, s, "DELETE", pubPath, e.maint.Token, nil, http.StatusBadRequest, jtsObj{"message": jtsMsgGroupUnlist})
		// An unlisted group the caller cannot see looks missing
		// (security.md §3: existence is never revealed).
		jtsCall(t, s, "DELETE", list+"/"+testserver.Itoa(secret), e.maint.Token, nil, http.StatusNotFound,
			jtsObj{"message": "404 target_group_id not found Not Found"})
		jtsCall(t, s, "DELETE", list+"/"+testserver.Itoa(jtsMissingID), e.maint.Token, nil, http.StatusNotFound,
			jtsObj{"message": "404 target_group_id not found Not Found"})
		jtsCall(t, s, "GET", list, e.maint.Token, nil, http.StatusOK, want)
	})
}

// ---- the outbound allowlist (ciwarden: the seed's outbound limit) ----

func TestJobTokenScopeOutboundAllowlist(t *testing.T) {
	testserver.ForEachDialect(t, func(t *testing.T, dialect string) {
		s := testserver.New(t, testserver.Options{Dialect: dialect})
		e := jtsNewEnv(t, s)
		// asDev: the Maintainer of app is a Developer there; asMaint:
		// Maintainer; foreign: no member at all.
		asDev := s.CreateProject(t, e.srcGroup, "asdev", "private")
		asMaint := s.CreateProject(t, e.srcGroup, "asmaint", "private")
		foreign := s.CreateProject(t, e.srcGroup, "foreign", "private")
		s.AddMember(t, "projects", asDev.ID, e.maint.ID, 30)
		s.AddMember(t, "projects", asMaint.ID, e.maint.ID, 40)
		out := jtsPath(e.app, "/outbound_allowlist")
		in := jtsPath(e.app, "/allowlist")

		jtsList(t, s, e.app, "outbound_allowlist", e.maint.Token, jtsEntry(e.app, true))
		jtsCall(t, s, "GET", out, e.dev.Token, nil, http.StatusForbidden, jtsForbidden)
		jtsCall(t, s, "GET", out, "", nil, http.StatusUnauthorized, jtsUnauthorized)

		// Adding needs Maintainer on the target too.
		jtsCall(t, s, "POST", out, e.maint.Token, jtsObj{"target_project_id": asDev.ID}, http.StatusForbidden,
			jtsObj{"message": jtsMsgOutboundTarget})
		jtsCall(t, s, "POST", out, e.maint.Token, jtsObj{"target_project_id": foreign.ID}, http.StatusNotFound,
			jtsObj{"message": jtsMsgProjectHidden})
		jtsCall(t, s, "POST", out, e.maint.Token, jtsObj{"target_project_id": asMaint.ID}, http.StatusCreated,
			jtsObj{"source_project_id": e.app.ID, "target_project_id": asMaint.ID})
		jtsCall(t, s, "POST", out, e.maint.Token, jtsObj{"target_project_id": asMaint.ID}, http.StatusBadRequest,
			jtsObj{"message": jtsMsgProjectListed})
		jtsCall(t, s, "POST", out, e.maint.Token, jtsObj{"target_project_id": e.app.ID}, http.StatusBadRequest,
			jtsObj{"message": jtsMsgSelfLink})
		jtsCall(t, s, "POST", out, e.maint.Token, nil, http.StatusBadRequest, jtsObj{"error": "target_project_id is missing"})
		jtsCall(t, s, "POST", out, e.maint.Token, jtsObj{"target_project_id": jtsMissingID}, http.StatusNotFound,
			jtsObj{"message": jtsMsgProjectHidden})
		jtsCall(t, s, "POST", out, e.dev.Token, jtsObj{"target_project_id": asMaint.ID}, http.StatusForbidden, jtsForbidden)
		jtsCall(t, s, "POST", out, "", jtsObj{"target_project_id": asMaint.ID}, http.StatusUnauthorized, jtsUnauthorized)
		// An administrator needs no role anywhere.
		jtsCall(t, s, "POST", out, s.RootToken, jtsObj{"target_project_id": foreign.ID}, http.StatusCreated,
			jtsObj{"source_project_id": e.app.ID, "target_project_id": foreign.ID})
		jtsList(t, s, e.app, "outbound_allowlist", e.maint.Token, jtsEntry(e.app, true), jtsEntry(asMaint, true), jtsEntry(foreign, true))

		// The two directions are independent.
		jtsList(t, s, e.app, "allowlist", e.maint.Token, jtsEntry(e.app, true))
		jtsCall(t, s, "POST", in, e.maint.Token, jtsObj{"target_project_id": asDev.ID}, http.StatusCreated,
			jtsObj{"source_project_id": e.app.ID, "target_project_id": asDev.ID})
		jtsCall(t, s, "POST", in, e.maint.Token, jtsObj{"target_project_id": asMaint.ID}, http.StatusCreated,
			jtsObj{"source_project_id": e.app.ID, "target_project_id": asMaint.ID})
		jtsList(t, s, e.app, "allowlist", e.maint.Token, jtsEntry(e.app, true), jtsEntry(asDev, true), jtsEntry(asMaint, true))
		jtsList(t, s, e.app, "outbound_allowlist", e.maint.Token, jtsEntry(e.app, true), jtsEntry(asMaint, true), jtsEntry(foreign, true))
		jtsCall(t, s, "DELETE", out+"/"+testserver.Itoa(asDev.ID), e.maint.Token, nil, http.StatusBadRequest, jtsObj{"message": jtsMsgProjectUnlist})
		// foreign is not listed inbound and the maintainer cannot see it:
		// as if it did not exist.
		jtsCall(t, s, "DELETE", in+"/"+testserver.Itoa(foreign.ID), e.maint.Token, nil, http.StatusNotFound, jtsObj{"message": "404 Project Not Found"})
		jtsCall(t, s, "DELETE", in+"/"+testserver.Itoa(asMaint.ID), e.maint.Token, nil, http.StatusNoContent, nil)
		jtsList(t, s, e.app, "allowlist", e.maint.Token, jtsEntry(e.app, true), jtsEntry(asDev, true))
		jtsList(t, s, e.app, "outbound_allowlist", e.maint.Token, jtsEntry(e.app, true), jtsEntry(asMaint, true), jtsEntry(foreign, true))

		// Removing needs Maintainer on the source only.
		jtsCall(t, s, "DELETE", out+"/"+testserver.Itoa(foreign.ID), e.dev.Token, nil, http.StatusForbidden, jtsForbidden)
		jtsCall(t, s, "DELETE", out+"/"+testserver.Itoa(foreign.ID), "", nil, http.StatusUnauthorized, jtsUnauthorized)
		jtsCall(t, s, "DELETE", out+"/"+testserver.Itoa(foreign.ID), e.maint.Token, nil, http.StatusNoContent, nil)
		// Removed, it is again a project the maintainer cannot see.
		jtsCall(t, s, "DELETE", out+"/"+testserver.Itoa(foreign.ID), e.maint.Token, nil, http.StatusNotFound, jtsProjectNotFound)
		jtsCall(t, s, "DELETE", out+"/"+testserver.Itoa(e.app.ID), e.maint.Token, nil, http.StatusBadRequest, jtsObj{"message": jtsMsgSelfRemoval})
		jtsCall(t, s, "DELETE", out+"/"+testserver.Itoa(jtsMissingID), e.maint.Token, nil, http.StatusNotFound, jtsProjectNotFound)
		jtsList(t, s, e.app, "outbound_allowlist", e.maint.Token, jtsEntry(e.app, true), jtsEntry(asMaint, true))
		jtsList(t, s, e.app, "allowlist", e.maint.Token, jtsEntry(e.app, true), jtsEntry(asDev, true))

		// The outbound list has no entry permissions to change.
		jtsCall(t, s, "PUT", out+"/"+testserver.Itoa(asMaint.ID), e.maint.Token, jtsObj{"default_permissions": false},
			http.StatusNotFound, jtsObj{"error": "404 Not Found"})
	})
}

// TestJobTokenScopeAddRevealsNothing: adding an entry for a project or
// group the caller cannot see answers exactly as for one that does not
// exist, on all three lists (issue 13 item 7), so that POST cannot probe
// for private projects and groups; and nothing is added.
func TestJobTokenScopeAddRevealsNothing(t *testing.T) {
	testserver.ForEachDialect(t, func(t *testing.T, dialect string) {
		s := testserver.New(t, testserver.Options{Dialect: dialect})
		e := jtsNewEnv(t, s)
		other := s.CreateGroup(t, "elsewhere", 0, "private")
		hidden := s.CreateProject(t, other, "hidden", "private")
		for _, c := range []struct {
			list, param, want string
			hidden            int64
		}{
			{"allowlist", "target_project_id", jtsMsgProjectHidden, hidden.ID},
			{"outbound_allowlist", "target_project_id", jtsMsgProjectHidden, hidden.ID},
			{"groups_allowlist", "target_group_id", jtsMsgGroupHidden, other},
		} {
			path := jtsPath(e.app, "/"+c.list)
			missing := jtsCall(t, s, "POST", path, e.maint.Token, jtsObj{c.param: jtsMissingID}, http.StatusNotFound, jtsObj{"message": c.want})
			unseen := jtsCall(t, s, "POST", path, e.maint.Token, jtsObj{c.param: c.hidden}, http.StatusNotFound, jtsObj{"message": c.want})
			if string(missing.Body) != string(unseen.Body) {
				t.Errorf("POST %s: a hidden target answers %s, a missing one %s", c.list, unseen.Body, missing.Body)
			}
		}
		jtsList(t, s, e.app, "allowlist", e.maint.Token, jtsEntry(e.app, true))
		jtsList(t, s, e.app, "outbound_allowlist", e.maint.Token, jtsEntry(e.app, true))
		jtsCall(t, s, "GET", jtsPath(e.app, "/groups_allowlist"), e.maint.Token, nil, http.StatusOK, []jtsObj{})
	})
}

// ---- the authentication log ----

func TestJobTokenScopeAuthorizations(t *testing.T) {
	testserver.ForEachDialect(t, func(t *testing.T, dialect string) {
		s := testserver.New(t, testserver.Options{Dialect: dialect})
		e := jtsNewEnv(t, s)
		path := jtsPath(e.app, "/authorizations")
		header := "origin_project_id,origin_project_path,last_used_at,allowed_count,denied_count,last_policy,last_result,last_denial_reason,last_denied_at"

		jtsCall(t, s, "GET", path, "", nil, http.StatusUnauthorized, jtsUnauthorized)
		jtsCall(t, s, "GET", path, e.dev.Token, nil, http.StatusForbidden, jtsForbidden)
		jtsCall(t, s, "GET", path, e.outsider.Token, nil, http.StatusNotFound, jtsProjectNotFound)
		jtsCall(t, s, "GET", path+"?format=csv", e.dev.Token, nil, http.StatusForbidden, jtsForbidden)
		r := jtsCall(t, s, "GET", path, e.maint.Token, nil, http.StatusOK, []jtsObj{})
		jtsHeaders(t, r, map[string]string{"X-Total": "0"})
		jtsCall(t, s, "GET", path+"?format=xml", e.maint.Token, nil, http.StatusBadRequest, jtsObj{"error": "format does not have a valid value"})

		r = s.Expect(t, "GET", testserver.API+path+"?format=csv", e.maint.Token, nil, http.StatusOK)
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
			t.Errorf("%s: Content-Type %q, want text/csv", r.Req, ct)
		}
		if first, _, _ := strings.Cut(string(r.Body), "\n"); first != header {
			t.Errorf("%s: first line %q, want %q", r.Req, first, header)
		}
		if string(r.Body) != header+"\n" {
			t.Errorf("%s: body %q, want the header line alone for a fresh project", r.Req, r.Body)
		}
	})
}

// TestJobTokenScopeListIsTheRoutes: which list a request edits is the
// route's, never guessed from the path, which may hold an encoded
// project path spelling the other list's name; outbound entries take no
// permissions.
func TestJobTokenScopeListIsTheRoutes(t *testing.T) {
	s := testserver.New(t, testserver.Options{})
	g := s.CreateGroup(t, "x", 0, "private")
	tricky := s.CreateProject(t, s.CreateGroup(t, "job_token_scope", 0, "private"), "outbound_allowlist", "private")
	other := s.CreateProject(t, g, "other", "private")
	enc := "/projects/" + strings.ReplaceAll(tricky.Path, "/", "%2F") + "/job_token_scope"
	jtsCall(t, s, "POST", enc+"/allowlist", s.RootToken, jtsObj{"target_project_id": other.ID}, http.StatusCreated,
		jtsObj{"source_project_id": tricky.ID, "target_project_id": other.ID})
	jtsList(t, s, tricky, "allowlist", s.RootToken, jtsEntry(tricky, true), jtsEntry(other, true))
	jtsList(t, s, tricky, "outbound_allowlist", s.RootToken, jtsEntry(tricky, true))

	for _, k := range []string{"default_permissions", "job_token_policies"} {
		body := jtsObj{"target_project_id": other.ID, k: true}
		if k == "job_token_policies" {
			body[k] = []string{"read_jobs"}
		}
		jtsCall(t, s, "POST", enc+"/outbound_allowlist", s.RootToken, body, http.StatusBadRequest,
			jtsObj{"error": k + " does not apply to the outbound allowlist"})
	}
	jtsList(t, s, tricky, "outbound_allowlist", s.RootToken, jtsEntry(tricky, true))
}
