package runnerapi_test

import (
	"net/http"
	"sort"
	"testing"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// TestRunnerManagement: who may create which runner, and who sees it in
// GET /runners, /runners/all and /projects/:id/runners.
func TestRunnerManagement(t *testing.T) {
	testserver.ForEachDialect(t, func(t *testing.T, dialect string) {
		s := testserver.New(t, testserver.Options{Dialect: dialect})
		owner, maint, dev := s.CreateUser(t, "owner"), s.CreateUser(t, "maint"), s.CreateUser(t, "dev")
		g := s.CreateGroup(t, "grp", 0, "private")
		s.AddMember(t, "groups", g, owner.ID, 50)
		p := s.CreateProject(t, g, "app", "private")
		s.AddMember(t, "projects", p.ID, maint.ID, 40)
		s.AddMember(t, "projects", p.ID, dev.ID, 30)
		other := s.CreateProject(t, g, "other", "private")

		instanceID, _ := s.CreateRunner(t, map[string]any{"description": "shared"})
		// Instance runners are for admins.
		s.Expect(t, "POST", testserver.API+"/user/runners", maint.Token, map[string]any{"runner_type": "instance_type"}, http.StatusForbidden)
		// Project runners: Maintainers of the project; a Developer may not;
		// a project the caller cannot see is 404.
		proj := s.Expect(t, "POST", testserver.API+"/user/runners", maint.Token, map[string]any{"runner_type": "project_type",
			"project_id": p.ID, "description": "mine", "tag_list": []string{"docker"}}, http.StatusCreated).Object(t)
		projID := testserver.Num(t, proj, "id")
		s.Remember(proj["token"].(string))
		s.Expect(t, "POST", testserver.API+"/user/runners", dev.Token, map[string]any{"runner_type": "project_type", "project_id": p.ID}, http.StatusForbidden)
		s.Expect(t, "POST", testserver.API+"/user/runners", maint.Token, map[string]any{"runner_type": "project_type", "project_id": other.ID}, http.StatusNotFound)
		s.Expect(t, "POST", testserver.API+"/user/runners", maint.Token, map[string]any{"runner_type": "project_type"}, http.StatusBadRequest)
		// Group runners: Owners of the group.
		grp := s.Expect(t, "POST", testserver.API+"/user/runners", owner.Token, map[string]any{"runner_type": "group_type", "group_id": g}, http.StatusCreated).Object(t)
		grpID := testserver.Num(t, grp, "id")
		s.Remember(grp["token"].(string))
		// The maintainer sees the group (through its project) but does not
		// own it; a stranger does not see it at all.
		s.Expect(t, "POST", testserver.API+"/user/runners", maint.Token, map[string]any{"runner_type": "group_type", "group_id": g}, http.StatusForbidden)
		stranger := s.CreateUser(t, "stranger")
		s.Expect(t, "POST", testserver.API+"/user/runners", stranger.Token, map[string]any{"runner_type": "group_type", "group_id": g}, http.StatusNotFound)
		s.Expect(t, "POST", testserver.API+"/user/runners", owner.Token, map[string]any{"runner_type": "galaxy_type"}, http.StatusBadRequest)
		s.Expect(t, "POST", testserver.API+"/user/runners", "", map[string]any{"runner_type": "project_type", "project_id": p.ID}, http.StatusUnauthorized)

		ids := func(token, path string, want int) []int64 {
			t.Helper()
			r := s.Expect(t, "GET", testserver.API+path, token, nil, want)
			if want != http.StatusOK {
				return nil
			}
			var list []map[string]any
			r.JSON(t, &list)
			var out []int64
			for _, r := range list {
				out = append(out, testserver.Num(t, r, "id"))
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
		same("admin's GET /runners/all", ids(s.RootToken, "/runners/all", 200), instanceID, projID, grpID)
		ids(maint.Token, "/runners/all", http.StatusForbidden)
		same("GET /projects/:id/runners", ids(maint.Token, "/projects/"+testserver.Itoa(p.ID)+"/runners", 200), instanceID, projID, grpID)
		same("another project's runners", ids(s.RootToken, "/projects/"+testserver.Itoa(other.ID)+"/runners", 200), instanceID, grpID)
		same("filtered by type", ids(s.RootToken, "/runners/all?type=project_type", 200), projID)
		same("filtered by tag", ids(s.RootToken, "/runners/all?tag_list=docker", 200), projID)
		ids(dev.Token, "/projects/"+testserver.Itoa(p.ID)+"/runners", http.StatusForbidden)
		ids(s.RootToken, "/runners/all?type=nonsense", http.StatusBadRequest)
	})
}
