// Package packages is the package registry: publishing generic package
// files into blob storage with their rows, listing and reading packages
// and their files, and deleting them (GitLab's generic packages and
// packages API, gitlab-compat.md §6).
package packages

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/ciwarden/ciwarden/internal/access"
	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/blob"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/store"
)

// Service is the package registry.
type Service struct {
	Store *store.Store
	Blobs blob.Store
	// Access answers whether a reader may delete what is listed.
	Access *access.Authorizer
	Log    *slog.Logger
	Now    func() time.Time
	// MaxFileSize bounds one package file.
	MaxFileSize int64
}

// GitLab's answers: the generic registry's for a missing package or file,
// and the upload's own when the client's body broke off.
var (
	errPackageNotFound = model.Refuse(model.ErrNotFound, "Package")
	errInterrupted     = model.Refuse(model.ErrInvalid, "upload interrupted")
)

// Generic names one file of a generic package.
type Generic struct {
	Name, Version, File string
}

// Publish stores body (size bytes, or -1 when unknown) as a new file of
// the generic package g in p, by who; a status other than "" becomes the
// package's. Order: find or create the package, store the blob, then
// record the file. A file row is only ever written for a complete blob,
// and the blob is removed when the row cannot be written. Over
// MaxFileSize is model.ErrTooLarge, before or while the body is read.
func (s *Service) Publish(ctx context.Context, who *auth.Principal, p *model.Project, g Generic, status string, body io.Reader, size int64) (*model.PackageFile, error) {
	if size > s.MaxFileSize {
		return nil, model.ErrTooLarge
	}
	identity := func() *model.Package {
		return &model.Package{ProjectID: p.ID, Type: model.PackageGeneric, Name: g.Name, Version: g.Version,
			Status: model.PackageDefault, CreatorID: who.UserID(), CreatedAt: s.Now()}
	}
	// The package row comes first because the blob key names it. Until
	// its first file is recorded it has no files, and a package without
	// files is absent to every read.
	pkg := identity()
	if err := s.Store.Tx(ctx, func(q *store.Queries) error { return q.EnsurePackage(ctx, pkg) }); err != nil {
		return nil, err
	}
	key := blob.PackageFileKey(p.ID, pkg.ID)
	limited := blob.Limit(body, s.MaxFileSize)
	info, err := s.Blobs.Put(ctx, key, limited, size)
	if err != nil {
		// Best effort: the row is invisible anyway while it has no files.
		_ = s.Store.Tx(context.WithoutCancel(ctx), func(q *store.Queries) error { return q.DeletePackageIfEmpty(ctx, pkg.ID) })
		return nil, uploadErr(ctx, limited, err)
	}
	f := &model.PackageFile{FileName: g.File, Size: info.Size, SHA256: info.SHA256, BlobKey: key, CreatedAt: s.Now()}
	if who.Kind == auth.JobKind {
		f.PipelineID = &who.Job.PipelineID
	}
	err = s.Store.Tx(ctx, func(q *store.Queries) error {
		// Again: a concurrent delete of the package may have removed it
		// while the blob was being written.
		pkg := identity()
		if err := q.EnsurePackage(ctx, pkg); err != nil {
			return err
		}
		if status != "" && status != pkg.Status {
			if err := q.SetPackageStatus(ctx, pkg.ID, status, f.CreatedAt); err != nil {
				return err
			}
		}
		f.PackageID = pkg.ID
		return q.CreatePackageFile(ctx, f)
	})
	if err != nil {
		if derr := s.Blobs.Delete(context.WithoutCancel(ctx), key); derr != nil {
			s.Log.Warn("package upload: removing the blob of an unrecorded file failed", "key", key, "err", derr)
		}
		if ctx.Err() != nil {
			return nil, errInterrupted
		}
		return nil, err
	}
	return f, nil
}

// uploadErr says whose fault a failed Put was: an oversized body
// (model.ErrTooLarge), a body cut short or a client gone (the client's,
// who may not be listening), or the storage's (returned as is, a server
// error).
func uploadErr(ctx context.Context, body *blob.Limited, err error) error {
	switch {
	case body.TooLarge():
		return model.ErrTooLarge
	case body.ReadErr() != nil || ctx.Err() != nil || errors.Is(err, blob.ErrSizeMismatch):
		return errInterrupted
	}
	return err
}

// OpenGeneric opens the newest file named g.File of the generic package
// g, hidden packages included. The caller closes the object.
func (s *Service) OpenGeneric(ctx context.Context, p *model.Project, g Generic) (*model.PackageFile, blob.Object, error) {
	pkg, err := s.Store.PackageByName(ctx, p.ID, model.PackageGeneric, g.Name, g.Version)
	if errors.Is(err, model.ErrNotFound) {
		return nil, nil, errPackageNotFound
	} else if err != nil {
		return nil, nil, err
	}
	f, err := s.Store.NewestPackageFile(ctx, pkg.ID, g.File)
	if errors.Is(err, model.ErrNotFound) {
		return nil, nil, errPackageNotFound
	} else if err != nil {
		return nil, nil, err
	}
	return s.open(ctx, f)
}

// OpenFile opens file fileID of package packageID in p.
func (s *Service) OpenFile(ctx context.Context, p *model.Project, packageID, fileID int64) (*model.PackageFile, blob.Object, error) {
	f, err := s.file(ctx, p, packageID, fileID)
	if err != nil {
		return nil, nil, err
	}
	return s.open(ctx, f)
}

// open opens f's blob. One gone under its row (swept or deleted as the
// row was read) answers as a missing package.
func (s *Service) open(ctx context.Context, f *model.PackageFile) (*model.PackageFile, blob.Object, error) {
	obj, err := s.Blobs.Open(ctx, f.BlobKey)
	if errors.Is(err, model.ErrNotFound) {
		return nil, nil, errPackageNotFound
	}
	return f, obj, err
}

// Package is a package with what its entity shows.
type Package struct {
	*model.Package
	// Pipelines published its files.
	Pipelines []*Pipeline
	// Deletable: the reader may delete it (GitLab then shows its delete
	// path).
	Deletable bool
}

// File is a package file with the pipeline that published it, if any.
type File struct {
	*model.PackageFile
	Pipelines []*Pipeline
}

// Pipeline is a publishing pipeline with its user (nil once deleted).
type Pipeline struct {
	*model.Pipeline
	User *model.User
}

// List is one page of p's packages that match f, for who.
func (s *Service) List(ctx context.Context, who *auth.Principal, p *model.Project, f store.PackageFilter, pg store.Page) ([]*Package, int, error) {
	f.ProjectID = p.ID
	pkgs, total, err := s.Store.ListPackages(ctx, f, pg)
	if err != nil {
		return nil, 0, err
	}
	out, err := s.details(ctx, who, p, pkgs)
	return out, total, err
}

// Get is package id of p, for who. Only packages with files exist.
func (s *Service) Get(ctx context.Context, who *auth.Principal, p *model.Project, id int64) (*Package, error) {
	pkg, err := s.pkg(ctx, p, id)
	if err != nil {
		return nil, err
	}
	out, err := s.details(ctx, who, p, []*model.Package{pkg})
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// details loads the pipelines of pkgs and who's right to delete them.
func (s *Service) details(ctx context.Context, who *auth.Principal, p *model.Project, pkgs []*model.Package) ([]*Package, error) {
	ids := make([]int64, len(pkgs))
	for i, pkg := range pkgs {
		ids[i] = pkg.ID
	}
	byPackage, err := s.Store.PackagePipelineIDs(ctx, ids)
	if err != nil {
		return nil, err
	}
	var all []int64
	for _, ps := range byPackage {
		all = append(all, ps...)
	}
	pipelines, err := s.pipelines(ctx, all)
	if err != nil {
		return nil, err
	}
	// A question about what to show, not a use of the caller's token:
	// nothing goes to the authentication log.
	deletable, err := s.Access.Allows(ctx, who, p, authz.DestroyPackage)
	if err != nil {
		return nil, err
	}
	out := make([]*Package, 0, len(pkgs))
	for _, pkg := range pkgs {
		out = append(out, &Package{Package: pkg, Pipelines: pipelines.of(byPackage[pkg.ID]), Deletable: deletable})
	}
	return out, nil
}

// Files is one page of package packageID's files, ordered by orderBy
// (id, created_at or file_name).
func (s *Service) Files(ctx context.Context, p *model.Project, packageID int64, orderBy string, desc bool, pg store.Page) ([]*File, int, error) {
	pkg, err := s.pkg(ctx, p, packageID)
	if err != nil {
		return nil, 0, err
	}
	files, total, err := s.Store.ListPackageFiles(ctx, pkg.ID, orderBy, desc, pg)
	if err != nil {
		return nil, 0, err
	}
	var ids []int64
	for _, f := range files {
		if f.PipelineID != nil {
			ids = append(ids, *f.PipelineID)
		}
	}
	pipelines, err := s.pipelines(ctx, ids)
	if err != nil {
		return nil, 0, err
	}
	out := make([]*File, 0, len(files))
	for _, f := range files {
		e := &File{PackageFile: f}
		if f.PipelineID != nil {
			e.Pipelines = pipelines.of([]int64{*f.PipelineID})
		}
		out = append(out, e)
	}
	return out, total, nil
}

// Delete removes package id of p: the rows in one transaction, then the
// blobs.
func (s *Service) Delete(ctx context.Context, p *model.Project, id int64) error {
	keys, err := s.Store.DeletePackage(ctx, p.ID, id)
	if errors.Is(err, model.ErrNotFound) {
		return model.ErrRecordNotFound
	} else if err != nil {
		return err
	}
	s.deleteBlobs(ctx, keys...)
	return nil
}

// DeleteFile removes file fileID of package packageID: the row, then the
// blob. The package is looked up first, as GitLab does: its absence is
// the finder's 404, the file's absence not_found!'s.
func (s *Service) DeleteFile(ctx context.Context, p *model.Project, packageID, fileID int64) error {
	pkg, err := s.pkg(ctx, p, packageID)
	if err != nil {
		return err
	}
	key, err := s.Store.DeletePackageFile(ctx, p.ID, pkg.ID, fileID)
	if err != nil {
		return err
	}
	s.deleteBlobs(ctx, key)
	return nil
}

// pkg is package id of p, displayable packages with files only.
func (s *Service) pkg(ctx context.Context, p *model.Project, id int64) (*model.Package, error) {
	pkg, err := s.Store.Package(ctx, p.ID, id)
	if errors.Is(err, model.ErrNotFound) {
		return nil, model.ErrRecordNotFound
	}
	return pkg, err
}

// file is file fileID of package packageID in p.
func (s *Service) file(ctx context.Context, p *model.Project, packageID, fileID int64) (*model.PackageFile, error) {
	pkg, err := s.pkg(ctx, p, packageID)
	if err != nil {
		return nil, err
	}
	return s.Store.PackageFile(ctx, pkg.ID, fileID)
}

// deleteBlobs removes the blobs of deleted rows, even if the client has
// gone. A failure leaves an orphan blob, which is logged; no row points
// at it any more.
func (s *Service) deleteBlobs(ctx context.Context, keys ...string) {
	ctx = context.WithoutCancel(ctx)
	for _, k := range keys {
		if err := s.Blobs.Delete(ctx, k); err != nil {
			s.Log.Warn("package delete: blob left behind", "key", k, "err", err)
		}
	}
}

// pipelineSet is the pipelines of one response, each pipeline and user
// read once.
type pipelineSet map[int64]*Pipeline

func (s *Service) pipelines(ctx context.Context, ids []int64) (pipelineSet, error) {
	ps, err := s.Store.PipelinesByID(ctx, ids)
	if err != nil {
		return nil, err
	}
	users := map[int64]*model.User{}
	set := pipelineSet{}
	for id, p := range ps {
		u, seen := users[p.UserID]
		if !seen {
			if u, err = s.Store.User(ctx, p.UserID); errors.Is(err, model.ErrNotFound) {
				u = nil
			} else if err != nil {
				return nil, err
			}
			users[p.UserID] = u
		}
		set[id] = &Pipeline{Pipeline: p, User: u}
	}
	return set, nil
}

// of is the pipelines of ids that still exist, in order.
func (set pipelineSet) of(ids []int64) []*Pipeline {
	out := []*Pipeline{}
	for _, id := range ids {
		if p := set[id]; p != nil {
			out = append(out, p)
		}
	}
	return out
}
