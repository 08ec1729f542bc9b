package store

import (
	"context"
	"time"

	"github.com/ciwarden/ciwarden/internal/model"
)

// RegistryKey is one of the container registry's token signing keys,
// sealed with the instance key.
type RegistryKey struct {
	KID       string
	Sealed    []byte
	CreatedAt time.Time
}

// RegistryKeys is every signing key, newest first (the newest signs).
func (q *Queries) RegistryKeys(ctx context.Context) ([]RegistryKey, error) {
	rows, err := q.query(ctx, "SELECT kid, key_sealed, created_at FROM registry_keys ORDER BY created_at DESC, kid")
	if err != nil {
		return nil, err
	}
	return collect(rows, func(row interface{ Scan(...any) error }) (RegistryKey, error) {
		var k RegistryKey
		var created int64
		err := row.Scan(&k.KID, &k.Sealed, &created)
		k.CreatedAt = fromMicros(created)
		return k, err
	})
}

// AddRegistryKey keeps a new signing key. Replicas starting at once may
// each add one: every key is trusted, the newest signs, so they agree.
func (q *Queries) AddRegistryKey(ctx context.Context, k RegistryKey) error {
	_, err := q.exec(ctx, "INSERT INTO registry_keys (kid, key_sealed, created_at) VALUES (?, ?, ?) ON CONFLICT (kid) DO NOTHING",
		k.KID, k.Sealed, micros(k.CreatedAt))
	return q.d.mapErr(err)
}

const containerRepoCols = "id, project_id, name, path, created_at"

func scanContainerRepo(row interface{ Scan(...any) error }) (*model.ContainerRepository, error) {
	var r model.ContainerRepository
	var created int64
	if err := row.Scan(&r.ID, &r.ProjectID, &r.Name, &r.Path, &created); err != nil {
		return nil, err
	}
	r.CreatedAt = fromMicros(created)
	return &r, nil
}

// EnsureContainerRepository records a repository, once: pushes to the same
// path, from any replica, find the one row.
func (q *Queries) EnsureContainerRepository(ctx context.Context, r *model.ContainerRepository) error {
	_, err := q.exec(ctx, "INSERT INTO container_repositories (project_id, name, path, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (path) DO NOTHING",
		r.ProjectID, r.Name, r.Path, micros(r.CreatedAt))
	return q.d.mapErr(err)
}

// ContainerRepository loads one repository by ID.
func (q *Queries) ContainerRepository(ctx context.Context, id int64) (*model.ContainerRepository, error) {
	r, err := scanContainerRepo(q.queryRow(ctx, "SELECT "+containerRepoCols+" FROM container_repositories WHERE id = ?", id))
	return r, notFound(err, "container repository")
}

// ListContainerRepositories returns one page of a project's repositories.
func (q *Queries) ListContainerRepositories(ctx context.Context, projectID int64, page Page) ([]*model.ContainerRepository, int, error) {
	return listPage(ctx, q, "container_repositories", containerRepoCols, " WHERE project_id = ?", " ORDER BY id ASC", []any{projectID}, page, scanContainerRepo)
}

// ProjectContainerPaths is every repository path of a project (its
// deletion removes their images).
func (q *Queries) ProjectContainerPaths(ctx context.Context, projectID int64) ([]string, error) {
	return q.blobKeys(ctx, "SELECT path FROM container_repositories WHERE project_id = ? ORDER BY id", projectID)
}

// DeleteContainerRepository removes a repository's row.
func (q *Queries) DeleteContainerRepository(ctx context.Context, id int64) error {
	res, err := q.exec(ctx, "DELETE FROM container_repositories WHERE id = ?", id)
	return affected(res, err, "container repository")
}
