package e2e

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

func TestDeletion(t *testing.T) { forEachDialect(t, testDeletion) }

func testDeletion(t *testing.T, s *testserver.Server) {
	root := s.RootToken
	top := s.CreateGroup(t, "top", 0, "internal")
	sub := s.CreateGroup(t, "sub", top, "internal")
	subsub := s.CreateGroup(t, "deep", sub, "private")
	inTop := s.CreateProject(t, top, "in-top", "internal").ID
	inSub := s.CreateProject(t, sub, "in-sub", "private").ID
	inDeep := s.CreateProject(t, subsub, "in-deep", "private").ID
	keepGroup := s.CreateGroup(t, "keep", 0, "public")
	keep := s.CreateProject(t, keepGroup, "kept", "public").ID
	lone := s.CreateProject(t, keepGroup, "lone", "public").ID

	listed := func(t *testing.T, path string) map[int64]bool {
		t.Helper()
		ids := map[int64]bool{}
		for _, m := range s.Expect(t, "GET", path, root, nil, http.StatusOK).List(t) {
			ids[testserver.Num(t, m, "id")] = true
		}
		return ids
	}

	t.Run("project", func(t *testing.T) {
		r := s.Expect(t, "DELETE", api+"/projects/"+testserver.Itoa(lone), root, nil, http.StatusAccepted)
		checkJSON(t, r, `{"message":"202 Accepted"}`)
		// Gone at once, by ID and by path, from listings, and for writes.
		checkStatus(t, s.Do(t, "GET", api+"/projects/"+testserver.Itoa(lone), root, nil), http.StatusNotFound, "Project")
		checkStatus(t, s.Do(t, "GET", api+"/projects/"+pathID("keep/lone"), root, nil), http.StatusNotFound, "Project")
		checkStatus(t, s.Do(t, "GET", api+"/projects/"+testserver.Itoa(lone), "", nil), http.StatusNotFound, "Project")
		checkStatus(t, s.Do(t, "PUT", api+"/projects/"+testserver.Itoa(lone), root, url.Values{"description": {"x"}}), http.StatusNotFound, "Project")
		checkStatus(t, s.Do(t, "DELETE", api+"/projects/"+testserver.Itoa(lone), root, nil), http.StatusNotFound, "Project")
		checkStatus(t, s.Do(t, "GET", api+"/projects/"+testserver.Itoa(lone)+"/members", root, nil), http.StatusNotFound, "Project")
		if ids := listed(t, api+"/projects?per_page=100"); ids[lone] || !ids[keep] {
			t.Errorf("GET /projects after deleting %d: %v", lone, ids)
		}
		if ids := listed(t, api+"/groups/"+testserver.Itoa(keepGroup)+"/projects"); ids[lone] || !ids[keep] {
			t.Errorf("GET /groups/:id/projects after deleting %d: %v", lone, ids)
		}
		s.Expect(t, "GET", api+"/projects/"+testserver.Itoa(keep), "", nil, http.StatusOK)
	})

	t.Run("group", func(t *testing.T) {
		r := s.Expect(t, "DELETE", api+"/groups/"+testserver.Itoa(top), root, nil, http.StatusAccepted)
		checkJSON(t, r, `{"message":"202 Accepted"}`)
		for _, g := range []string{testserver.Itoa(top), testserver.Itoa(sub), testserver.Itoa(subsub), pathID("top"), pathID("top/sub"), pathID("top/sub/deep")} {
			checkStatus(t, s.Do(t, "GET", api+"/groups/"+g, root, nil), http.StatusNotFound, "Group")
			checkStatus(t, s.Do(t, "GET", api+"/groups/"+g+"/projects", root, nil), http.StatusNotFound, "Group")
		}
		for _, p := range []string{testserver.Itoa(inTop), testserver.Itoa(inSub), testserver.Itoa(inDeep), pathID("top/in-top"), pathID("top/sub/in-sub"), pathID("top/sub/deep/in-deep")} {
			checkStatus(t, s.Do(t, "GET", api+"/projects/"+p, root, nil), http.StatusNotFound, "Project")
		}
		projects := listed(t, api+"/projects?per_page=100")
		for _, id := range []int64{inTop, inSub, inDeep} {
			if projects[id] {
				t.Errorf("GET /projects still lists project %d of a deleted group", id)
			}
		}
		if !projects[keep] {
			t.Errorf("GET /projects lost the unrelated project %d", keep)
		}
		groups := listed(t, api+"/groups?all_available=true&per_page=100")
		for _, id := range []int64{top, sub, subsub} {
			if groups[id] {
				t.Errorf("GET /groups still lists deleted group %d", id)
			}
		}
		if !groups[keepGroup] {
			t.Errorf("GET /groups lost the unrelated group %d", keepGroup)
		}
		// Nothing can be created inside what is being deleted.
		r = s.Do(t, "POST", api+"/projects", root, url.Values{"name": {"late"}, "namespace_id": {testserver.Itoa(sub)}})
		checkStatus(t, r, http.StatusNotFound, "Namespace")
		r = s.Do(t, "POST", api+"/groups", root, url.Values{"name": {"late"}, "path": {"late"}, "parent_id": {testserver.Itoa(sub)}})
		checkStatus(t, r, http.StatusNotFound, "Parent Group")
	})

	t.Run("reaped", func(t *testing.T) {
		// The background reaper removes the rows; the path is free again.
		db, rebind := s.OpenDB(t)
		count := func() int {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var n, m int
			if err := db.QueryRowContext(ctx, rebind("SELECT COUNT(*) FROM namespaces WHERE id IN (?, ?, ?)"), top, sub, subsub).Scan(&n); err != nil {
				t.Fatalf("count namespaces: %v", err)
			}
			if err := db.QueryRowContext(ctx, rebind("SELECT COUNT(*) FROM projects WHERE id IN (?, ?, ?, ?)"), inTop, inSub, inDeep, lone).Scan(&m); err != nil {
				t.Fatalf("count projects: %v", err)
			}
			return n + m
		}
		deadline := time.Now().Add(15 * time.Second)
		for count() != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("deleted rows still in the database 15s after deletion (%d left)", count())
			}
			time.Sleep(50 * time.Millisecond)
		}
		// Paths are free again; IDs are never reused (lone was the newest
		// project), so an old ID cannot come back as another project.
		s.CreateGroup(t, "top", 0, "private")
		if again := s.CreateProject(t, keepGroup, "lone", "public").ID; again <= lone {
			t.Errorf("re-created project got ID %d, want one above the deleted %d", again, lone)
		}
		checkStatus(t, s.Do(t, "GET", api+"/projects/"+testserver.Itoa(lone), root, nil), http.StatusNotFound, "Project")
		s.Expect(t, "GET", api+"/projects/"+testserver.Itoa(keep), root, nil, http.StatusOK)
	})
}
