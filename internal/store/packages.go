package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/ciwarden/ciwarden/internal/model"
)

const packageCols = "id, project_id, package_type, name, version, status, creator_id, created_at, updated_at"

const packageFileCols = "id, package_id, file_name, size, file_sha256, blob_key, pipeline_id, created_at"

// hasFiles keeps packages without files out of every read: such a row is
// what an upload that never completed leaves behind (migration 00008).
const hasFiles = "EXISTS (SELECT 1 FROM package_files f WHERE f.package_id = packages.id)"

// displayable are the statuses GitLab lists and finds by ID; hidden
// packages are only downloadable by name.
const displayable = "status IN ('default', 'error')"

func scanPackage(row interface{ Scan(...any) error }) (*model.Package, error) {
	var p model.Package
	var created, updated int64
	if err := row.Scan(&p.ID, &p.ProjectID, &p.Type, &p.Name, &p.Version, &p.Status, &p.CreatorID, &created, &updated); err != nil {
		return nil, err
	}
	p.CreatedAt, p.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &p, nil
}

func scanPackageFile(row interface{ Scan(...any) error }) (*model.PackageFile, error) {
	var f model.PackageFile
	var pipeline sql.NullInt64
	var created int64
	if err := row.Scan(&f.ID, &f.PackageID, &f.FileName, &f.Size, &f.SHA256, &f.BlobKey, &pipeline, &created); err != nil {
		return nil, err
	}
	if pipeline.Valid {
		f.PipelineID = &pipeline.Int64
	}
	f.CreatedAt = fromMicros(created)
	return &f, nil
}

// EnsurePackage finds the package of p's project, type, name and version,
// creating it (with p's status, creator and creation time) when missing,
// and fills p with the stored row. Concurrent callers get the same row.
func (q *Queries) EnsurePackage(ctx context.Context, p *model.Package) error {
	if p.Status == "" {
		p.Status = model.PackageDefault
	}
	if p.CreatedAt.IsZero() {
		p.CreatedAt = time.Now().UTC()
	}
	if _, err := q.exec(ctx, `INSERT INTO packages (project_id, package_type, name, version, status, creator_id, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (project_id, package_type, name, version) DO NOTHING`,
		p.ProjectID, p.Type, p.Name, p.Version, p.Status, p.CreatorID, micros(p.CreatedAt), micros(p.CreatedAt)); err != nil {
		return q.d.mapErr(err)
	}
	got, err := scanPackage(q.queryRow(ctx, "SELECT "+packageCols+" FROM packages WHERE project_id = ? AND package_type = ? AND name = ? AND version = ?",
		p.ProjectID, p.Type, p.Name, p.Version))
	if err != nil {
		return notFound(err, "package")
	}
	*p = *got
	return nil
}

// SetPackageStatus changes a package's status.
func (q *Queries) SetPackageStatus(ctx context.Context, id int64, status string, now time.Time) error {
	_, err := q.exec(ctx, "UPDATE packages SET status = ?, updated_at = ? WHERE id = ?", status, micros(now), id)
	return err
}

// CreatePackageFile records a complete blob as a file of its package.
func (q *Queries) CreatePackageFile(ctx context.Context, f *model.PackageFile) error {
	if f.CreatedAt.IsZero() {
		f.CreatedAt = time.Now().UTC()
	}
	id, err := q.insert(ctx, `INSERT INTO package_files (package_id, file_name, size, file_sha256, blob_key, pipeline_id, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, f.PackageID, f.FileName, f.Size, f.SHA256, f.BlobKey, f.PipelineID, micros(f.CreatedAt))
	if err != nil {
		return err
	}
	f.ID = id
	_, err = q.exec(ctx, "UPDATE packages SET updated_at = ? WHERE id = ?", micros(f.CreatedAt), f.PackageID)
	return err
}

// DeletePackageIfEmpty removes a package that has no files, as a failed
// first upload leaves it; a package another upload has meanwhile given a
// file stays.
func (q *Queries) DeletePackageIfEmpty(ctx context.Context, id int64) error {
	_, err := q.exec(ctx, "DELETE FROM packages WHERE id = ? AND NOT EXISTS (SELECT 1 FROM package_files WHERE package_id = ?)", id, id)
	return err
}

// Package loads a displayable package of a project by ID.
func (q *Queries) Package(ctx context.Context, projectID, id int64) (*model.Package, error) {
	p, err := scanPackage(q.queryRow(ctx, "SELECT "+packageCols+" FROM packages WHERE id = ? AND project_id = ? AND "+displayable+" AND "+hasFiles,
		id, projectID))
	return p, notFound(err, "package")
}

// PackageByName loads a package by type, name and version, whatever its
// status (hidden packages are installable).
func (q *Queries) PackageByName(ctx context.Context, projectID int64, typ, name, version string) (*model.Package, error) {
	p, err := scanPackage(q.queryRow(ctx, "SELECT "+packageCols+" FROM packages WHERE project_id = ? AND package_type = ? AND name = ? AND version = ? AND "+hasFiles,
		projectID, typ, name, version))
	return p, notFound(err, "package")
}

// NewestPackageFile is the latest upload of fileName in a package.
func (q *Queries) NewestPackageFile(ctx context.Context, packageID int64, fileName string) (*model.PackageFile, error) {
	f, err := scanPackageFile(q.queryRow(ctx, "SELECT "+packageFileCols+" FROM package_files WHERE package_id = ? AND file_name = ? ORDER BY id DESC LIMIT 1",
		packageID, fileName))
	return f, notFound(err, "package file")
}

// PackageFile loads one file of a package.
func (q *Queries) PackageFile(ctx context.Context, packageID, id int64) (*model.PackageFile, error) {
	f, err := scanPackageFile(q.queryRow(ctx, "SELECT "+packageFileCols+" FROM package_files WHERE id = ? AND package_id = ?", id, packageID))
	return f, notFound(err, "package file")
}

// PackageFilter narrows ListPackages. Status empty means displayable
// packages; Name matches anywhere in the name, case-insensitively.
type PackageFilter struct {
	ProjectID int64
	Type      string
	Name      string
	Version   string
	Status    string
	// OrderBy is created_at (default), name, version or type; Desc sorts
	// descending.
	OrderBy string
	Desc    bool
}

var packageOrder = map[string]string{"": "created_at", "created_at": "created_at", "name": "name", "version": "version", "type": "package_type"}

// ListPackages returns one page of a project's packages that have files.
func (q *Queries) ListPackages(ctx context.Context, f PackageFilter, page Page) ([]*model.Package, int, error) {
	where := []string{"project_id = ?", hasFiles}
	args := []any{f.ProjectID}
	if f.Type != "" {
		where = append(where, "package_type = ?")
		args = append(args, f.Type)
	}
	if f.Name != "" {
		where = append(where, `LOWER(name) LIKE ? ESCAPE '\'`)
		args = append(args, "%"+escapeLike(strings.ToLower(f.Name))+"%")
	}
	if f.Version != "" {
		where = append(where, "version = ?")
		args = append(args, f.Version)
	}
	if f.Status != "" {
		where = append(where, "status = ?")
		args = append(args, f.Status)
	} else {
		where = append(where, displayable)
	}
	col, ok := packageOrder[f.OrderBy]
	if !ok {
		return nil, 0, fmt.Errorf("order_by %q: %w", f.OrderBy, model.ErrInvalid)
	}
	dir := " ASC"
	if f.Desc {
		dir = " DESC"
	}
	order := " ORDER BY " + col + dir + ", id" + dir
	return listPage(ctx, q, "packages", packageCols, " WHERE "+strings.Join(where, " AND "), order, args, page, scanPackage)
}

// escapeLike escapes LIKE's wildcards (and the escape character itself).
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

var packageFileOrder = map[string]string{"": "id", "id": "id", "created_at": "created_at", "file_name": "file_name"}

// ListPackageFiles returns one page of a package's files, by id unless
// orderBy is created_at or file_name.
func (q *Queries) ListPackageFiles(ctx context.Context, packageID int64, orderBy string, desc bool, page Page) ([]*model.PackageFile, int, error) {
	col, ok := packageFileOrder[orderBy]
	if !ok {
		return nil, 0, fmt.Errorf("order_by %q: %w", orderBy, model.ErrInvalid)
	}
	dir := " ASC"
	if desc {
		dir = " DESC"
	}
	return listPage(ctx, q, "package_files", packageFileCols, " WHERE package_id = ?", " ORDER BY "+col+dir+", id"+dir,
		[]any{packageID}, page, scanPackageFile)
}

// PackagePipelineIDs returns, for each of the packages, the distinct
// pipelines its files were published from, newest first.
func (q *Queries) PackagePipelineIDs(ctx context.Context, packageIDs []int64) (map[int64][]int64, error) {
	out := map[int64][]int64{}
	if len(packageIDs) == 0 {
		return out, nil
	}
	args := idArgs(packageIDs)
	rows, err := q.query(ctx, "SELECT DISTINCT package_id, pipeline_id FROM package_files WHERE pipeline_id IS NOT NULL AND package_id IN ("+
		placeholders(len(args))+") ORDER BY package_id, pipeline_id DESC", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var pkg, pipeline int64
		if err := rows.Scan(&pkg, &pipeline); err != nil {
			return nil, err
		}
		out[pkg] = append(out[pkg], pipeline)
	}
	return out, rows.Err()
}

// PipelinesByID loads the pipelines with these IDs that still exist.
func (q *Queries) PipelinesByID(ctx context.Context, ids []int64) (map[int64]*model.Pipeline, error) {
	out := map[int64]*model.Pipeline{}
	if len(ids) == 0 {
		return out, nil
	}
	args := idArgs(ids)
	rows, err := q.query(ctx, "SELECT "+pipelineCols+" FROM pipelines WHERE id IN ("+placeholders(len(args))+")", args...)
	if err != nil {
		return nil, err
	}
	ps, err := collect(rows, q.scanPipeline)
	for _, p := range ps {
		out[p.ID] = p
	}
	return out, err
}

// DeletePackage removes a displayable package of a project and its files
// in one transaction and returns the blob keys the files pointed at, for
// the caller to delete afterwards: a failed blob delete then leaves an
// orphan blob, never a row pointing at nothing.
func (s *Store) DeletePackage(ctx context.Context, projectID, id int64) (keys []string, err error) {
	err = s.Tx(ctx, func(q *Queries) error {
		if _, err := q.Package(ctx, projectID, id); err != nil {
			return err
		}
		if keys, err = q.blobKeys(ctx, "DELETE FROM package_files WHERE package_id = ? RETURNING blob_key", id); err != nil {
			return err
		}
		_, err := q.exec(ctx, "DELETE FROM packages WHERE id = ?", id)
		return err
	})
	return keys, err
}

// DeletePackageFile removes one file of a displayable package of a
// project and returns its blob key (see DeletePackage).
func (s *Store) DeletePackageFile(ctx context.Context, projectID, packageID, id int64) (key string, err error) {
	err = s.Tx(ctx, func(q *Queries) error {
		if _, err := q.Package(ctx, projectID, packageID); err != nil {
			return err
		}
		keys, err := q.blobKeys(ctx, "DELETE FROM package_files WHERE id = ? AND package_id = ? RETURNING blob_key", id, packageID)
		if err != nil {
			return err
		}
		if len(keys) == 0 {
			return fmt.Errorf("package file: %w", model.ErrNotFound)
		}
		key = keys[0]
		return nil
	})
	return key, err
}

// blobKeys collects the one string column of a query (blob keys, image
// paths).
func (q *Queries) blobKeys(ctx context.Context, query string, args ...any) ([]string, error) {
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
