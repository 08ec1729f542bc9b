package registry_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// TestRenameWithImages: images are stored under their path, so a project
// or a group above it whose images have tags keeps its path, with
// GitLab's 400; a new name is fine, and once the tags are gone the path
// moves and pushes go to the new one.
func TestRenameWithImages(t *testing.T) {
	t.Parallel()
	s := testserver.New(t, testserver.Options{})
	team := s.NewTeam(t, "private")
	push(t, s, team.Dev, "grp/app/sub:v1")
	project := "/api/v4/projects/" + testserver.Itoa(team.Project.ID)
	group := "/api/v4/groups/grp"

	for _, c := range []struct{ path, body string }{
		{project, `Cannot rename project because it contains container registry tags!`},
		{group, `Cannot update the path because there are projects under this group that contain Docker images in their Container Registry.`},
	} {
		r := s.Call(t, "PUT", c.path, testserver.PrivateToken(s.RootToken), url.Values{"path": {"moved"}})
		if r.Status != 400 || !strings.Contains(string(r.Body), c.body) {
			t.Errorf("PUT %s path: %s, want 400 %s", c.path, r, c.body)
		}
	}
	s.Expect(t, "PUT", project, s.RootToken, url.Values{"name": {"App renamed"}}, 200)
	if p := s.Expect(t, "GET", project, s.RootToken, nil, 200).Object(t); p["path_with_namespace"] != "grp/app" {
		t.Errorf("the project moved: %v", p["path_with_namespace"])
	}

	list := s.Expect(t, "GET", project+"/registry/repositories", team.Maint.Token, nil, 200).List(t)
	rid := testserver.Itoa(testserver.Num(t, list[0], "id"))
	s.Expect(t, "DELETE", project+"/registry/repositories/"+rid+"/tags/v1", team.Maint.Token, nil, 200)
	s.Expect(t, "PUT", project, s.RootToken, url.Values{"path": {"moved"}}, 200)
	push(t, s, team.Dev, "grp/moved:v1")
}
