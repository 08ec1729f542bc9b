package api

import (
	"net/http"
	"slices"
	"strings"

	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/blob"
	"github.com/ciwarden/ciwarden/internal/gate"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/packages"
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

// validGeneric checks the three parts of a generic package file's path;
// an encoded slash arrives here decoded and fails like any other
// character outside the sets.
func validGeneric(g packages.Generic) error {
	switch {
	case !packageNameOK(g.Name):
		return errParam("package_name is invalid")
	case !packageVersionOK(g.Version):
		return errParam("package_version is invalid")
	case !packageNameOK(g.File):
		return errParam("file_name is invalid")
	}
	return nil
}

func genericPath(c *Ctx) packages.Generic {
	return packages.Generic{Name: c.R.PathValue("package_name"), Version: c.R.PathValue("package_version"), File: c.R.PathValue("file_name")}
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
// memory.
func (a *API) putGenericFile(c *Ctx) error {
	g := genericPath(c)
	if err := validGeneric(g); err != nil {
		return err
	}
	status := oneOf(c, "status", model.PackageDefault, model.PackageHidden)
	sel := oneOf(c, "select", "package_file")
	if err := c.Params.Err(); err != nil {
		return err
	}
	f, err := a.Packages.Publish(c.Context(), c.Principal, c.Project, g, status, c.R.Body, c.R.ContentLength)
	if err != nil {
		return err
	}
	if sel == "package_file" {
		writeJSON(c.W, http.StatusCreated, uploadedFileEntity{packageFileJSON(f), timeJSON(f.CreatedAt)})
		return nil
	}
	writeJSON(c.W, http.StatusCreated, messageEntity{"201 Created"})
	return nil
}

// getGenericFile is GET /projects/:id/packages/generic/:name/:version/:file:
// the newest file of that name, hidden packages included.
func (a *API) getGenericFile(c *Ctx) error {
	if c.R.PathValue("package_type") != model.PackageGeneric {
		return errNotFound("")
	}
	return a.serveGeneric(c, genericPath(c))
}

func (a *API) serveGeneric(c *Ctx, g packages.Generic) error {
	if err := validGeneric(g); err != nil {
		return err
	}
	f, obj, err := a.Packages.OpenGeneric(c.Context(), c.Project, g)
	if err != nil {
		return err
	}
	serveFile(c, f, obj)
	return nil
}

// serveFile streams a package file as an attachment, with ranges, and
// closes it.
func serveFile(c *Ctx, f *model.PackageFile, obj blob.Object) {
	defer obj.Close()
	h := c.W.Header()
	h.Set("Content-Type", "application/octet-stream")
	// File names are letters, digits and ._+- only: nothing to quote.
	h.Set("Content-Disposition", `attachment; filename="`+f.FileName+`"`)
	http.ServeContent(c.W, c.R, "", f.CreatedAt, obj)
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

// packagePipeline is a pipeline that published a package, with its user
// (null once deleted).
type packagePipeline struct {
	*pipelineEntity
	User *userEntity `json:"user"`
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

// uploadedFileEntity is the answer to select=package_file: the new file
// record, as GitLab presents it.
type uploadedFileEntity struct {
	*packageFileEntity
	UpdatedAt string `json:"updated_at"`
}

func packageFileJSON(f *model.PackageFile) *packageFileEntity {
	return &packageFileEntity{ID: f.ID, PackageID: f.PackageID, CreatedAt: timeJSON(f.CreatedAt), FileName: f.FileName,
		Size: f.Size, FileSHA256: f.SHA256}
}

func (a *API) packagePipelines(c *Ctx, ps []*packages.Pipeline) []*packagePipeline {
	out := make([]*packagePipeline, 0, len(ps))
	for _, p := range ps {
		e := &packagePipeline{pipelineEntity: a.pipelineJSON(c, p.Pipeline)}
		if p.User != nil {
			e.User = a.userJSON(p.User, false)
		}
		out = append(out, e)
	}
	return out
}

func (a *API) packageEntity(c *Ctx, p *packages.Package) *packageEntity {
	e := &packageEntity{ID: p.ID, Name: p.Name, Version: p.Version, PackageType: p.Type, Status: p.Status,
		Links:     packageLinks{WebPath: "/" + c.Project.FullPath() + "/-/packages/" + itoa(p.ID)},
		CreatedAt: timeJSON(p.CreatedAt), Tags: []string{}, Pipelines: a.packagePipelines(c, p.Pipelines)}
	if p.Deletable {
		e.Links.DeleteAPIPath = a.webURL(strings.TrimPrefix(Prefix, "/") + "/projects/" + itoa(c.Project.ID) + "/packages/" + itoa(p.ID))
	}
	return e
}

// listPackages is GET /projects/:id/packages.
func (a *API) listPackages(c *Ctx) error {
	var f store.PackageFilter
	f.Type = oneOf(c, "package_type", model.PackageTypes...)
	f.Name, _ = c.Params.String("package_name")
	f.Version, _ = c.Params.String("package_version")
	f.Status = oneOf(c, "status", model.PackageStatuses...)
	f.OrderBy = oneOf(c, "order_by", "created_at", "name", "version", "type")
	f.Desc = oneOf(c, "sort", "asc", "desc") == "desc"
	if err := c.Params.Err(); err != nil {
		return err
	}
	return gate.List(c.Ctx, func(pg store.Page) ([]*packages.Package, int, error) {
		return a.Packages.List(c.Context(), c.Principal, c.Project, f, pg)
	}, func(p *packages.Package) *packageEntity { return a.packageEntity(c, p) })
}

// getPackage is GET /projects/:id/packages/:package_id.
func (a *API) getPackage(c *Ctx) error {
	id, err := c.PathInt("package_id")
	if err != nil {
		return err
	}
	p, err := a.Packages.Get(c.Context(), c.Principal, c.Project, id)
	if err != nil {
		return err
	}
	writeJSON(c.W, http.StatusOK, a.packageEntity(c, p))
	return nil
}

// listPackageFiles is GET /projects/:id/packages/:package_id/package_files.
func (a *API) listPackageFiles(c *Ctx) error {
	id, err := c.PathInt("package_id")
	if err != nil {
		return err
	}
	orderBy := oneOf(c, "order_by", "id", "created_at", "file_name")
	desc := oneOf(c, "sort", "asc", "desc") == "desc"
	if err := c.Params.Err(); err != nil {
		return err
	}
	return gate.List(c.Ctx, func(pg store.Page) ([]*packages.File, int, error) {
		return a.Packages.Files(c.Context(), c.Project, id, orderBy, desc, pg)
	}, func(f *packages.File) *packageFileEntity {
		e := packageFileJSON(f.PackageFile)
		if f.Pipelines != nil {
			e.Pipelines = a.packagePipelines(c, f.Pipelines)
		}
		return e
	})
}

// packageFileParams reads {package_id} and {package_file_id}.
func (c *Ctx) packageFileParams() (pkg, file int64, err error) {
	if pkg, err = c.PathInt("package_id"); err != nil {
		return 0, 0, err
	}
	file, err = c.PathInt("package_file_id")
	return pkg, file, err
}

// downloadPackageFile is GET .../packages/:package_id/package_files/:package_file_id/download.
func (a *API) downloadPackageFile(c *Ctx) error {
	// The mux sends GET .../packages/generic/package_files/N/download here,
	// where it is a generic package named package_files, version N.
	if c.R.PathValue("package_id") == model.PackageGeneric {
		return a.serveGeneric(c, packages.Generic{Name: "package_files", Version: c.R.PathValue("package_file_id"), File: "download"})
	}
	pkg, file, err := c.packageFileParams()
	if err != nil {
		return err
	}
	f, obj, err := a.Packages.OpenFile(c.Context(), c.Project, pkg, file)
	if err != nil {
		return err
	}
	serveFile(c, f, obj)
	return nil
}

// deletePackage is DELETE /projects/:id/packages/:package_id.
func (a *API) deletePackage(c *Ctx) error {
	id, err := c.PathInt("package_id")
	if err != nil {
		return err
	}
	if err := a.Packages.Delete(c.Context(), c.Project, id); err != nil {
		return err
	}
	c.W.WriteHeader(http.StatusNoContent)
	return nil
}

// deletePackageFile is DELETE .../packages/:package_id/package_files/:package_file_id.
func (a *API) deletePackageFile(c *Ctx) error {
	pkg, file, err := c.packageFileParams()
	if err != nil {
		return err
	}
	if err := a.Packages.DeleteFile(c.Context(), c.Project, pkg, file); err != nil {
		return err
	}
	c.W.WriteHeader(http.StatusNoContent)
	return nil
}
