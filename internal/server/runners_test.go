package server_test

import (
	"net/http"
	"sort"
	"testing"
)

// TestRunnerManagement: who may create which runner, and who sees it in
// GET /runners, /runners/all and /projects/:id/runners.
func TestRunnerManagement(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := newServer(t, serverOpts{dialect: dialect})
		owner, maint, dev := s.createUser(t, "owner"), s.createUser(t, "maint"), s.createUser(t, "dev")
		g := s.createGroup(t, "grp", "private")
		s.addMember(t, "groups", g, owner.ID, 50)
		p := s.createProject(t, g, "app", "private")
		s.addMember(t, "projects", p.ID, maint.ID, 40)
		s.addMember(t, "projects", p.ID, dev.ID, 30)
		other := s.createProject(t, g, "other", "private")

		instanceID, _ := s.createRunner(t, map[string]any{"description": "shared"})
		// Instance runners are for admins.
		s.expect(t, "POST", "/user/runners", maint.Token, map[string]any{"runner_type": "instance_type"}, http.StatusForbidden)
		// Project runners: Maintainers of the project; a Developer may not;
		// a project the caller cannot see is 404.
		proj := s.expect(t, "POST", "/user/runners", maint.Token, map[string]any{"runner_type": "project_type",
			"project_id": p.ID, "description": "mine", "tag_list": []string{"docker"}}, http.StatusCreated).Object(t)
		projID := num(t, proj, "id")
		s.remember(proj["token"].(string))
		s.expect(t, "POST", "/user/runners", dev.Token, map[string]any{"runner_type": "project_type", "project_id": p.ID}, http.StatusForbidden)
		s.expect(t, "POST", "/user/runners", maint.Token, map[string]any{"runner_type": "project_type", "project_id": other.ID}, http.StatusNotFound)
		s.expect(t, "POST", "/user/runners", maint.Token, map[string]any{"runner_type": "project_type"}, http.StatusBadRequest)
		// Group runners: Owners of the group.
		grp := s.expect(t, "POST", "/user/runners", owner.Token, map[string]any{"runner_type": "group_type", "group_id": g}, http.StatusCreated).Object(t)
		grpID := num(t, grp, "id")
		s.remember(grp["token"].(string))
		// The maintainer sees the group (through its project) but does not
		// own it; a stranger does not see it at all.
		s.expect(t, "POST", "/user/runners", maint.Token, map[string]any{"runner_type": "group_type", "group_id": g}, http.StatusForbidden)
		stranger := s.createUser(t, "stranger")
		s.expect(t, "POST", "/user/runners", stranger.Token, map[string]any{"runner_type": "group_type", "group_id": g}, http.StatusNotFound)
		s.expect(t, "POST", "/user/runners", owner.Token, map[string]any{"runner_type": "galaxy_type"}, http.StatusBadRequest)
		s.expect(t, "POST", "/user/runners", "", map[string]any{"runner_type": "project_type", "project_id": p.ID}, http.StatusUnauthorized)

		ids := func(token, path string, want int) []int64 {
			t.Helper()
			r := s.expect(t, "GET", path, token, nil, want)
			if want != http.StatusOK {
				return nil
			}
			var list []map[string]any
			r.JSON(t, &list)
			var out []int64
			for _, r := range list {
				out = append(out, num(t, r, "id"))
			}
			sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
			return out
		}
		same := func(name string, got []int64, want ...int64) {
			t.Helper()
			if len(got) != len(want) {
				t.Errorf("%s: %v, want %v", name, got, want)
				return
			}
			for i := range got {
				if got[i] != want[i] {
					t.Errorf("%s: %v, want %v", name, got, want)
					return
				}
			}
		}
		same("maintainer's GET /runners", ids(maint.Token, "/runners", 200), projID)
		same("owner's GET /runners", ids(owner.Token, "/runners", 200), projID, grpID)
		same("developer's GET /runners", ids(dev.Token, "/runners", 200))
		same("admin's GET /runners/all", ids(rootToken, "/runners/all", 200), instanceID, projID, grpID)
		ids(maint.Token, "/runners/all", http.StatusForbidden)
		same("GET /projects/:id/runners", ids(maint.Token, "/projects/"+itoa(p.ID)+"/runners", 200), instanceID, projID, grpID)
		same("another project's runners", ids(rootToken, "/projects/"+itoa(other.ID)+"/runners", 200), instanceID, grpID)
		same("filtered by type", ids(rootToken, "/runners/all?type=project_type", 200), projID)
		same("filtered by tag", ids(rootToken, "/runners/all?tag_list=docker", 200), projID)
		ids(dev.Token, "/projects/"+itoa(p.ID)+"/runners", http.StatusForbidden)
		ids(rootToken, "/runners/all?type=nonsense", http.StatusBadRequest)
	})
}
