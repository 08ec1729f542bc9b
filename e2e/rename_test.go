package e2e

import (
	"net/http"
	"net/url"
	"testing"
)

// TestGroupRename: a group's new name and path reach every subgroup and
// project beneath it, non-ASCII names included.
func TestGroupRename(t *testing.T) { forEachDialect(t, testGroupRename) }

func testGroupRename(t *testing.T, s *Server) {
	root := s.RootToken
	top := num(t, s.Expect(t, "POST", api+"/groups", root, url.Values{"name": {"Café"}, "path": {"cafe"}, "visibility": {"public"}},
		http.StatusCreated).Object(t), "id")
	sub := num(t, s.Expect(t, "POST", api+"/groups", root, url.Values{"name": {"Sub"}, "path": {"sub"}, "parent_id": {itoa(top)}},
		http.StatusCreated).Object(t), "id")
	pid := num(t, s.Expect(t, "POST", api+"/projects", root, url.Values{"name": {"App"}, "path": {"app"}, "namespace_id": {itoa(sub)}},
		http.StatusCreated).Object(t), "id")

	m := s.Expect(t, "PUT", api+"/groups/"+itoa(top), root, url.Values{"name": {"Thé"}, "path": {"the"}}, http.StatusOK).Object(t)
	if str(t, m, "full_path") != "the" || str(t, m, "full_name") != "Thé" {
		t.Errorf("renamed group: full_path %q full_name %q", m["full_path"], m["full_name"])
	}
	m = s.Expect(t, "GET", api+"/groups/"+pathID("the/sub"), root, nil, http.StatusOK).Object(t)
	if num(t, m, "id") != sub || str(t, m, "full_path") != "the/sub" || str(t, m, "full_name") != "Thé / Sub" {
		t.Errorf("subgroup after rename: id %v full_path %q full_name %q", m["id"], m["full_path"], m["full_name"])
	}
	m = s.Expect(t, "GET", api+"/projects/"+pathID("the/sub/app"), root, nil, http.StatusOK).Object(t)
	if num(t, m, "id") != pid || str(t, m, "path_with_namespace") != "the/sub/app" || str(t, m, "name_with_namespace") != "Thé / Sub / App" {
		t.Errorf("project after rename: path_with_namespace %q name_with_namespace %q", m["path_with_namespace"], m["name_with_namespace"])
	}
	// Case does not matter in paths, as in GitLab.
	s.Expect(t, "GET", api+"/projects/"+pathID("The/SUB/App"), root, nil, http.StatusOK)
}
