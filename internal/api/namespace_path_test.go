package api_test

import (
	"fmt"
	"net/url"
	"testing"
)

// TestCreateProjectNamespacePath: POST /projects takes namespace_id as an
// ID or as a namespace's full path (any case), in a form or in JSON; a
// number in a string stays an ID; an unknown path is 404 Namespace, and a
// group the caller may not create in answers the same by path as by ID.
func TestCreateProjectNamespacePath(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, e *env) {
		f := e.fixture(t)
		wantStatus(t, e.postJSON(t, "/api/v4/groups", e.RootToken, fmt.Sprintf(`{"name":"Sub","path":"sub","parent_id":%d}`, f.group)), 201)
		form := func(name, ns string) string { return url.Values{"name": {name}, "namespace_id": {ns}}.Encode() }
		for _, c := range []struct {
			name, token, ct, body, fullPath string
		}{
			{"form, top-level group", e.RootToken, formCT, form("p1", "grp"), "grp/p1"},
			{"JSON, subgroup", e.RootToken, jsonCT, `{"name":"p2","namespace_id":"grp/sub"}`, "grp/sub/p2"},
			{"path in another case", e.RootToken, jsonCT, `{"name":"p3","namespace_id":"GRP/Sub"}`, "grp/sub/p3"},
			{"ID in a string", e.RootToken, formCT, form("p4", fmt.Sprint(f.group)), "grp/p4"},
			{"own personal namespace", f.alice.Token, formCT, form("p5", "alice"), "alice/p5"},
		} {
			t.Run(c.name, func(t *testing.T) {
				wantField(t, e.call(t, "POST", "/api/v4/projects", c.token, c.ct, c.body), 201, "path_with_namespace", `"`+c.fullPath+`"`)
			})
		}
		e.unchanged(t, "/api/v4/projects", func() {
			wantJSON(t, e.call(t, "POST", "/api/v4/projects", e.RootToken, formCT, form("x", "grp/nope")), 404, `{"message":"404 Namespace Not Found"}`)
			byID := e.call(t, "POST", "/api/v4/projects", f.bob.Token, formCT, form("x", fmt.Sprint(f.group)))
			byPath := e.call(t, "POST", "/api/v4/projects", f.bob.Token, formCT, form("x", "grp"))
			if byID.Status < 400 || byID.Status != byPath.Status || string(byID.Body) != string(byPath.Body) {
				t.Errorf("bob in grp: by ID %d %s, by path %d %s; want the same refusal", byID.Status, byID.Body, byPath.Status, byPath.Body)
			}
		})
	})
}
