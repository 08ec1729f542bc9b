package e2e

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// TestGroupRename: a group's new name and path reach every subgroup and
// project beneath it, non-ASCII names included.
func TestGroupRename(t *testing.T) { forEachDialect(t, testGroupRename) }

func testGroupRename(t *testing.T, s *testserver.Server) {
	root := s.RootToken
	top := testserver.Num(t, s.Expect(t, "POST", api+"/groups", root, url.Values{"name": {"Café"}, "path": {"cafe"}, "visibility": {"public"}},
		http.StatusCreated).Object(t), "id")
	sub := testserver.Num(t, s.Expect(t, "POST", api+"/groups", root, url.Values{"name": {"Sub"}, "path": {"sub"}, "parent_id": {testserver.Itoa(top)}},
		http.StatusCreated).Object(t), "id")
	pid := testserver.Num(t, s.Expect(t, "POST", api+"/projects", root, url.Values{"name": {"App"}, "path": {"app"}, "namespace_id": {testserver.Itoa(sub)}},
		http.StatusCreated).Object(t), "id")

	m := s.Expect(t, "PUT", api+"/groups/"+testserver.Itoa(top), root, url.Values{"name": {"Thé"}, "path": {"the"}}, http.StatusOK).Object(t)
	if testserver.Str(t, m, "full_path") != "the" || testserver.Str(t, m, "full_name") != "Thé" {
		t.Errorf("renamed group: full_path %q full_name %q", m["full_path"], m["full_name"])
	}
	m = s.Expect(t, "GET", api+"/groups/"+pathID("the/sub"), root, nil, http.StatusOK).Object(t)
	if testserver.Num(t, m, "id") != sub || testserver.Str(t, m, "full_path") != "the/sub" || testserver.Str(t, m, "full_name") != "Thé / Sub" {
		t.Errorf("subgroup after rename: id %v full_path %q full_name %q", m["id"], m["full_path"], m["full_name"])
	}
	m = s.Expect(t, "GET", api+"/projects/"+pathID("the/sub/app"), root, nil, http.StatusOK).Object(t)
	if testserver.Num(t, m, "id") != pid || testserver.Str(t, m, "path_with_namespace") != "the/sub/app" || testserver.Str(t, m, "name_with_namespace") != "Thé / Sub / App" {
		t.Errorf("project after rename: path_with_namespace %q name_with_namespace %q", m["path_with_namespace"], m["name_with_namespace"])
	}
	// Case does not matter in paths, as in GitLab.
	s.Expect(t, "GET", api+"/projects/"+pathID("The/SUB/App"), root, nil, http.StatusOK)
}
