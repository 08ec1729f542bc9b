package e2e

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	gitlab "gitlab.com/gitlab-org/api/client-go/v2"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// TestRegistryAPIClient: GitLab's Go client (ContainerRegistry service)
// drives the container registry API over images pushed by a real
// registry client: with a personal access token, and with a job token,
// which reaches its own project (200) and not another (403, GitLab's
// words).
func TestRegistryAPIClient(t *testing.T) {
	testserver.ForEachDialect(t, func(t *testing.T, dialect string) {
		s := start(t, testserver.Options{Dialect: dialect})
		team := s.NewTeamCI(t, "build:\n  script: [make]\n")
		host := strings.TrimPrefix(s.URL, "http://")
		devAuth := remote.WithAuth(&authn.Basic{Username: "dev", Password: team.Dev.Token})
		var digests = map[string]string{}
		for _, tag := range []string{"v1", "v2", "old-1", "old-2"} {
			img, err := random.Image(300, 1)
			if err != nil {
				t.Fatal(err)
			}
			if err := remote.Write(mustRef(t, host+"/grp/app:"+tag), img, devAuth); err != nil {
				t.Fatalf("push %s: %v", tag, err)
			}
			d, _ := img.Digest()
			digests[tag] = d.String()
		}
		pid := team.Project.ID
		reg := newClient(t, s, team.Maint.Token).ContainerRegistry
		repos := must[[]*gitlab.RegistryRepository](t, "list")(reg.ListProjectRegistryRepositories(pid,
			&gitlab.ListProjectRegistryRepositoriesOptions{Tags: gitlab.Ptr(true), TagsCount: gitlab.Ptr(true)}))
		if len(repos) != 1 || repos[0].Path != "grp/app" || repos[0].Location != host+"/grp/app" || repos[0].TagsCount != 4 ||
			len(repos[0].Tags) != 4 || repos[0].ProjectID != pid || repos[0].CreatedAt == nil {
			t.Fatalf("repositories %v", repos)
		}
		rid := repos[0].ID
		one := must[*gitlab.RegistryRepository](t, "get")(reg.GetSingleRegistryRepository(rid,
			&gitlab.GetSingleRegistryRepositoryOptions{TagsCount: gitlab.Ptr(true)}))
		if one.ID != rid || one.TagsCount != 4 {
			t.Errorf("repository %v", one)
		}
		tags := must[[]*gitlab.RegistryRepositoryTag](t, "tags")(reg.ListRegistryRepositoryTags(pid, rid, nil))
		if len(tags) != 4 || tags[0].Name != "old-1" || tags[0].Path != "grp/app:old-1" {
			t.Errorf("tags %v", tags)
		}
		tag := must[*gitlab.RegistryRepositoryTag](t, "tag")(reg.GetRegistryRepositoryTagDetail(pid, rid, "v1"))
		if tag.Digest != digests["v1"] || tag.TotalSize <= 300 || len(tag.ShortRevision) != 9 || tag.Location != host+"/grp/app:v1" {
			t.Errorf("tag detail %v", tag)
		}
		if _, err := reg.DeleteRegistryRepositoryTag(pid, rid, "v2"); err != nil {
			t.Fatalf("delete tag: %v", err)
		}
		if _, err := reg.DeleteRegistryRepositoryTags(pid, rid, &gitlab.DeleteRegistryRepositoryTagsOptions{
			NameRegexpDelete: gitlab.Ptr("old-.*")}); err != nil {
			t.Fatalf("bulk delete: %v", err)
		}
		tags = must[[]*gitlab.RegistryRepositoryTag](t, "tags")(reg.ListRegistryRepositoryTags(pid, rid, nil))
		if len(tags) != 1 || tags[0].Name != "v1" {
			t.Errorf("tags after deletions %v", tags)
		}
		// A Developer may not delete.
		_, err := newClient(t, s, team.Dev.Token).ContainerRegistry.DeleteRegistryRepository(pid, rid)
		wantStatus(t, err, http.StatusForbidden)

		// Job tokens.
		job := team.Take(t, "build")
		s.Remember(job.Token)
		jc, err := gitlab.NewJobClient(job.Token, gitlab.WithBaseURL(s.URL+api), gitlab.WithoutRetries())
		if err != nil {
			t.Fatal(err)
		}
		if got := must[[]*gitlab.RegistryRepository](t, "job list")(jc.ContainerRegistry.ListProjectRegistryRepositories(pid, nil)); len(got) != 1 {
			t.Errorf("job token, own project: %v", got)
		}
		other := s.CreateProject(t, 0, "other", "public")
		_, _, err = jc.ContainerRegistry.ListProjectRegistryRepositories(other.ID, nil)
		var er *gitlab.ErrorResponse
		if !errors.As(err, &er) || er.StatusCode != http.StatusForbidden ||
			!strings.Contains(er.Message, "This project's CI/CD job token cannot be used to authenticate with the container registry of a different project.") {
			t.Errorf("job token, another project: %v", err)
		}
		job.FinishOK(t, "success")

		if _, err := reg.DeleteRegistryRepository(pid, rid); err != nil {
			t.Fatalf("delete repository: %v", err)
		}
		if got := must[[]*gitlab.RegistryRepository](t, "list")(reg.ListProjectRegistryRepositories(pid, nil)); len(got) != 0 {
			t.Errorf("repositories after the deletion: %v", got)
		}
	})
}
