package store

import (
	"context"
	"database/sql"
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

// ContainerPathsUnder is every repository path at or below path (a
// project's or a group's, lower case), at most 1000: a rename asks
// whether any of them holds images.
func (q *Queries) ContainerPathsUnder(ctx context.Context, path string) ([]string, error) {
	return q.blobKeys(ctx, "SELECT path FROM container_repositories WHERE path = ? OR substr(path, 1, ?) = ? ORDER BY id LIMIT 1000",
		path, len(path)+1, path+"/")
}

// DeleteContainerRepository removes a repository's row.
func (q *Queries) DeleteContainerRepository(ctx context.Context, id int64) error {
	res, err := q.exec(ctx, "DELETE FROM container_repositories WHERE id = ?", id)
	return affected(res, err, "container repository")
}

const containerPolicyCols = "project_id, enabled, cadence, keep_n, older_than, name_regex, name_regex_keep, next_run_at, created_at, updated_at"

func scanContainerPolicy(row interface{ Scan(...any) error }) (*model.ContainerPolicy, error) {
	var p model.ContainerPolicy
	var keepN sql.NullInt64
	var olderThan, nameRegex, keep sql.NullString
	var next, created, updated int64
	if err := row.Scan(&p.ProjectID, &p.Enabled, &p.Cadence, &keepN, &olderThan, &nameRegex, &keep, &next, &created, &updated); err != nil {
		return nil, err
	}
	if keepN.Valid {
		n := int(keepN.Int64)
		p.KeepN = &n
	}
	p.OlderThan, p.NameRegex, p.NameRegexKeep = nullString(olderThan), nullString(nameRegex), nullString(keep)
	if next != 0 {
		p.NextRunAt = fromMicros(next)
	}
	p.CreatedAt, p.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &p, nil
}

func nullString(s sql.NullString) *string {
	if !s.Valid {
		return nil
	}
	return &s.String
}

// ContainerPolicy is a project's cleanup policy; model.ErrNotFound when
// the project never had one set (its defaults apply).
func (q *Queries) ContainerPolicy(ctx context.Context, projectID int64) (*model.ContainerPolicy, error) {
	p, err := scanContainerPolicy(q.queryRow(ctx, "SELECT "+containerPolicyCols+" FROM container_expiration_policies WHERE project_id = ?", projectID))
	return p, notFound(err, "container expiration policy")
}

// SaveContainerPolicy writes a project's cleanup policy, made or changed.
func (q *Queries) SaveContainerPolicy(ctx context.Context, p *model.ContainerPolicy) error {
	next := int64(0)
	if !p.NextRunAt.IsZero() {
		next = micros(p.NextRunAt)
	}
	_, err := q.exec(ctx, "INSERT INTO container_expiration_policies ("+containerPolicyCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (project_id) DO UPDATE SET enabled = excluded.enabled, cadence = excluded.cadence, keep_n = excluded.keep_n,
		older_than = excluded.older_than, name_regex = excluded.name_regex, name_regex_keep = excluded.name_regex_keep,
		next_run_at = excluded.next_run_at, updated_at = excluded.updated_at`,
		p.ProjectID, p.Enabled, p.Cadence, p.KeepN, p.OlderThan, p.NameRegex, p.NameRegexKeep, next, micros(p.CreatedAt), micros(p.UpdatedAt))
	return q.d.mapErr(err)
}

// DueContainerPolicies lists up to limit enabled policies due at now, the
// longest overdue first.
func (q *Queries) DueContainerPolicies(ctx context.Context, now time.Time, limit int) ([]*model.ContainerPolicy, error) {
	rows, err := q.query(ctx, "SELECT "+containerPolicyCols+` FROM container_expiration_policies
		WHERE enabled = ? AND next_run_at > 0 AND next_run_at <= ? ORDER BY next_run_at, project_id LIMIT ?`, true, micros(now), limit)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanContainerPolicy)
}

// ClaimContainerPolicy moves an enabled policy's next_run_at from due
// (the value read) to next, and reports whether this call did: of several
// replicas that read the same due time, exactly one claims it and runs.
func (q *Queries) ClaimContainerPolicy(ctx context.Context, projectID int64, due, next time.Time) (bool, error) {
	res, err := q.exec(ctx, "UPDATE container_expiration_policies SET next_run_at = ? WHERE project_id = ? AND next_run_at = ? AND enabled = ?",
		micros(next), projectID, micros(due), true)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}
