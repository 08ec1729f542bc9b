package api

import (
	"net/http"

	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/gate"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/registry"
	"github.com/ciwarden/ciwarden/internal/store"
)

// The container registry API (GitLab's lib/api/project_container_
// repositories.rb and container_repositories.rb): repositories a
// project's pushes made, their tags, deletions. Job tokens reach their own
// project's only (authz.ReadContainerRepository).

// registryAPI: personal access tokens, and job tokens in the JOB-TOKEN
// header, the job_token parameter or as Bearer.
var registryAPI = jobAPI

// containerRepositoryEntity is GitLab's ContainerRegistry::Repository.
type containerRepositoryEntity struct {
	ID                     int64              `json:"id"`
	Name                   string             `json:"name"`
	Path                   string             `json:"path"`
	ProjectID              int64              `json:"project_id"`
	Location               string             `json:"location"`
	CreatedAt              string             `json:"created_at"`
	CleanupPolicyStartedAt *string            `json:"cleanup_policy_started_at"`
	Status                 *string            `json:"status"`
	TagsCount              *int               `json:"tags_count,omitempty"`
	Tags                   []containerTagItem `json:"tags,omitempty"`
}

// containerTagItem is GitLab's ContainerRegistry::Tag.
type containerTagItem struct {
	Name     string `json:"name"`
	Path     string `json:"path"`
	Location string `json:"location"`
}

// containerTagEntity is GitLab's ContainerRegistry::TagDetails.
type containerTagEntity struct {
	containerTagItem
	Revision      string  `json:"revision"`
	ShortRevision string  `json:"short_revision"`
	Digest        string  `json:"digest"`
	CreatedAt     *string `json:"created_at"`
	TotalSize     int64   `json:"total_size"`
}

func (a *API) tagItem(r *model.ContainerRepository, name string) containerTagItem {
	return containerTagItem{Name: name, Path: r.Path + ":" + name, Location: a.Registry.Location(r.Path + ":" + name)}
}

// repositoryJSON renders r, with its tags and their count when asked
// (the tags and tags_count parameters).
func (a *API) repositoryJSON(c *Ctx, r *model.ContainerRepository) (*containerRepositoryEntity, error) {
	e := &containerRepositoryEntity{ID: r.ID, Name: r.Name, Path: r.Path, ProjectID: r.ProjectID,
		Location: a.Registry.Location(r.Path), CreatedAt: timeJSON(r.CreatedAt)}
	withTags, _ := c.Params.Bool("tags")
	withCount, _ := c.Params.Bool("tags_count")
	if err := c.Params.Err(); err != nil {
		return nil, err
	}
	if !withTags && !withCount {
		return e, nil
	}
	names, err := a.Registry.Tags(c.Context(), r)
	if err != nil {
		return nil, err
	}
	if withCount {
		n := len(names)
		e.TagsCount = &n
	}
	if withTags {
		e.Tags = make([]containerTagItem, 0, len(names))
		for _, n := range names {
			e.Tags = append(e.Tags, a.tagItem(r, n))
		}
	}
	return e, nil
}

func (c *Ctx) pathRepository() (*model.ContainerRepository, error) {
	id, err := c.PathInt("repository_id")
	if err != nil {
		return nil, err
	}
	return c.API.Registry.Repository(c.Context(), c.Project.ID, id)
}

func (a *API) listContainerRepositories(c *Ctx) error {
	var failed error
	err := gate.List(c.Ctx, func(pg store.Page) ([]*model.ContainerRepository, int, error) {
		return a.Registry.List(c.Context(), c.Project.ID, pg)
	}, func(r *model.ContainerRepository) *containerRepositoryEntity {
		e, err := a.repositoryJSON(c, r)
		if err != nil && failed == nil {
			failed = err
		}
		return e
	})
	if failed != nil {
		return failed
	}
	return err
}

// getContainerRepository is GET /registry/repositories/:id: the
// repository's project is decided once the repository is loaded, and an
// unknown repository looks like one the caller may not see.
func (a *API) getContainerRepository(c *Ctx) error {
	id, err := c.PathInt("id")
	if err != nil {
		return err
	}
	r, err := a.Registry.Repository(c.Context(), 0, id)
	if err != nil {
		return err
	}
	p, err := c.FindProject(itoa(r.ProjectID))
	if err != nil {
		return model.Refuse(model.ErrNotFound, "Repository")
	}
	if err := c.AuthorizeProject(p, authz.ReadContainerRepository); err != nil {
		return err
	}
	e, err := a.repositoryJSON(c, r)
	if err != nil {
		return err
	}
	writeJSON(c.W, http.StatusOK, e)
	return nil
}

func (a *API) deleteContainerRepository(c *Ctx) error {
	r, err := c.pathRepository()
	if err != nil {
		return err
	}
	if err := a.Registry.DeleteRepository(c.Context(), r); err != nil {
		return err
	}
	c.W.WriteHeader(http.StatusAccepted)
	return nil
}

func (a *API) listContainerTags(c *Ctx) error {
	r, err := c.pathRepository()
	if err != nil {
		return err
	}
	names, err := a.Registry.Tags(c.Context(), r)
	if err != nil {
		return err
	}
	return gate.ListSlice(c.Ctx, names, func(n string) containerTagItem { return a.tagItem(r, n) })
}

func (a *API) getContainerTag(c *Ctx) error {
	r, err := c.pathRepository()
	if err != nil {
		return err
	}
	t, err := a.Registry.Tag(c.Context(), r, c.R.PathValue("tag_name"))
	if err != nil {
		return err
	}
	e := containerTagEntity{containerTagItem: a.tagItem(r, t.Name), Revision: t.Revision, Digest: t.Digest,
		TotalSize: t.TotalSize, CreatedAt: timePtrJSON(t.CreatedAt)}
	e.ShortRevision = t.Revision[:min(9, len(t.Revision))]
	writeJSON(c.W, http.StatusOK, e)
	return nil
}

func (a *API) deleteContainerTag(c *Ctx) error {
	r, err := c.pathRepository()
	if err != nil {
		return err
	}
	if err := a.Registry.DeleteTag(c.Context(), r, c.R.PathValue("tag_name")); err != nil {
		return err
	}
	c.W.WriteHeader(http.StatusOK)
	return nil
}

// deleteContainerTags is the bulk deletion: name_regex_delete (or the
// older name_regex), name_regex_keep, keep_n, older_than. GitLab queues
// it and answers 202; here it is done before the answer.
func (a *API) deleteContainerTags(c *Ctx) error {
	r, err := c.pathRepository()
	if err != nil {
		return err
	}
	var in registry.BulkDelete
	in.NameRegexDelete, _ = c.Params.String("name_regex_delete")
	if in.NameRegexDelete == "" {
		in.NameRegexDelete, _ = c.Params.String("name_regex")
	}
	in.NameRegexKeep, _ = c.Params.String("name_regex_keep")
	if n, ok := c.Params.Int("keep_n"); ok {
		in.KeepN = int(min(n, 1<<20))
	}
	in.OlderThan, _ = c.Params.String("older_than")
	if err := c.Params.Err(); err != nil {
		return err
	}
	if _, err := a.Registry.DeleteTags(c.Context(), r, in); err != nil {
		return err
	}
	c.W.WriteHeader(http.StatusAccepted)
	return nil
}
