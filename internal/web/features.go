package web

import (
	"net/http"
	"net/url"

	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/gate"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/packages"
	"github.com/ciwarden/ciwarden/internal/releases"
	"github.com/ciwarden/ciwarden/internal/store"
	"github.com/ciwarden/ciwarden/internal/terraform"
)

// The pages of the features the API serves (issue 19, item 1): releases,
// packages, Terraform states and the container registry. Each reads and
// changes through the same service as its REST endpoints, with the same
// refusals; the route rows carry the same authz actions as the API's.

// pageNumber is the ?page= of a list page, 1 when absent.
func pageNumber(c *gate.Ctx) (int, error) {
	pg := 1
	if n, ok := c.Params.Int("page"); ok && n > 0 && n < 1<<20 {
		pg = int(n)
	}
	return pg, c.Params.Err()
}

// pager adds the previous and next page numbers of a list to data.
func pager(data map[string]any, pg, total int) map[string]any {
	data["Page"], data["Total"] = pg, total
	if pg*listPage < total {
		data["Next"] = pg + 1
	}
	if pg > 1 {
		data["Prev"] = pg - 1
	}
	return data
}

// Releases

func (u *UI) releasesPage(c *gate.Ctx) error {
	pg, err := pageNumber(c)
	if err != nil {
		return err
	}
	list, total, err := u.Releases.List(c.Context(), c.Project, store.ReleaseOrder{}, store.Page{Number: pg, PerPage: listPage})
	if err != nil {
		return err
	}
	return u.render(c.W, c, http.StatusOK, "releases", "Releases · "+c.Project.FullPath(),
		pager(map[string]any{"Nav": nav(c), "Releases": list, "Now": u.Now()}, pg, total))
}

// pathRelease is the release of the route's {tag}.
func (u *UI) pathRelease(c *gate.Ctx) (*model.Release, error) {
	return u.Releases.Get(c.Context(), c.Project, c.R.PathValue("tag"))
}

func (u *UI) releasePage(c *gate.Ctx) error {
	r, err := u.pathRelease(c)
	if err != nil {
		return err
	}
	author := ""
	if usr, err := u.Store.User(c.Context(), r.AuthorID); err == nil {
		author = usr.Username
	}
	return u.render(c.W, c, http.StatusOK, "release", r.Name+" · "+c.Project.FullPath(),
		map[string]any{"Nav": nav(c), "Release": r, "Author": author, "Now": u.Now(), "Tag": url.PathEscape(r.TagName),
			"Edit": c.Can(authz.AdminRelease)})
}

// releaseDownload is a link's direct_asset_url: a redirect to the link's
// URL, as GET /projects/:id/releases/:tag/downloads/*path.
func (u *UI) releaseDownload(c *gate.Ctx) error {
	r, err := u.pathRelease(c)
	if err != nil {
		return err
	}
	l, err := u.Releases.LinkByPath(r, "/"+c.R.PathValue("path"))
	if err != nil {
		return err
	}
	http.Redirect(c.W, c.R, l.URL, http.StatusFound)
	return nil
}

// releaseEditPage is the API's _links.edit_url: the name and description.
func (u *UI) releaseEditPage(c *gate.Ctx) error {
	r, err := u.pathRelease(c)
	if err != nil {
		return err
	}
	if err := c.AuthorizeRef(authz.AdminReleaseOnTag, "refs/tags/"+r.TagName); err != nil {
		return err
	}
	return u.render(c.W, c, http.StatusOK, "release_edit", "Edit "+r.Name,
		map[string]any{"Nav": nav(c), "Release": r, "Tag": url.PathEscape(r.TagName)})
}

// updateRelease saves the edit form through releases.Service, with the
// check PUT /projects/:id/releases/:tag_name makes on a protected tag.
func (u *UI) updateRelease(c *gate.Ctx) error {
	r, err := u.pathRelease(c)
	if err != nil {
		return err
	}
	name, _ := c.Params.String("name")
	desc, _ := c.Params.String("description")
	if err := c.Params.Err(); err != nil {
		return err
	}
	if err := c.AuthorizeRef(authz.AdminReleaseOnTag, "refs/tags/"+r.TagName); err != nil {
		return err
	}
	if err := u.Releases.Update(c.Context(), r, releases.UpdateInput{Name: &name, Description: &desc}); err != nil {
		return err
	}
	return u.back(c, "/-/releases/"+url.PathEscape(r.TagName))
}

// tagPage is the API's tag_path: the repository at the tag.
func (u *UI) tagPage(c *gate.Ctx) error {
	return u.back(c, "/-/tree/"+url.PathEscape(c.R.PathValue("tag")))
}

// Packages

func (u *UI) packagesPage(c *gate.Ctx) error {
	pg, err := pageNumber(c)
	if err != nil {
		return err
	}
	list, total, err := u.Packages.List(c.Context(), c.Principal, c.Project, store.PackageFilter{Desc: true}, store.Page{Number: pg, PerPage: listPage})
	if err != nil {
		return err
	}
	return u.render(c.W, c, http.StatusOK, "packages", "Packages · "+c.Project.FullPath(),
		pager(map[string]any{"Nav": nav(c), "Packages": list}, pg, total))
}

func (u *UI) pathPackage(c *gate.Ctx) (*packages.Package, error) {
	id, err := c.PathInt("package_id")
	if err != nil {
		return nil, err
	}
	return u.Packages.Get(c.Context(), c.Principal, c.Project, id)
}

func (u *UI) packagePage(c *gate.Ctx) error {
	pkg, err := u.pathPackage(c)
	if err != nil {
		return err
	}
	files, total, err := u.Packages.Files(c.Context(), c.Project, pkg.ID, "file_name", false, store.Page{Number: 1, PerPage: 100})
	if err != nil {
		return err
	}
	return u.render(c.W, c, http.StatusOK, "package", pkg.Name+" "+pkg.Version,
		map[string]any{"Nav": nav(c), "Package": pkg, "Files": files, "More": total > len(files)})
}

// packageFile downloads one file, as
// GET /projects/:id/packages/:package_id/package_files/:id/download.
func (u *UI) packageFile(c *gate.Ctx) error {
	pid, err := c.PathInt("package_id")
	if err != nil {
		return err
	}
	fid, err := c.PathInt("file_id")
	if err != nil {
		return err
	}
	f, obj, err := u.Packages.OpenFile(c.Context(), c.Project, pid, fid)
	if err != nil {
		return err
	}
	gate.ServeStored(c, f.FileName, "application/octet-stream", f.CreatedAt, obj)
	return nil
}

func (u *UI) deletePackage(c *gate.Ctx) error {
	id, err := c.PathInt("package_id")
	if err != nil {
		return err
	}
	if err := u.Packages.Delete(c.Context(), c.Project, id); err != nil {
		return err
	}
	return u.back(c, "/-/packages")
}

// Terraform states

// stateRow is a state with its versions and its lock's holder.
type stateRow struct {
	*model.TerraformState
	Versions []*model.TerraformStateVersion
	More     bool
	Holder   string
}

// stateVersions is how many versions the page lists under each state.
const stateVersions = 10

func (u *UI) terraformPage(c *gate.Ctx) error {
	pg, err := pageNumber(c)
	if err != nil {
		return err
	}
	states, total, err := u.Terraform.List(c.Context(), c.Project, store.Page{Number: pg, PerPage: listPage})
	if err != nil {
		return err
	}
	rows := make([]stateRow, len(states))
	for i, st := range states {
		vs, n, err := u.Terraform.Versions(c.Context(), c.Project, st.Name, store.Page{Number: 1, PerPage: stateVersions})
		if err != nil {
			return err
		}
		rows[i] = stateRow{TerraformState: st, Versions: vs, More: n > len(vs)}
		if st.Lock != nil {
			rows[i].Holder = "(deleted user)"
			if usr, err := u.Store.User(c.Context(), st.Lock.UserID); err == nil {
				rows[i].Holder = usr.Username
			}
		}
	}
	return u.render(c.W, c, http.StatusOK, "terraform", "Terraform states · "+c.Project.FullPath(),
		pager(map[string]any{"Nav": nav(c), "States": rows, "Admin": c.Can(authz.AdminTerraformState)}, pg, total))
}

func stateName(c *gate.Ctx) (string, error) {
	name := c.R.PathValue("name")
	return name, terraform.CheckName(name)
}

// unlockState releases whatever lock the state holds: a Maintainer's
// unlock of a lock a killed job left (as UNLOCK without lock information).
func (u *UI) unlockState(c *gate.Ctx) error {
	name, err := stateName(c)
	if err != nil {
		return err
	}
	if err := u.Terraform.Unlock(c.Context(), c.Project, name, ""); err != nil {
		return err
	}
	return u.back(c, "/-/terraform")
}

// deleteState removes a state with its versions; a locked state is
// refused with the holder's lock (409), as DELETE without the lock's ID.
func (u *UI) deleteState(c *gate.Ctx) error {
	name, err := stateName(c)
	if err != nil {
		return err
	}
	if err := u.Terraform.Delete(c.Context(), c.Project, name, "", false); err != nil {
		return err
	}
	return u.back(c, "/-/terraform")
}

// Container registry

// repositoryRow is a repository with its location and tags.
type repositoryRow struct {
	*model.ContainerRepository
	Location string
	Tags     []string
}

func (u *UI) registryPage(c *gate.Ctx) error {
	pg, err := pageNumber(c)
	if err != nil {
		return err
	}
	repos, total, err := u.Registry.List(c.Context(), c.Project.ID, store.Page{Number: pg, PerPage: listPage})
	if err != nil {
		return err
	}
	rows := make([]repositoryRow, len(repos))
	for i, r := range repos {
		tags, err := u.Registry.Tags(c.Context(), r)
		if err != nil {
			return err
		}
		rows[i] = repositoryRow{ContainerRepository: r, Location: u.Registry.Location(r.Path), Tags: tags}
	}
	return u.render(c.W, c, http.StatusOK, "registry", "Container registry · "+c.Project.FullPath(),
		pager(map[string]any{"Nav": nav(c), "Repositories": rows, "Admin": c.Can(authz.DestroyContainerRepository)}, pg, total))
}

// deleteTag deletes one tag through registry.Repositories, as
// DELETE /projects/:id/registry/repositories/:id/tags/:tag_name.
func (u *UI) deleteTag(c *gate.Ctx) error {
	id, err := c.PathInt("repository_id")
	if err != nil {
		return err
	}
	r, err := u.Registry.Repository(c.Context(), c.Project.ID, id)
	if err != nil {
		return err
	}
	if err := u.Registry.DeleteTag(c.Context(), r, c.R.PathValue("tag")); err != nil {
		return err
	}
	return u.back(c, "/-/container_registry")
}
