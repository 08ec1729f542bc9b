package store

import (
	"context"
	"time"

	"github.com/ciwarden/ciwarden/internal/model"
)

const releaseCols = "id, project_id, tag_name, name, description, sha, author_id, released_at, created_at, updated_at"

func scanRelease(row interface{ Scan(...any) error }) (*model.Release, error) {
	var r model.Release
	var released, created, updated int64
	if err := row.Scan(&r.ID, &r.ProjectID, &r.TagName, &r.Name, &r.Description, &r.SHA, &r.AuthorID, &released, &created, &updated); err != nil {
		return nil, err
	}
	r.ReleasedAt, r.CreatedAt, r.UpdatedAt = fromMicros(released), fromMicros(created), fromMicros(updated)
	return &r, nil
}

const releaseLinkCols = "id, release_id, name, url, filepath, link_type, created_at, updated_at"

func scanReleaseLink(row interface{ Scan(...any) error }) (*model.ReleaseLink, error) {
	var l model.ReleaseLink
	var created, updated int64
	if err := row.Scan(&l.ID, &l.ReleaseID, &l.Name, &l.URL, &l.Filepath, &l.LinkType, &created, &updated); err != nil {
		return nil, err
	}
	l.CreatedAt, l.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &l, nil
}

// CreateRelease stores a release; a second release of the same tag is
// model.ErrConflict (the unique index).
func (q *Queries) CreateRelease(ctx context.Context, r *model.Release) error {
	id, err := q.insert(ctx, `INSERT INTO releases (project_id, tag_name, name, description, sha, author_id, released_at, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, r.ProjectID, r.TagName, r.Name, r.Description, r.SHA, r.AuthorID,
		micros(r.ReleasedAt), micros(r.CreatedAt), micros(r.UpdatedAt))
	r.ID = id
	return err
}

// Release loads the release of a project's tag, without its links.
func (q *Queries) Release(ctx context.Context, projectID int64, tag string) (*model.Release, error) {
	r, err := scanRelease(q.queryRow(ctx, "SELECT "+releaseCols+" FROM releases WHERE project_id = ? AND tag_name = ?", projectID, tag))
	return r, notFound(err, "release")
}

// LatestRelease is the project's release with the latest released_at that
// is not upcoming (GitLab's permalink/latest).
func (q *Queries) LatestRelease(ctx context.Context, projectID int64, now time.Time) (*model.Release, error) {
	r, err := scanRelease(q.queryRow(ctx, "SELECT "+releaseCols+" FROM releases WHERE project_id = ? AND released_at <= ?"+
		" ORDER BY released_at DESC, id DESC LIMIT 1", projectID, micros(now)))
	return r, notFound(err, "release")
}

// ReleaseOrder is how a release listing sorts: by released_at or
// created_at, descending or not.
type ReleaseOrder struct {
	ByCreated bool
	Asc       bool
}

// ListReleases returns one page of a project's releases.
func (q *Queries) ListReleases(ctx context.Context, projectID int64, o ReleaseOrder, page Page) ([]*model.Release, int, error) {
	col, dir := "released_at", " DESC"
	if o.ByCreated {
		col = "created_at"
	}
	if o.Asc {
		dir = " ASC"
	}
	return listPage(ctx, q, "releases", releaseCols, " WHERE project_id = ?", " ORDER BY "+col+dir+", id"+dir,
		[]any{projectID}, page, scanRelease)
}

// UpdateRelease writes a release's name, description and released_at.
func (q *Queries) UpdateRelease(ctx context.Context, r *model.Release) error {
	res, err := q.exec(ctx, "UPDATE releases SET name = ?, description = ?, released_at = ?, updated_at = ? WHERE id = ?",
		r.Name, r.Description, micros(r.ReleasedAt), micros(r.UpdatedAt), r.ID)
	return affected(res, err, "release")
}

// DeleteRelease removes a release; its links go with it (ON DELETE
// CASCADE).
func (q *Queries) DeleteRelease(ctx context.Context, id int64) error {
	res, err := q.exec(ctx, "DELETE FROM releases WHERE id = ?", id)
	return affected(res, err, "release")
}

// CreateReleaseLink stores an asset link; a name or URL the release has
// already is model.ErrConflict.
func (q *Queries) CreateReleaseLink(ctx context.Context, l *model.ReleaseLink) error {
	id, err := q.insert(ctx, `INSERT INTO release_links (release_id, name, url, filepath, link_type, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, l.ReleaseID, l.Name, l.URL, l.Filepath, l.LinkType, micros(l.CreatedAt), micros(l.UpdatedAt))
	l.ID = id
	return err
}

// ReleaseLinks lists the asset links of releases, by release, oldest first.
func (q *Queries) ReleaseLinks(ctx context.Context, releaseIDs []int64) (map[int64][]*model.ReleaseLink, error) {
	out := map[int64][]*model.ReleaseLink{}
	if len(releaseIDs) == 0 {
		return out, nil
	}
	args := idArgs(releaseIDs)
	rows, err := q.query(ctx, "SELECT "+releaseLinkCols+" FROM release_links WHERE release_id IN ("+placeholders(len(args))+") ORDER BY id", args...)
	if err != nil {
		return nil, err
	}
	links, err := collect(rows, scanReleaseLink)
	for _, l := range links {
		out[l.ReleaseID] = append(out[l.ReleaseID], l)
	}
	return out, err
}

// UpdateReleaseLink writes a link's name, url, filepath and link_type.
func (q *Queries) UpdateReleaseLink(ctx context.Context, l *model.ReleaseLink) error {
	res, err := q.exec(ctx, "UPDATE release_links SET name = ?, url = ?, filepath = ?, link_type = ?, updated_at = ? WHERE id = ?",
		l.Name, l.URL, l.Filepath, l.LinkType, micros(l.UpdatedAt), l.ID)
	return affected(res, err, "release link")
}

// DeleteReleaseLink removes one link of a release.
func (q *Queries) DeleteReleaseLink(ctx context.Context, releaseID, id int64) error {
	res, err := q.exec(ctx, "DELETE FROM release_links WHERE id = ? AND release_id = ?", id, releaseID)
	return affected(res, err, "release link")
}
