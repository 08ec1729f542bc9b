package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/blob"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/store"
)

// How the package registry takes credentials. The generic registry, like
// GitLab's, takes a personal access token or the job token in every
// transport, HTTP Basic included (any user name with a personal access
// token, gitlab-ci-token with a job token); the packages API takes them as
// the rest of the API does. JobPolicy names the fine-grained permission a
// job token needs (gitlab-compat.md §6).
var (
	genericRead   = Accepts{PAT: auth.AllTransports, JobToken: auth.AllTransports}
	genericWrite  = Accepts{PAT: auth.AllTransports, JobToken: auth.AllTransports, RawBody: true}
	packagesRead  = Accepts{PAT: auth.Header | auth.Param | auth.Bearer, JobToken: auth.Header | auth.Param | auth.Bearer}
	packagesAdmin = Accepts{PAT: auth.Header | auth.Param | auth.Bearer, JobToken: auth.Header | auth.Param | auth.Bearer}
)

// maxPackagePart bounds a package name, version or file name.
const maxPackagePart = 255

// GitLab's answers for a missing package: the generic registry's, and
// the packages API's (its finder's RecordNotFound).
var (
	errPackageNotFound = errNotFound("Package")
	errRecordNotFound  = errMessage(http.StatusNotFound, "404 Not found")
)

// packageNameOK is GitLab's generic_package_name_regex (letters, digits,
// dots, hyphens, underscores and plus signs), also used for file names.
// Anything path-like is refused outright: "." and "..", and any "..", so
// that no name can ever be read as a path, whatever uses it later.
func packageNameOK(s string) bool {
	return partOK(s, func(c byte) bool { return c == '.' || c == '_' || c == '-' || c == '+' })
}

// packageVersionOK is GitLab's generic_package_version_regex,
// \A(?!.*\.\.)[\w+.-]+\z: word characters, plus, dot and hyphen, without
// "..".
func packageVersionOK(s string) bool { return packageNameOK(s) }

func partOK(s string, extra func(byte) bool) bool {
	if s == "" || len(s) > maxPackagePart || s == "." || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || extra(c)) {
			return false
		}
	}
	return true
}

// genericTarget is a generic package file named by its path.
type genericTarget struct{ name, version, file string }

// validate checks the three parts; an encoded slash arrives here decoded
// and fails like any other character outside the sets.
func (g genericTarget) validate() error {
	switch {
	case !packageNameOK(g.name):
		return errParam("package_name is invalid")
	case !packageVersionOK(g.version):
		return errParam("package_version is invalid")
	case !packageNameOK(g.file):
		return errParam("file_name is invalid")
	}
	return nil
}

func genericPath(c *Ctx) genericTarget {
	return genericTarget{c.R.PathValue("package_name"), c.R.PathValue("package_version"), c.R.PathValue("file_name")}
}

// oneOf reads an optional enumerated parameter.
func oneOf(c *Ctx, name string, values ...string) string {
	v, ok := c.Params.String(name)
	if ok && !slices.Contains(values, v) {
		c.Params.Fail(name + " does not have a valid value")
	}
	return v
}

// putGenericFile is PUT /projects/:id/packages/generic/:name/:version/:file.
// The body is the file, streamed into blob storage and never held in
// memory. Order: validate, find or create the package, store the blob,
// then record the file; a file row is only ever written for a complete
// blob, and the blob is removed when the row cannot be written.
func (a *API) putGenericFile(c *Ctx) error {
	g := genericPath(c)
	if err := g.validate(); err != nil {
		return err
	}
	status := oneOf(c, "status", model.PackageDefault, model.PackageHidden)
	sel := oneOf(c, "select", "package_file")
	if err := c.Params.Err(); err != nil {
		return err
	}
	if c.R.ContentLength > a.MaxPackageFileSize {
		return a.refuseUpload(c)
	}
	f, err := a.publish(c, g, status)
	if err != nil {
		return err
	}
	if sel == "package_file" {
		writeJSON(c.W, http.StatusCreated, a.uploadedFileJSON(f))
		return nil
	}
	writeJSON(c.W, http.StatusCreated, map[string]string{"message": "201 Created"})
	return nil
}

// refuseUpload answers 413 without reading the body, and closes the
// connection rather than drain what the client is still sending.
func (a *API) refuseUpload(c *Ctx) error {
	c.W.Header().Set("Connection", "close")
	return errTooLarge
}

// publish stores the request body as a new file of the package.
func (a *API) publish(c *Ctx, g genericTarget, status string) (*model.PackageFile, error) {
	ctx := c.Context()
	identity := func() *model.Package {
		return &model.Package{ProjectID: c.Project.ID, Type: model.PackageGeneric, Name: g.name, Version: g.version,
			Status: model.PackageDefault, CreatorID: c.Principal.UserID(), CreatedAt: c.now()}
	}
	// The package row comes first because the blob key names it. Until
	// its first file is recorded it has no files, and a package without
	// files is absent to every read.
	pkg := identity()
	if err := a.Store.Tx(ctx, func(q *store.Queries) error { return q.EnsurePackage(ctx, pkg) }); err != nil {
		return nil, err
	}
	key := blob.PackageFileKey(c.Project.ID, pkg.ID)
	body := &limitedBody{r: c.R.Body, left: a.MaxPackageFileSize}
	info, err := a.Blobs.Put(ctx, key, body, c.R.ContentLength)
	if err != nil {
		// Best effort: the row is invisible anyway while it has no files.
		_ = a.Store.Tx(context.WithoutCancel(ctx), func(q *store.Queries) error { return q.DeletePackageIfEmpty(ctx, pkg.ID) })
		return nil, a.uploadErr(c, body, err)
	}
	f := &model.PackageFile{FileName: g.file, Size: info.Size, SHA256: info.SHA256, BlobKey: key, CreatedAt: c.now()}
	if c.Principal.Kind == auth.JobKind {
		f.PipelineID = &c.Principal.Job.PipelineID
	}
	err = a.Store.Tx(ctx, func(q *store.Queries) error {
		// Again: a concurrent delete of the package may have removed it
		// while the blob was being written.
		p := identity()
		if err := q.EnsurePackage(ctx, p); err != nil {
			return err
		}
		if status != "" && status != p.Status {
			if err := q.SetPackageStatus(ctx, p.ID, status, f.CreatedAt); err != nil {
				return err
			}
		}
		f.PackageID = p.ID
		return q.CreatePackageFile(ctx, f)
	})
	if err != nil {
		if derr := a.Blobs.Delete(context.WithoutCancel(ctx), key); derr != nil {
			a.Log.Warn("package upload: removing the blob of an unrecorded file failed", "key", key, "err", derr)
		}
		if ctx.Err() != nil {
			return nil, errBadRequest("upload interrupted")
		}
		return nil, err
	}
	return f, nil
}

// uploadErr says whose fault a failed Put was: an oversized body (413),
// a body cut short or a client gone (400, nobody may be listening), or
// the storage's (returned as is, logged as a server error).
func (a *API) uploadErr(c *Ctx, body *limitedBody, err error) error {
	switch {
	case body.tooLarge:
		return a.refuseUpload(c)
	case body.readErr != nil || c.Context().Err() != nil || errors.Is(err, blob.ErrSizeMismatch):
		return errBadRequest("upload interrupted")
	}
	return err
}

// getGenericFile is GET /projects/:id/packages/generic/:name/:version/:file:
// the newest file of that name, hidden packages included.
func (a *API) getGenericFile(c *Ctx) error {
	if c.R.PathValue("package_type") != model.PackageGeneric {
		return errNotFound("")
	}
	return a.serveGeneric(c, genericPath(c))
}

func (a *API) serveGeneric(c *Ctx, g genericTarget) error {
	if err := g.validate(); err != nil {
		return err
	}
	pkg, err := a.Store.PackageByName(c.Context(), c.Project.ID, model.PackageGeneric, g.name, g.version)
	if errors.Is(err, model.ErrNotFound) {
		return errPackageNotFound
	}
	if err != nil {
		return err
	}
	f, err := a.Store.NewestPackageFile(c.Context(), pkg.ID, g.file)
	if errors.Is(err, model.ErrNotFound) {
		return errPackageNotFound
	}
	if err != nil {
		return err
	}
	return a.serveFile(c, f)
}

// serveFile streams a package file as an attachment, with ranges.
func (a *API) serveFile(c *Ctx, f *model.PackageFile) error {
	obj, err := a.openBlob(c, f.BlobKey, errPackageNotFound)
	if err != nil {
		return err
	}
	defer obj.Close()
	h := c.W.Header()
	h.Set("Content-Type", "application/octet-stream")
	// File names are letters, digits and ._+- only: nothing to quote.
	h.Set("Content-Disposition", `attachment; filename="`+f.FileName+`"`)
	http.ServeContent(c.W, c.R, "", f.CreatedAt, obj)
	return nil
}

// ---- the packages API ----

type packageEntity struct {
	ID               int64              `json:"id"`
	Name             string             `json:"name"`
	Version          string             `json:"version"`
	PackageType      string             `json:"package_type"`
	Status           string             `json:"status"`
	Links            packageLinks       `json:"_links"`
	CreatedAt        string             `json:"created_at"`
	LastDownloadedAt *string            `json:"last_downloaded_at"`
	Tags             []string           `json:"tags"`
	Pipelines        []*packagePipeline `json:"pipelines"`
}

type packageLinks struct {
	WebPath string `json:"web_path"`
	// DeleteAPIPath is shown to those who may delete, as in GitLab.
	DeleteAPIPath string `json:"delete_api_path,omitempty"`
}

type packagePipeline struct {
	ID        int64          `json:"id"`
	IID       int64          `json:"iid"`
	ProjectID int64          `json:"project_id"`
	SHA       string         `json:"sha"`
	Ref       string         `json:"ref"`
	Status    string         `json:"status"`
	Source    string         `json:"source"`
	CreatedAt string         `json:"created_at"`
	UpdatedAt string         `json:"updated_at"`
	WebURL    string         `json:"web_url"`
	User      map[string]any `json:"user"`
}

type packageFileEntity struct {
	ID        int64  `json:"id"`
	PackageID int64  `json:"package_id"`
	CreatedAt string `json:"created_at"`
	FileName  string `json:"file_name"`
	Size      int64  `json:"size"`
	// GitLab computes only SHA-256 for generic package files.
	FileMD5    *string            `json:"file_md5"`
	FileSHA1   *string            `json:"file_sha1"`
	FileSHA256 string             `json:"file_sha256"`
	Pipelines  []*packagePipeline `json:"pipelines,omitempty"`
}

func packageFileJSON(f *model.PackageFile) *packageFileEntity {
	return &packageFileEntity{ID: f.ID, PackageID: f.PackageID, CreatedAt: timeJSON(f.CreatedAt), FileName: f.FileName,
		Size: f.Size, FileSHA256: f.SHA256}
}

// uploadedFileJSON is the answer to select=package_file: the new file
// record, as GitLab presents it.
func (a *API) uploadedFileJSON(f *model.PackageFile) any {
	return struct {
		*packageFileEntity
		UpdatedAt string `json:"updated_at"`
	}{packageFileJSON(f), timeJSON(f.CreatedAt)}
}

// pipelineLoader renders the pipelines of one response, reading each
// pipeline and user once.
type pipelineLoader struct {
	c         *Ctx
	pipelines map[int64]*model.Pipeline
	users     map[int64]map[string]any
}

func (a *API) loadPipelines(c *Ctx, ids []int64) (*pipelineLoader, error) {
	ps, err := a.Store.PipelinesByID(c.Context(), ids)
	return &pipelineLoader{c: c, pipelines: ps, users: map[int64]map[string]any{}}, err
}

func (l *pipelineLoader) render(ids []int64) []*packagePipeline {
	out := []*packagePipeline{}
	a := l.c.API
	for _, id := range ids {
		p := l.pipelines[id]
		if p == nil {
			continue
		}
		user, seen := l.users[p.UserID]
		if !seen {
			if u, err := a.Store.User(l.c.Context(), p.UserID); err == nil {
				user = a.userJSON(u, false)
			}
			l.users[p.UserID] = user
		}
		out = append(out, &packagePipeline{ID: p.ID, IID: p.IID, ProjectID: p.ProjectID, SHA: p.SHA, Ref: p.Ref, Status: p.Status,
			Source: p.Source, CreatedAt: timeJSON(p.CreatedAt), UpdatedAt: timeJSON(p.UpdatedAt),
			WebURL: a.webURL(l.c.Project.FullPath() + "/-/pipelines/" + itoa(p.ID)), User: user})
	}
	return out
}

func (a *API) packageEntities(c *Ctx, pkgs []*model.Package) ([]*packageEntity, error) {
	ids := make([]int64, len(pkgs))
	for i, p := range pkgs {
		ids[i] = p.ID
	}
	byPackage, err := a.Store.PackagePipelineIDs(c.Context(), ids)
	if err != nil {
		return nil, err
	}
	var all []int64
	for _, ps := range byPackage {
		all = append(all, ps...)
	}
	loader, err := a.loadPipelines(c, all)
	if err != nil {
		return nil, err
	}
	canDelete := c.Principal.Admin() || c.Level >= model.Maintainer
	out := make([]*packageEntity, 0, len(pkgs))
	for _, p := range pkgs {
		e := &packageEntity{ID: p.ID, Name: p.Name, Version: p.Version, PackageType: p.Type, Status: p.Status,
			Links:     packageLinks{WebPath: "/" + c.Project.FullPath() + "/-/packages/" + itoa(p.ID)},
			CreatedAt: timeJSON(p.CreatedAt), Tags: []string{}, Pipelines: loader.render(byPackage[p.ID])}
		if canDelete {
			e.Links.DeleteAPIPath = strings.TrimSuffix(a.ExternalURL, "/") + Prefix + "/projects/" + itoa(c.Project.ID) + "/packages/" + itoa(p.ID)
		}
		out = append(out, e)
	}
	return out, nil
}

// listPackages is GET /projects/:id/packages.
func (a *API) listPackages(c *Ctx) error {
	pg, err := c.page()
	if err != nil {
		return err
	}
	f := store.PackageFilter{ProjectID: c.Project.ID}
	f.Type = oneOf(c, "package_type", model.PackageTypes...)
	f.Name, _ = c.Params.String("package_name")
	f.Version, _ = c.Params.String("package_version")
	f.Status = oneOf(c, "status", model.PackageStatuses...)
	f.OrderBy = oneOf(c, "order_by", "created_at", "name", "version", "type")
	f.Desc = oneOf(c, "sort", "asc", "desc") == "desc"
	if err := c.Params.Err(); err != nil {
		return err
	}
	pkgs, total, err := a.Store.ListPackages(c.Context(), f, pg)
	if err != nil {
		return err
	}
	out, err := a.packageEntities(c, pkgs)
	if err != nil {
		return err
	}
	c.writePage(out, pg, total)
	return nil
}

// pathPackage loads {package_id} of the route's project: displayable
// packages with files only.
func (c *Ctx) pathPackage() (*model.Package, error) {
	id, err := c.PathInt("package_id")
	if err != nil {
		return nil, err
	}
	p, err := c.API.Store.Package(c.Context(), c.Project.ID, id)
	if errors.Is(err, model.ErrNotFound) {
		return nil, errRecordNotFound
	}
	return p, err
}

// getPackage is GET /projects/:id/packages/:package_id.
func (a *API) getPackage(c *Ctx) error {
	p, err := c.pathPackage()
	if err != nil {
		return err
	}
	out, err := a.packageEntities(c, []*model.Package{p})
	if err != nil {
		return err
	}
	writeJSON(c.W, http.StatusOK, out[0])
	return nil
}

// listPackageFiles is GET /projects/:id/packages/:package_id/package_files.
func (a *API) listPackageFiles(c *Ctx) error {
	p, err := c.pathPackage()
	if err != nil {
		return err
	}
	pg, err := c.page()
	if err != nil {
		return err
	}
	orderBy := oneOf(c, "order_by", "id", "created_at", "file_name")
	desc := oneOf(c, "sort", "asc", "desc") == "desc"
	if err := c.Params.Err(); err != nil {
		return err
	}
	files, total, err := a.Store.ListPackageFiles(c.Context(), p.ID, orderBy, desc, pg)
	if err != nil {
		return err
	}
	var ids []int64
	for _, f := range files {
		if f.PipelineID != nil {
			ids = append(ids, *f.PipelineID)
		}
	}
	loader, err := a.loadPipelines(c, ids)
	if err != nil {
		return err
	}
	out := make([]*packageFileEntity, 0, len(files))
	for _, f := range files {
		e := packageFileJSON(f)
		if f.PipelineID != nil {
			e.Pipelines = loader.render([]int64{*f.PipelineID})
		}
		out = append(out, e)
	}
	c.writePage(out, pg, total)
	return nil
}

// pathPackageFile loads {package_file_id} of {package_id}.
func (c *Ctx) pathPackageFile() (*model.PackageFile, error) {
	p, err := c.pathPackage()
	if err != nil {
		return nil, err
	}
	id, err := c.PathInt("package_file_id")
	if err != nil {
		return nil, err
	}
	f, err := c.API.Store.PackageFile(c.Context(), p.ID, id)
	if errors.Is(err, model.ErrNotFound) {
		return nil, errNotFound("")
	}
	return f, err
}

// downloadPackageFile is GET .../packages/:package_id/package_files/:package_file_id/download.
func (a *API) downloadPackageFile(c *Ctx) error {
	// The mux sends GET .../packages/generic/package_files/N/download here,
	// where it is a generic package named package_files, version N.
	if c.R.PathValue("package_id") == model.PackageGeneric {
		return a.serveGeneric(c, genericTarget{"package_files", c.R.PathValue("package_file_id"), "download"})
	}
	f, err := c.pathPackageFile()
	if err != nil {
		return err
	}
	return a.serveFile(c, f)
}

// deletePackage is DELETE /projects/:id/packages/:package_id: the rows go
// in one transaction, then the blobs.
func (a *API) deletePackage(c *Ctx) error {
	id, err := c.PathInt("package_id")
	if err != nil {
		return err
	}
	keys, err := a.Store.DeletePackage(c.Context(), c.Project.ID, id)
	if errors.Is(err, model.ErrNotFound) {
		return errRecordNotFound
	}
	if err != nil {
		return err
	}
	a.deleteBlobs(c, keys...)
	c.W.WriteHeader(http.StatusNoContent)
	return nil
}

// deletePackageFile is DELETE .../packages/:package_id/package_files/:package_file_id.
func (a *API) deletePackageFile(c *Ctx) error {
	// The package first, as GitLab looks it up: its absence is the
	// finder's 404, the file's absence not_found!'s.
	p, err := c.pathPackage()
	if err != nil {
		return err
	}
	id, err := c.PathInt("package_file_id")
	if err != nil {
		return err
	}
	key, err := a.Store.DeletePackageFile(c.Context(), c.Project.ID, p.ID, id)
	if errors.Is(err, model.ErrNotFound) {
		return errNotFound("")
	}
	if err != nil {
		return err
	}
	a.deleteBlobs(c, key)
	c.W.WriteHeader(http.StatusNoContent)
	return nil
}

// deleteBlobs removes the blobs of deleted rows, even if the client has
// gone. A failure leaves an orphan blob, which is logged; no row points
// at it any more.
func (a *API) deleteBlobs(c *Ctx, keys ...string) {
	ctx := context.WithoutCancel(c.Context())
	for _, k := range keys {
		if err := a.Blobs.Delete(ctx, k); err != nil {
			a.Log.Warn("package delete: blob left behind", "key", k, "err", err)
		}
	}
}
