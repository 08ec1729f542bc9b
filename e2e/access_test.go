package e2e

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// The callers of the access matrix, in the order of the tables below.
var matrixCallers = []string{"anonymous", "non-member", "guest", "reporter", "developer", "maintainer", "owner", "admin"}

// Expected statuses, per project visibility, for each caller in
// matrixCallers order (GitLab's permissions table). The guest, reporter,
// developer and maintainer are direct project members; the owner is an
// Owner of the top-level group, two levels above the projects.
var (
	// GET /projects/:id and GET /projects/:id/members.
	wantRead = map[string][8]int{
		"public":   {200, 200, 200, 200, 200, 200, 200, 200},
		"internal": {404, 200, 200, 200, 200, 200, 200, 200},
		"private":  {404, 404, 200, 200, 200, 200, 200, 200},
	}
	// PUT /projects/:id.
	wantUpdate = map[string][8]int{
		"public":   {401, 403, 403, 403, 403, 200, 200, 200},
		"internal": {401, 403, 403, 403, 403, 200, 200, 200},
		"private":  {401, 404, 403, 403, 403, 200, 200, 200},
	}
	// POST /projects/:id/members.
	wantAddMember = map[string][8]int{
		"public":   {401, 403, 403, 403, 403, 201, 201, 201},
		"internal": {401, 403, 403, 403, 403, 201, 201, 201},
		"private":  {401, 404, 403, 403, 403, 201, 201, 201},
	}
	// DELETE /projects/:id.
	wantDelete = map[string][8]int{
		"public":   {401, 403, 403, 403, 403, 403, 202, 202},
		"internal": {401, 403, 403, 403, 403, 403, 202, 202},
		"private":  {401, 404, 403, 403, 403, 403, 202, 202},
	}
)

var visibilities = []string{"private", "internal", "public"}

// projectLevels are the direct project memberships of the matrix.
var projectLevels = []struct {
	caller string
	level  int
}{{"guest", 10}, {"reporter", 20}, {"developer", 30}, {"maintainer", 40}}

func TestAccessMatrix(t *testing.T) { forEachDialect(t, testAccessMatrix) }

func testAccessMatrix(t *testing.T, s *testserver.Server) {
	top := s.CreateGroup(t, "grp", 0, "public")
	sub := s.CreateGroup(t, "sub", top, "public")

	tokens := map[string]string{"anonymous": "", "admin": s.RootToken}
	users := map[string]testserver.User{}
	for _, name := range []string{"non-member", "guest", "reporter", "developer", "maintainer", "owner"} {
		u := s.CreateUser(t, name)
		users[name], tokens[name] = u, u.Token
	}
	candidate := s.CreateUser(t, "candidate")
	s.AddMember(t, "groups", top, users["owner"].ID, 50)

	type project struct {
		id   int64
		path string
	}
	addMembers := func(pid int64) {
		for _, m := range projectLevels {
			s.AddMember(t, "projects", pid, users[m.caller].ID, m.level)
		}
	}
	projects := map[string]project{}
	for _, vis := range visibilities {
		id, path := s.CreateProject(t, sub, "proj-"+vis, vis).IDPath()
		if want := "grp/sub/proj-" + vis; path != want {
			t.Fatalf("path_with_namespace %q, want %q", path, want)
		}
		addMembers(id)
		projects[vis] = project{id, path}
	}

	// The owner's role is inherited from the top-level group.
	r := s.Expect(t, "GET", api+"/projects/"+testserver.Itoa(projects["private"].id)+"/members/all/"+testserver.Itoa(users["owner"].ID), s.RootToken, nil, http.StatusOK)
	if m := r.Object(t); testserver.Num(t, m, "access_level") != 50 {
		t.Errorf("owner's inherited level on the project: %s", r.Body)
	}

	for _, vis := range visibilities {
		p := projects[vis]
		byID := api + "/projects/" + testserver.Itoa(p.id)
		byPath := api + "/projects/" + pathID(p.path)
		description := "" // the last description a successful PUT set
		for i, caller := range matrixCallers {
			token := tokens[caller]
			t.Run(vis+"/"+caller, func(t *testing.T) {
				// Reads, by ID and by URL-encoded full path.
				for _, path := range []string{byID, byPath} {
					r := s.Do(t, "GET", path, token, nil)
					checkStatus(t, r, wantRead[vis][i], "Project")
					if r.Status == http.StatusOK {
						m := r.Object(t)
						if testserver.Num(t, m, "id") != p.id || testserver.Str(t, m, "path_with_namespace") != p.path || testserver.Str(t, m, "visibility") != vis {
							t.Errorf("GET %s: wrong project: %s", path, r.Body)
						}
					}
				}
				r := s.Do(t, "GET", byID+"/members", token, nil)
				checkStatus(t, r, wantRead[vis][i], "Project")
				if r.Status == http.StatusOK {
					if got := len(r.List(t)); got != len(projectLevels) {
						t.Errorf("GET members: %d members, want the %d direct ones: %s", got, len(projectLevels), r.Body)
					}
				}

				// Settings: a refused PUT changes nothing.
				newDesc := "x by " + caller
				r = s.Do(t, "PUT", byID, token, url.Values{"description": {newDesc}})
				checkStatus(t, r, wantUpdate[vis][i], "Project")
				if r.Status == http.StatusOK {
					if got := testserver.Str(t, r.Object(t), "description"); got != newDesc {
						t.Errorf("PUT answered description %q, want %q", got, newDesc)
					}
					description = newDesc
				}
				after := s.Expect(t, "GET", byID, s.RootToken, nil, http.StatusOK).Object(t)
				if got := testserver.Str(t, after, "description"); got != description {
					t.Errorf("description is %q after %s's PUT, want %q", got, caller, description)
				}

				// Members: a fresh user at Developer; removed again after.
				r = s.Do(t, "POST", byID+"/members", token, url.Values{"user_id": {testserver.Itoa(candidate.ID)}, "access_level": {"30"}})
				checkStatus(t, r, wantAddMember[vis][i], "Project")
				if r.Status == http.StatusCreated {
					m := r.Object(t)
					if testserver.Num(t, m, "id") != candidate.ID || testserver.Num(t, m, "access_level") != 30 || testserver.Str(t, m, "username") != candidate.Username {
						t.Errorf("POST members answered %s", r.Body)
					}
					s.Expect(t, "DELETE", byID+"/members/"+testserver.Itoa(candidate.ID), s.RootToken, nil, http.StatusNoContent)
				} else {
					s.Expect(t, "GET", byID+"/members/"+testserver.Itoa(candidate.ID), s.RootToken, nil, http.StatusNotFound)
				}
			})
		}
	}

	// Deletion, on throwaway projects: everyone below Owner is refused and
	// the project stays; then the owner deletes one and the admin another.
	for _, vis := range visibilities {
		doomed := s.CreateProject(t, sub, "doomed-"+vis, vis).ID
		addMembers(doomed)
		doomedByAdmin := s.CreateProject(t, sub, "doomed-by-admin-"+vis, vis).ID
		for i, caller := range matrixCallers {
			pid := doomed
			if caller == "admin" {
				pid = doomedByAdmin
			}
			t.Run("delete/"+vis+"/"+caller, func(t *testing.T) {
				path := api + "/projects/" + testserver.Itoa(pid)
				r := s.Do(t, "DELETE", path, tokens[caller], nil)
				checkStatus(t, r, wantDelete[vis][i], "Project")
				if r.Status == http.StatusAccepted {
					checkJSON(t, r, `{"message":"202 Accepted"}`)
					r := s.Do(t, "GET", path, s.RootToken, nil)
					checkStatus(t, r, http.StatusNotFound, "Project")
				} else {
					s.Expect(t, "GET", path, s.RootToken, nil, http.StatusOK)
				}
			})
		}
	}

	// A project that does not exist: 404 to readers, but a write without
	// credentials is still 401 (probing reveals nothing).
	r = s.Do(t, "GET", api+"/projects/999999", s.RootToken, nil)
	checkStatus(t, r, http.StatusNotFound, "Project")
	r = s.Do(t, "GET", api+"/projects/"+pathID("grp/sub/nope"), "", nil)
	checkStatus(t, r, http.StatusNotFound, "Project")
	r = s.Do(t, "PUT", api+"/projects/999999", "", url.Values{"description": {"x"}})
	checkStatus(t, r, http.StatusUnauthorized, "")
	r = s.Do(t, "PUT", api+"/projects/999999", tokens["non-member"], url.Values{"description": {"x"}})
	checkStatus(t, r, http.StatusNotFound, "Project")
}

// TestPrivateGroups: private groups are seen by members of anything
// beneath them, and managed only by their owners.
func TestPrivateGroups(t *testing.T) { forEachDialect(t, testPrivateGroups) }

func testPrivateGroups(t *testing.T, s *testserver.Server) {
	top := s.CreateGroup(t, "hidden", 0, "private")
	sub := s.CreateGroup(t, "inner", top, "private")
	pid := s.CreateProject(t, sub, "secret", "private").ID
	other := s.CreateProject(t, top, "other", "private").ID
	guest := s.CreateUser(t, "pguest")
	maint := s.CreateUser(t, "pmaint")
	stranger := s.CreateUser(t, "stranger")
	s.AddMember(t, "projects", pid, guest.ID, 10)
	s.AddMember(t, "groups", top, maint.ID, 40)

	for _, g := range []string{testserver.Itoa(top), pathID("hidden"), testserver.Itoa(sub), pathID("hidden/inner")} {
		// A member of a project beneath sees the groups above it...
		s.Expect(t, "GET", api+"/groups/"+g, guest.Token, nil, http.StatusOK)
		s.Expect(t, "GET", api+"/groups/"+g, maint.Token, nil, http.StatusOK)
		// ...nobody else does.
		checkStatus(t, s.Do(t, "GET", api+"/groups/"+g, stranger.Token, nil), http.StatusNotFound, "Group")
		checkStatus(t, s.Do(t, "GET", api+"/groups/"+g, "", nil), http.StatusNotFound, "Group")
		// Group settings need Owner.
		checkStatus(t, s.Do(t, "PUT", api+"/groups/"+g, guest.Token, url.Values{"description": {"x"}}), http.StatusForbidden, "")
		checkStatus(t, s.Do(t, "PUT", api+"/groups/"+g, maint.Token, url.Values{"description": {"x"}}), http.StatusForbidden, "")
		checkStatus(t, s.Do(t, "PUT", api+"/groups/"+g, stranger.Token, url.Values{"description": {"x"}}), http.StatusNotFound, "Group")
		checkStatus(t, s.Do(t, "DELETE", api+"/groups/"+g, maint.Token, nil), http.StatusForbidden, "")
		checkStatus(t, s.Do(t, "PUT", api+"/groups/"+g, "", url.Values{"description": {"x"}}), http.StatusUnauthorized, "")
	}
	// Seeing a group is not seeing its other projects.
	r := s.Expect(t, "GET", api+"/groups/"+testserver.Itoa(top)+"/projects?include_subgroups=true", guest.Token, nil, http.StatusOK)
	if l := r.List(t); len(l) != 1 || testserver.Num(t, l[0], "id") != pid {
		t.Errorf("guest's view of the group's projects: %s", r.Body)
	}
	checkStatus(t, s.Do(t, "GET", api+"/projects/"+testserver.Itoa(other), guest.Token, nil), http.StatusNotFound, "Project")
	r = s.Expect(t, "GET", api+"/groups/"+testserver.Itoa(top)+"/projects?include_subgroups=true", maint.Token, nil, http.StatusOK)
	if l := r.List(t); len(l) != 2 {
		t.Errorf("maintainer's view of the group's projects: %s", r.Body)
	}
	r = s.Expect(t, "GET", api+"/projects", stranger.Token, nil, http.StatusOK)
	if l := r.List(t); len(l) != 0 {
		t.Errorf("a stranger lists private projects: %s", r.Body)
	}
	// Listing members of a group needs seeing it.
	checkStatus(t, s.Do(t, "GET", api+"/groups/"+testserver.Itoa(top)+"/members", stranger.Token, nil), http.StatusNotFound, "Group")
	r = s.Expect(t, "GET", api+"/groups/"+testserver.Itoa(sub)+"/members/all", guest.Token, nil, http.StatusOK)
	if l := r.List(t); len(l) != 2 { // root (creator, Owner) and the maintainer
		t.Errorf("GET /groups/:sub/members/all: %s", r.Body)
	}
}
