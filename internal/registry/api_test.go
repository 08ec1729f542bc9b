package registry_test

// The container registry API with images pushed by a real client: GitLab's
// entities, who may read and delete, job tokens on their own project only,
// bulk tag deletion, and a project's deletion taking its images along.

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

func push(t *testing.T, s *testserver.Server, u testserver.User, path string) v1.Image {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref(t, s, path), img, basicAuth(u.Username, u.Token)); err != nil {
		t.Fatalf("push %s: %v", path, err)
	}
	return img
}

func TestRegistryAPI(t *testing.T) {
	t.Parallel()
	testserver.ForEachDialect(t, func(t *testing.T, dialect string) {
		s := testserver.New(t, testserver.Options{Dialect: dialect, Run: true})
		team := s.NewTeamCI(t, "build:\n  script: [make]\n")
		host := strings.TrimPrefix(s.URL, "http://")
		img := push(t, s, team.Dev, "grp/app:v1")
		push(t, s, team.Dev, "grp/app:v2")
		push(t, s, team.Dev, "grp/app/sub:v1")
		base := "/api/v4/projects/" + testserver.Itoa(team.Project.ID) + "/registry/repositories"

		list := s.Expect(t, "GET", base+"?tags=true&tags_count=true", team.Reporter.Token, nil, 200).List(t)
		if len(list) != 2 {
			t.Fatalf("repositories %v, want 2", list)
		}
		root, sub := list[0], list[1]
		for k, want := range map[string]any{"name": "", "path": "grp/app", "location": host + "/grp/app", "tags_count": float64(2),
			"project_id": float64(team.Project.ID)} {
			if root[k] != want {
				t.Errorf("repository %s = %v, want %v", k, root[k], want)
			}
		}
		if sub["name"] != "sub" || sub["path"] != "grp/app/sub" {
			t.Errorf("second repository %v", sub)
		}
		tags, _ := root["tags"].([]any)
		if len(tags) != 2 || tags[0].(map[string]any)["location"] != host+"/grp/app:v1" || tags[0].(map[string]any)["path"] != "grp/app:v1" {
			t.Errorf("tags %v", tags)
		}
		rid := testserver.Itoa(testserver.Num(t, root, "id"))

		// Who reads: Reporter and up; a Guest is refused; an outsider
		// does not see the private project.
		s.Expect(t, "GET", base, team.Guest.Token, nil, 403)
		s.Expect(t, "GET", base, team.Outsider.Token, nil, 404)
		s.Expect(t, "GET", "/api/v4/registry/repositories/"+rid, team.Outsider.Token, nil, 404)
		s.Expect(t, "GET", "/api/v4/registry/repositories/999999", team.Reporter.Token, nil, 404)
		one := s.Expect(t, "GET", "/api/v4/registry/repositories/"+rid+"?tags_count=true", team.Reporter.Token, nil, 200).Object(t)
		if one["path"] != "grp/app" || one["tags_count"] != float64(2) {
			t.Errorf("repository by ID %v", one)
		}

		tl := s.Expect(t, "GET", base+"/"+rid+"/tags", team.Reporter.Token, nil, 200).List(t)
		if len(tl) != 2 || tl[1]["name"] != "v2" {
			t.Errorf("tag list %v", tl)
		}
		detail := s.Expect(t, "GET", base+"/"+rid+"/tags/v1", team.Reporter.Token, nil, 200).Object(t)
		d, _ := img.Digest()
		cfg, _ := img.ConfigName()
		if detail["digest"] != d.String() || detail["revision"] != cfg.Hex || detail["short_revision"] != cfg.Hex[:9] ||
			testserver.Num(t, detail, "total_size") <= 256 || detail["location"] != host+"/grp/app:v1" {
			t.Errorf("tag details %v (digest %s, config %s)", detail, d, cfg)
		}
		s.Expect(t, "GET", base+"/"+rid+"/tags/nope", team.Reporter.Token, nil, 404)

		// Job tokens: their own project only, GitLab's words elsewhere.
		job := team.Take(t, "build")
		if r := s.Call(t, "GET", base, testserver.JobToken(job.Token), nil); r.Status != 200 {
			t.Errorf("job token on its own project: %s", r)
		}
		other := s.CreateProject(t, 0, "other", "public")
		r := s.Call(t, "GET", "/api/v4/projects/"+testserver.Itoa(other.ID)+"/registry/repositories", testserver.JobToken(job.Token), nil)
		if r.Status != 403 || !strings.Contains(string(r.Body), "This project's CI/CD job token cannot be used to authenticate with the container registry of a different project.") {
			t.Errorf("job token on another project: %s", r)
		}
		job.FinishOK(t, "success")

		// Deleting: Maintainers.
		s.Expect(t, "DELETE", base+"/"+rid+"/tags/v2", team.Dev.Token, nil, 403)
		s.Expect(t, "DELETE", base+"/"+rid+"/tags/v2", team.Maint.Token, nil, 200)
		s.Expect(t, "GET", base+"/"+rid+"/tags/v2", team.Reporter.Token, nil, 404)
		if _, err := remote.Head(ref(t, s, "grp/app:v2"), basicAuth("reporter", team.Reporter.Token)); err == nil {
			t.Error("the deleted tag still pulls")
		}

		// Bulk deletion.
		for _, tag := range []string{"a1", "a2", "a3", "keep"} {
			push(t, s, team.Dev, "grp/app:"+tag)
		}
		for _, c := range []struct {
			q    url.Values
			body string
		}{
			{url.Values{}, "name_regex_delete is missing"},
			{url.Values{"name_regex_delete": {"a("}}, "not a valid regular expression"},
			{url.Values{"name_regex_delete": {"a.*"}, "older_than": {"soon"}}, "older_than is not a duration"},
		} {
			r := s.Call(t, "DELETE", base+"/"+rid+"/tags?"+c.q.Encode(), testserver.PrivateToken(team.Maint.Token), nil)
			if r.Status != 400 || !strings.Contains(string(r.Body), c.body) {
				t.Errorf("bulk %v: %s, want 400 %s", c.q, r, c.body)
			}
		}
		s.Expect(t, "DELETE", base+"/"+rid+"/tags?name_regex_delete=a.*&name_regex_keep=a2", team.Maint.Token, nil, 202)
		var names []string
		for _, tg := range s.Expect(t, "GET", base+"/"+rid+"/tags", team.Reporter.Token, nil, 200).List(t) {
			names = append(names, tg["name"].(string))
		}
		if strings.Join(names, ",") != "a2,keep,v1" {
			t.Errorf("tags after the bulk deletion: %v, want a2,keep,v1", names)
		}
		// keep_n keeps the newest, older_than spares the young: of k1 (3
		// days old), k2 (1 day) and k3 (now), only k1 goes.
		for tag, age := range map[string]time.Duration{"k1": 72 * time.Hour, "k2": 24 * time.Hour, "k3": 0} {
			pushAged(t, s, team.Dev, "grp/app:"+tag, age)
		}
		s.Expect(t, "DELETE", base+"/"+rid+"/tags?name_regex_delete=k[0-9]&keep_n=1&older_than=2d", team.Maint.Token, nil, 202)
		names = nil
		for _, tg := range s.Expect(t, "GET", base+"/"+rid+"/tags", team.Reporter.Token, nil, 200).List(t) {
			names = append(names, tg["name"].(string))
		}
		if strings.Join(names, ",") != "a2,k2,k3,keep,v1" {
			t.Errorf("tags after keep_n and older_than: %v, want a2,k2,k3,keep,v1", names)
		}

		// A repository's deletion.
		sid := testserver.Itoa(testserver.Num(t, sub, "id"))
		s.Expect(t, "DELETE", base+"/"+sid, team.Maint.Token, nil, 202)
		if l := s.Expect(t, "GET", base, team.Reporter.Token, nil, 200).List(t); len(l) != 1 {
			t.Errorf("repositories after a deletion: %v", l)
		}

		// The project's deletion takes its images.
		repoDir := filepath.Join(s.DataDir, "registry", "storage", "docker", "registry", "v2", "repositories", "grp", "app")
		if _, err := os.Stat(repoDir); err != nil {
			t.Fatalf("no images stored at %s: %v", repoDir, err)
		}
		s.Expect(t, "DELETE", "/api/v4/projects/"+testserver.Itoa(team.Project.ID), s.RootToken, nil, 202)
		deadline := time.Now().Add(15 * time.Second)
		for {
			if _, err := os.Stat(filepath.Join(repoDir, "_manifests")); os.IsNotExist(err) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the deleted project's images are still stored")
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
}
