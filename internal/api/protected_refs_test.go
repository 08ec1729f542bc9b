package api_test

import (
	"net/http"
	"testing"
)

// TestProtectedBranchesAPI: GitLab's shapes, Maintainers only, the
// default branch protected from creation, wildcards by their URL-encoded
// pattern, and bad input refused whole.
func TestProtectedBranchesAPI(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		f := e.fixture(t)
		pb := f.projAPI + "/protected_branches"
		maint, dev := f.alice.Token, f.carol.Token

		wantJSON(t, e.call(t, "GET", pb, maint, "", ""), http.StatusOK, `[{"id":1,"name":"main",
			"push_access_levels":[{"id":1,"access_level":40,"access_level_description":"Maintainers","user_id":null,"group_id":null}],
			"merge_access_levels":[{"id":1,"access_level":40,"access_level_description":"Maintainers","user_id":null,"group_id":null}],
			"allow_force_push":false,"code_owner_approval_required":false}]`)
		// Developers neither read nor manage them; a stranger does not see
		// the project.
		wantJSON(t, e.call(t, "GET", pb, dev, "", ""), http.StatusForbidden, `{"message":"403 Forbidden"}`)
		wantJSON(t, e.postJSON(t, pb, dev, `{"name":"dev"}`), http.StatusForbidden, `{"message":"403 Forbidden"}`)
		wantJSON(t, e.call(t, "GET", pb, f.bob.Token, "", ""), http.StatusNotFound, `{"message":"404 Project Not Found"}`)

		wantJSON(t, e.postJSON(t, pb, maint, `{"name":"release/*","push_access_level":30,"merge_access_level":0,"allow_force_push":true}`),
			http.StatusCreated, `{"id":2,"name":"release/*",
			"push_access_levels":[{"id":2,"access_level":30,"access_level_description":"Developers + Maintainers","user_id":null,"group_id":null}],
			"merge_access_levels":[{"id":2,"access_level":0,"access_level_description":"No one","user_id":null,"group_id":null}],
			"allow_force_push":true,"code_owner_approval_required":false}`)
		wantJSON(t, e.postJSON(t, pb, maint, `{"name":"release/*"}`), http.StatusConflict,
			`{"message":"Protected branch 'release/*' already exists"}`)
		wantJSON(t, e.postJSON(t, pb, maint, `{"name":"x","push_access_level":20}`), http.StatusBadRequest,
			`{"message":"400 Bad request - push_access_level does not have a valid value"}`)
		wantJSON(t, e.postJSON(t, pb, maint, `{"push_access_level":40}`), http.StatusBadRequest, `{"error":"name is missing"}`)
		wantJSON(t, e.postJSON(t, pb, maint, `{"name":"a b"}`), http.StatusBadRequest, `{"message":"400 Bad request - name is invalid"}`)

		one := pb + "/release%2F%2A"
		wantField(t, e.call(t, "GET", one, maint, "", ""), http.StatusOK, "name", `"release/*"`)
		wantField(t, e.call(t, "PATCH", one, maint, jsonCT, `{"allow_force_push":false,"push_access_level":60}`), http.StatusOK, "allow_force_push", "false")
		wantField(t, e.call(t, "GET", one, maint, "", ""), http.StatusOK, "push_access_levels", `[{"id":2,"access_level":60,"access_level_description":"Administrators","user_id":null,"group_id":null}]`)
		wantJSON(t, e.call(t, "PATCH", one, maint, jsonCT, `{"merge_access_level":35}`), http.StatusBadRequest,
			`{"message":"400 Bad request - merge_access_level does not have a valid value"}`)
		wantJSON(t, e.call(t, "PATCH", one, dev, jsonCT, `{"allow_force_push":true}`), http.StatusForbidden, `{"message":"403 Forbidden"}`)
		wantStatus(t, e.call(t, "DELETE", one, maint, "", ""), http.StatusNoContent)
		wantJSON(t, e.call(t, "GET", one, maint, "", ""), http.StatusNotFound, `{"message":"404 Not found"}`)
		wantJSON(t, e.call(t, "DELETE", one, maint, "", ""), http.StatusNotFound, `{"message":"404 Not found"}`)
		wantJSON(t, e.call(t, "PATCH", pb+"/nope", maint, jsonCT, `{"allow_force_push":true}`), http.StatusNotFound, `{"message":"404 Not found"}`)
		if n := e.total(t, pb+"?private_token="+maint); n != 1 {
			t.Errorf("%d protected branches after the deletion, want 1", n)
		}
	})
}

// TestProtectedTagsAPI: create_access_levels, 422 for a duplicate as
// GitLab, Maintainers only.
func TestProtectedTagsAPI(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		f := e.fixture(t)
		pt := f.projAPI + "/protected_tags"
		maint, dev := f.alice.Token, f.carol.Token
		wantJSON(t, e.call(t, "GET", pt, maint, "", ""), http.StatusOK, `[]`)
		wantJSON(t, e.postJSON(t, pt, maint, `{"name":"v*","create_access_level":30}`), http.StatusCreated,
			`{"name":"v*","create_access_levels":[{"id":2,"access_level":30,"access_level_description":"Developers + Maintainers","user_id":null,"group_id":null}]}`)
		wantJSON(t, e.postJSON(t, pt, maint, `{"name":"v*"}`), http.StatusUnprocessableEntity, `{"message":"Protected tag 'v*' already exists"}`)
		wantJSON(t, e.postJSON(t, pt, maint, `{"name":"w","create_access_level":50}`), http.StatusBadRequest,
			`{"message":"400 Bad request - create_access_level does not have a valid value"}`)
		wantJSON(t, e.postJSON(t, pt, dev, `{"name":"x"}`), http.StatusForbidden, `{"message":"403 Forbidden"}`)
		wantField(t, e.call(t, "GET", pt+"/v%2A", maint, "", ""), http.StatusOK, "name", `"v*"`)
		wantJSON(t, e.call(t, "GET", pt+"/v%2A", dev, "", ""), http.StatusForbidden, `{"message":"403 Forbidden"}`)
		wantStatus(t, e.call(t, "DELETE", pt+"/v%2A", maint, "", ""), http.StatusNoContent)
		wantJSON(t, e.call(t, "GET", pt+"/v%2A", maint, "", ""), http.StatusNotFound, `{"message":"404 Not found"}`)
	})
}
