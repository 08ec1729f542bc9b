package api

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/gate"
	"github.com/ciwarden/ciwarden/internal/git"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/releases"
	"github.com/ciwarden/ciwarden/internal/store"
)

// Releases and release links (issue 18; GitLab's Releases API). The routes
// take a personal access token or a job token (gitlab-compat.md §6,
// read_releases / admin_releases); a change to a release also passes the
// protected_ref check on its tag (authz.AdminReleaseOnTag).

// releaseEntity is GitLab's Release entity.
type releaseEntity struct {
	TagName         string              `json:"tag_name"`
	Description     string              `json:"description"`
	Name            string              `json:"name"`
	CreatedAt       string              `json:"created_at"`
	ReleasedAt      string              `json:"released_at"`
	UpcomingRelease bool                `json:"upcoming_release"`
	Author          *userEntity         `json:"author,omitempty"`
	Commit          *commitEntity       `json:"commit,omitempty"`
	Milestones      []any               `json:"milestones"`
	CommitPath      string              `json:"commit_path"`
	TagPath         string              `json:"tag_path"`
	Assets          releaseAssetsEntity `json:"assets"`
	Evidences       []any               `json:"evidences"`
	Links           map[string]string   `json:"_links"`
}

type releaseAssetsEntity struct {
	Count   int                  `json:"count"`
	Sources []releaseSource      `json:"sources"`
	Links   []*releaseLinkEntity `json:"links"`
}

type releaseSource struct {
	Format string `json:"format"`
	URL    string `json:"url"`
}

// releaseLinkEntity is GitLab's Releases::Link entity.
type releaseLinkEntity struct {
	ID             int64  `json:"id"`
	Name           string `json:"name"`
	URL            string `json:"url"`
	DirectAssetURL string `json:"direct_asset_url"`
	External       bool   `json:"external"`
	LinkType       string `json:"link_type"`
}

// sourceFormats are the archives a release lists as its sources, each
// served by GET /projects/:id/repository/archive.
var sourceFormats = []string{"zip", "tar.gz", "tar.bz2", "tar"}

func (a *API) releaseURL(p *model.Project, tag string) string {
	return a.webURL(p.FullPath() + "/-/releases/" + url.PathEscape(tag))
}

func (a *API) releaseLinkJSON(p *model.Project, r *model.Release, l *model.ReleaseLink) *releaseLinkEntity {
	e := &releaseLinkEntity{ID: l.ID, Name: l.Name, URL: l.URL, DirectAssetURL: l.URL, External: true, LinkType: l.LinkType}
	if l.Filepath != "" {
		e.DirectAssetURL = a.releaseURL(p, r.TagName) + "/downloads" + l.Filepath
	}
	return e
}

func (a *API) releaseJSON(c *Ctx, r *model.Release) *releaseEntity {
	p := c.Project
	e := &releaseEntity{TagName: r.TagName, Description: r.Description, Name: r.Name, CreatedAt: timeJSON(r.CreatedAt),
		ReleasedAt: timeJSON(r.ReleasedAt), UpcomingRelease: r.Upcoming(c.now()), Milestones: []any{}, Evidences: []any{},
		CommitPath: "/" + p.FullPath() + "/-/commit/" + r.SHA, TagPath: "/" + p.FullPath() + "/-/tags/" + url.PathEscape(r.TagName)}
	if u, err := a.Store.User(c.Context(), r.AuthorID); err == nil {
		e.Author = a.userJSON(u, false)
	}
	if cm, err := a.Repos.Commit(c.Context(), p.ID, r.SHA); err == nil {
		e.Commit = a.commitJSON(c, cm)
	}
	api := strings.TrimSuffix(a.ExternalURL, "/") + Prefix + "/projects/" + itoa(p.ID) + "/repository/archive."
	for _, f := range sourceFormats {
		e.Assets.Sources = append(e.Assets.Sources, releaseSource{Format: f, URL: api + f + "?sha=" + url.QueryEscape(r.TagName)})
	}
	e.Assets.Links = []*releaseLinkEntity{}
	for _, l := range r.Links {
		e.Assets.Links = append(e.Assets.Links, a.releaseLinkJSON(p, r, l))
	}
	e.Assets.Count = len(e.Assets.Sources) + len(e.Assets.Links)
	self := a.releaseURL(p, r.TagName)
	e.Links = map[string]string{"self": self, "edit_url": self + "/edit"}
	return e
}

// pathRelease is the release of the path's tag_name.
func (c *Ctx) pathRelease() (*model.Release, error) {
	return c.API.Releases.Get(c.Context(), c.Project, c.R.PathValue("tag_name"))
}

// authorizeReleaseTag: a change to a release, or to its links, needs the
// right to create its tag when the tag is protected (GitLab's rule).
func (c *Ctx) authorizeReleaseTag(tag string) error {
	return c.AuthorizeRef(authz.AdminReleaseOnTag, "refs/tags/"+tag)
}

func (a *API) listReleases(c *Ctx) error {
	o := store.ReleaseOrder{ByCreated: oneOf(c, "order_by", "released_at", "created_at") == "created_at",
		Asc: oneOf(c, "sort", "asc", "desc") == "asc"}
	if err := c.Params.Err(); err != nil {
		return err
	}
	return gate.List(c.Ctx, func(pg store.Page) ([]*model.Release, int, error) {
		return a.Releases.List(c.Context(), c.Project, o, pg)
	}, func(r *model.Release) *releaseEntity { return a.releaseJSON(c, r) })
}

func (a *API) getRelease(c *Ctx) error {
	r, err := c.pathRelease()
	if err != nil {
		return err
	}
	writeJSON(c.W, http.StatusOK, a.releaseJSON(c, r))
	return nil
}

// latestRelease is GET .../releases/permalink/latest(/*suffix_path): a
// redirect to the latest release's own path, the suffix and query kept.
func (a *API) latestRelease(c *Ctx) error {
	r, err := a.Releases.Latest(c.Context(), c.Project)
	if err != nil {
		return err
	}
	loc := Prefix + "/projects/" + itoa(c.Project.ID) + "/releases/" + url.PathEscape(r.TagName)
	if s := c.R.PathValue("suffix_path"); s != "" {
		loc += "/" + s
	}
	if q := c.R.URL.RawQuery; q != "" {
		loc += "?" + q
	}
	http.Redirect(c.W, c.R, loc, http.StatusFound)
	return nil
}

// releaseTime reads released_at (ISO 8601).
func releaseTime(c *Ctx) *time.Time {
	s, ok := c.Params.String("released_at")
	if !ok || s == "" {
		return nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		c.Params.Fail("released_at is invalid")
		return nil
	}
	return &t
}

// optString is a string parameter when it was sent; JSON null counts as
// not sent (GitLab's Go client sends "name": null to leave it as it is).
func optString(c *Ctx, name string) *string {
	if v, ok := c.Params.Raw(name); !ok || v == nil {
		return nil
	}
	if s, ok := c.Params.String(name); ok {
		return &s
	}
	return nil
}

// linkInput reads an asset link from a JSON object (assets:links) or the
// request's own parameters; direct_asset_path has filepath as its
// deprecated alias.
func linkInput(get func(string) (string, bool)) releases.LinkInput {
	opt := func(name string) *string {
		if s, ok := get(name); ok {
			return &s
		}
		return nil
	}
	in := releases.LinkInput{Name: opt("name"), URL: opt("url"), Filepath: opt("direct_asset_path"), LinkType: opt("link_type")}
	if in.Filepath == nil {
		in.Filepath = opt("filepath")
	}
	return in
}

// assetLinks reads assets[links] of a JSON body.
func assetLinks(c *Ctx) ([]releases.LinkInput, error) {
	raw, ok := c.Params.Raw("assets")
	if !ok || raw == nil {
		return nil, nil
	}
	invalid := errParam("assets is invalid")
	assets, isMap := raw.(map[string]any)
	if !isMap {
		return nil, invalid
	}
	list, ok := assets["links"]
	if !ok || list == nil {
		return nil, nil
	}
	items, isList := list.([]any)
	if !isList {
		return nil, errParam("assets[links] is invalid")
	}
	var out []releases.LinkInput
	for _, it := range items {
		m, isMap := it.(map[string]any)
		if !isMap {
			return nil, errParam("assets[links] is invalid")
		}
		bad := false
		out = append(out, linkInput(func(name string) (string, bool) {
			v, ok := m[name]
			if !ok || v == nil {
				return "", false
			}
			s, isStr := v.(string)
			bad = bad || !isStr
			return s, true
		}))
		if bad {
			return nil, errParam("assets[links] is invalid")
		}
	}
	return out, nil
}

// createRelease is POST /projects/:id/releases.
func (a *API) createRelease(c *Ctx) error {
	c.Params.Require("tag_name")
	in := releases.CreateInput{ReleasedAt: releaseTime(c)}
	in.TagName, _ = c.Params.String("tag_name")
	in.TagMessage, _ = c.Params.String("tag_message")
	in.Name, in.NameGiven = c.Params.String("name")
	in.Description, _ = c.Params.String("description")
	in.Ref, _ = c.Params.String("ref")
	if err := c.Params.Err(); err != nil {
		return err
	}
	links, err := assetLinks(c)
	if err != nil {
		return err
	}
	in.Links = links
	if err := releases.ValidTag(in.TagName); err != nil {
		return err
	}
	if err := c.authorizeReleaseTag(in.TagName); err != nil {
		return err
	}
	r, err := a.Releases.Create(c.Context(), c.Project, c.Principal, in)
	if err != nil {
		return err
	}
	writeJSON(c.W, http.StatusCreated, a.releaseJSON(c, r))
	return nil
}

func (a *API) updateRelease(c *Ctx) error {
	r, err := c.pathRelease()
	if err != nil {
		return err
	}
	in := releases.UpdateInput{Name: optString(c, "name"), Description: optString(c, "description"), ReleasedAt: releaseTime(c)}
	if err := c.Params.Err(); err != nil {
		return err
	}
	if err := c.authorizeReleaseTag(r.TagName); err != nil {
		return err
	}
	if err := a.Releases.Update(c.Context(), r, in); err != nil {
		return err
	}
	writeJSON(c.W, http.StatusOK, a.releaseJSON(c, r))
	return nil
}

// deleteRelease answers the release it deleted, as GitLab does.
func (a *API) deleteRelease(c *Ctx) error {
	r, err := c.pathRelease()
	if err != nil {
		return err
	}
	if err := c.authorizeReleaseTag(r.TagName); err != nil {
		return err
	}
	if err := a.Releases.Delete(c.Context(), r); err != nil {
		return err
	}
	writeJSON(c.W, http.StatusOK, a.releaseJSON(c, r))
	return nil
}

// releaseDownload is GET .../releases/:tag_name/downloads/*direct_asset_path:
// a redirect to the URL of the link with that path.
func (a *API) releaseDownload(c *Ctx) error {
	r, err := c.pathRelease()
	if err != nil {
		return err
	}
	l, err := a.Releases.LinkByPath(r, c.R.PathValue("direct_asset_path"))
	if err != nil {
		return err
	}
	http.Redirect(c.W, c.R, l.URL, http.StatusFound)
	return nil
}

func (a *API) listReleaseLinks(c *Ctx) error {
	r, err := c.pathRelease()
	if err != nil {
		return err
	}
	return gate.ListSlice(c.Ctx, r.Links, func(l *model.ReleaseLink) *releaseLinkEntity { return a.releaseLinkJSON(c.Project, r, l) })
}

// pathLink is the release of the path and its link_id.
func (c *Ctx) pathLink() (*model.Release, *model.ReleaseLink, error) {
	r, err := c.pathRelease()
	if err != nil {
		return nil, nil, err
	}
	id, err := c.PathInt("link_id")
	if err != nil {
		return nil, nil, err
	}
	l, err := c.API.Releases.Link(r, id)
	return r, l, err
}

func (a *API) getReleaseLink(c *Ctx) error {
	r, l, err := c.pathLink()
	if err != nil {
		return err
	}
	writeJSON(c.W, http.StatusOK, a.releaseLinkJSON(c.Project, r, l))
	return nil
}

func (a *API) createReleaseLink(c *Ctx) error {
	r, err := c.pathRelease()
	if err != nil {
		return err
	}
	c.Params.Require("name", "url")
	in := linkInput(c.Params.String)
	if err := c.Params.Err(); err != nil {
		return err
	}
	if err := c.authorizeReleaseTag(r.TagName); err != nil {
		return err
	}
	l, err := a.Releases.CreateLink(c.Context(), r, in)
	if err != nil {
		return err
	}
	writeJSON(c.W, http.StatusCreated, a.releaseLinkJSON(c.Project, r, l))
	return nil
}

func (a *API) updateReleaseLink(c *Ctx) error {
	r, l, err := c.pathLink()
	if err != nil {
		return err
	}
	in := linkInput(c.Params.String)
	if err := c.Params.Err(); err != nil {
		return err
	}
	if in == (releases.LinkInput{}) {
		return errParam("name, url, filepath, direct_asset_path, link_type are missing, at least one parameter must be provided")
	}
	if err := c.authorizeReleaseTag(r.TagName); err != nil {
		return err
	}
	if err := a.Releases.UpdateLink(c.Context(), r, l, in); err != nil {
		return err
	}
	writeJSON(c.W, http.StatusOK, a.releaseLinkJSON(c.Project, r, l))
	return nil
}

func (a *API) deleteReleaseLink(c *Ctx) error {
	r, l, err := c.pathLink()
	if err != nil {
		return err
	}
	if err := c.authorizeReleaseTag(r.TagName); err != nil {
		return err
	}
	if err := a.Releases.DeleteLink(c.Context(), r, l); err != nil {
		return err
	}
	writeJSON(c.W, http.StatusOK, a.releaseLinkJSON(c.Project, r, l))
	return nil
}

// maxArchiveRef bounds the sha parameter of an archive request.
const maxArchiveRef = 1024

// repositoryArchive is GET /projects/:id/repository/archive[.format]?sha=
// (format zip, tar.gz, tar.bz2 or tar; default tar.gz): the tree of sha
// (a commit, branch or tag; default the default branch), streamed from
// git archive under the prefix GitLab uses, <project>-<ref>-<sha>/.
func (a *API) repositoryArchive(format string) func(*Ctx) error {
	return func(c *Ctx) error {
		f := format
		if f == "" {
			f, _ = c.Params.String("format")
		}
		ref, _ := c.Params.String("sha")
		if err := c.Params.Err(); err != nil {
			return err
		}
		if f == "" {
			f = "tar.gz"
		}
		ext := git.ArchiveFormat(f)
		if ext == "" {
			return errParam("format does not have a valid value")
		}
		if ref == "" {
			ref = c.Project.DefaultBranch
		}
		if len(ref) > maxArchiveRef {
			return errParam("sha is invalid")
		}
		cm, err := a.Repos.Commit(c.Context(), c.Project.ID, ref)
		if errors.Is(err, git.ErrNotFound) {
			return errNotFound("Commit")
		}
		if err != nil {
			return err
		}
		name := c.Project.Path + "-" + strings.NewReplacer("/", "-", "\"", "", "\\", "").Replace(ref) + "-" + cm.SHA
		if ref == cm.SHA {
			name = c.Project.Path + "-" + cm.SHA
		}
		c.W.Header().Set("Content-Disposition", `attachment; filename="`+name+"."+ext+`"`)
		c.W.Header().Set("Content-Type", "application/octet-stream")
		c.W.Header().Set("Content-Transfer-Encoding", "binary")
		c.W.WriteHeader(http.StatusOK)
		if err := a.Repos.Archive(c.Context(), c.Project.ID, cm.SHA, ext, name, c.W); err != nil {
			// The status is sent: a failure can only cut the stream
			// short, which the client sees as a broken archive.
			a.Log.Warn("repository archive cut short", "project", c.Project.ID, "err", err)
		}
		return nil
	}
}
