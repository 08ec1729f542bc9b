// Package releases keeps a project's releases and their asset links
// (issue 18; GitLab's Releases API, gitlab-compat.md §6). A release names
// a tag; creating one for a tag that does not exist creates the tag from
// ref in the bare repository, as the caller.
package releases

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/git"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/store"
)

// Service is the releases' business rules.
type Service struct {
	Store *store.Store
	Repos *git.Repos
	Now   func() time.Time
	// OnPush hears of a tag a release created, as of a pushed one: its
	// tag pipeline starts as GitLab's does (unless a job token made it).
	OnPush func(ctx context.Context, p git.Push)
}

// Bounds on what a release carries (GitLab's: a description up to 1
// MB, 255 characters for names; a link's URL up to 2048).
const (
	maxDescription = 1_000_000
	maxName        = 255
	maxURL         = 2048
	maxLinks       = 100
	// pipelineTimeout bounds starting the tag pipeline of a created tag.
	pipelineTimeout = 30 * time.Second
)

// LinkInput is an asset link as given; nil fields are left as they are
// (an update) or take their defaults (a creation).
type LinkInput struct {
	Name, URL, Filepath, LinkType *string
}

// CreateInput is POST /projects/:id/releases.
type CreateInput struct {
	TagName, TagMessage, Name, Description, Ref string
	NameGiven                                   bool
	ReleasedAt                                  *time.Time
	Links                                       []LinkInput
}

// UpdateInput is PUT /projects/:id/releases/:tag_name.
type UpdateInput struct {
	Name, Description *string
	ReleasedAt        *time.Time
}

// Refusals in GitLab's words (Releases::CreateService, Tags::CreateService).
var (
	errExists   = model.Refuse(model.ErrConflict, "Release already exists")
	errNoRef    = model.Refuse(model.ErrUnprocessable, "Ref is not specified")
	errTagName  = model.Refuse(model.ErrInvalid, "Tag name invalid")
	errNotFound = model.Refuse(model.ErrNotFound, "")
)

// ValidTag: tag names with "..", spaces or control characters are
// refused (issue 18's bad input), by git's ref rules.
func ValidTag(tag string) error {
	if !model.GitRefNameOK(tag) {
		return errTagName
	}
	return nil
}

func (s *Service) now() time.Time { return s.Now().UTC().Truncate(time.Microsecond) }

// Create makes the release of in.TagName, and the tag itself from in.Ref
// when it does not exist yet. Nothing is left half-made: a release that
// cannot be stored takes the tag it created with it.
func (s *Service) Create(ctx context.Context, p *model.Project, who *auth.Principal, in CreateInput) (*model.Release, error) {
	author := who.User
	if err := ValidTag(in.TagName); err != nil {
		return nil, err
	}
	if err := checkText(in.Name, in.Description); err != nil {
		return nil, err
	}
	if len(in.Links) > maxLinks {
		return nil, model.Invalid("assets", "has too many links")
	}
	now := s.now()
	var links []*model.ReleaseLink
	for _, li := range in.Links {
		l := &model.ReleaseLink{LinkType: "other", CreatedAt: now, UpdatedAt: now}
		if err := applyLink(l, li, links); err != nil {
			return nil, err
		}
		links = append(links, l)
	}
	if _, err := s.Store.Release(ctx, p.ID, in.TagName); err == nil {
		return nil, errExists
	} else if !errors.Is(err, model.ErrNotFound) {
		return nil, err
	}
	sha, created, err := s.ensureTag(ctx, p, author, in)
	if err != nil {
		return nil, err
	}
	r := &model.Release{ProjectID: p.ID, TagName: in.TagName, Name: in.Name, Description: in.Description, SHA: sha,
		AuthorID: author.ID, ReleasedAt: now, CreatedAt: now, UpdatedAt: now, Links: links}
	if !in.NameGiven || r.Name == "" {
		r.Name = in.TagName // GitLab names a release after its tag
	}
	if in.ReleasedAt != nil {
		r.ReleasedAt = in.ReleasedAt.UTC()
	}
	err = s.Store.Tx(ctx, func(q *store.Queries) error {
		if err := q.CreateRelease(ctx, r); err != nil {
			return err
		}
		for _, l := range links {
			l.ReleaseID = r.ID
			if err := q.CreateReleaseLink(ctx, l); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		if created {
			// Best effort: a concurrent creation of the same release lost
			// its race and must not keep a tag the winner did not make.
			_ = s.Repos.DeleteTag(context.WithoutCancel(ctx), p.ID, in.TagName)
		}
		if errors.Is(err, model.ErrConflict) {
			return nil, errExists
		}
		return nil, err
	}
	if push := (git.Push{Project: p, Pusher: who, Updates: []git.RefUpdate{{Ref: "refs/tags/" + r.TagName, Old: git.ZeroSHA, New: sha}}}); created &&
		s.OnPush != nil && push.StartsPipelines() {
		// Bounded as the git handler bounds its own (the caller may be
		// gone; the pipeline still starts).
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pipelineTimeout)
		defer cancel()
		s.OnPush(pctx, push)
	}
	return r, nil
}

// ensureTag finds the tag's commit, or creates the tag at ref.
func (s *Service) ensureTag(ctx context.Context, p *model.Project, author *model.User, in CreateInput) (string, bool, error) {
	c, err := s.Repos.Commit(ctx, p.ID, "refs/tags/"+in.TagName)
	if err == nil {
		return c.SHA, false, nil
	}
	if !errors.Is(err, model.ErrNotFound) {
		return "", false, err
	}
	if in.Ref == "" {
		return "", false, errNoRef
	}
	target, err := s.Repos.Commit(ctx, p.ID, in.Ref)
	if errors.Is(err, model.ErrNotFound) {
		return "", false, model.Refuse(model.ErrInvalid, "Target "+in.Ref+" is invalid")
	}
	if err != nil {
		return "", false, err
	}
	if err := s.Repos.CreateTag(ctx, p.ID, in.TagName, target.SHA, in.TagMessage, git.Tagger{Name: author.Name, Email: author.Email}); err != nil {
		// Another request created it meanwhile: that tag stands.
		if c, cerr := s.Repos.Commit(ctx, p.ID, "refs/tags/"+in.TagName); cerr == nil {
			return c.SHA, false, nil
		}
		return "", false, err
	}
	return target.SHA, true, nil
}

func checkText(name, description string) error {
	switch {
	case len(name) > maxName:
		return model.Invalid("name", "is too long (maximum is 255 characters)")
	case len(description) > maxDescription:
		return model.Invalid("description", "is too long (maximum is 1000000 characters)")
	}
	return nil
}

// applyLink sets l from in, checking it against the release's other
// links: a name and a URL each once per release.
func applyLink(l *model.ReleaseLink, in LinkInput, others []*model.ReleaseLink) error {
	if in.Name != nil {
		l.Name = strings.TrimSpace(*in.Name)
	}
	if in.URL != nil {
		l.URL = strings.TrimSpace(*in.URL)
	}
	if in.Filepath != nil {
		l.Filepath = *in.Filepath
		if l.Filepath != "" && !strings.HasPrefix(l.Filepath, "/") {
			l.Filepath = "/" + l.Filepath
		}
	}
	if in.LinkType != nil {
		l.LinkType = *in.LinkType
	}
	switch {
	case l.Name == "":
		return model.Invalid("name", "can't be blank")
	case len(l.Name) > maxName:
		return model.Invalid("name", "is too long (maximum is 255 characters)")
	case l.URL == "":
		return model.Invalid("url", "can't be blank")
	case !httpURL(l.URL):
		return model.Invalid("url", "is blocked: Only allowed schemes are http, https")
	case l.Filepath != "" && !filepathOK(l.Filepath):
		return model.Invalid("direct_asset_path", "is in an invalid format")
	case !slices.Contains(model.ReleaseLinkTypes, l.LinkType):
		return model.Invalid("link_type", "does not have a valid value")
	}
	for _, o := range others {
		if o.ID != 0 && o.ID == l.ID {
			continue
		}
		if o.Name == l.Name {
			return model.Invalid("name", "has already been taken")
		}
		if o.URL == l.URL {
			return model.Invalid("url", "has already been taken")
		}
		if l.Filepath != "" && o.Filepath == l.Filepath {
			return model.Invalid("direct_asset_path", "has already been taken")
		}
	}
	return nil
}

// httpURL: an absolute http or https URL with a host (issue 18: any other
// scheme is refused, javascript: and file: above all).
func httpURL(s string) bool {
	if len(s) > maxURL {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// filepathOK is GitLab's direct_asset_path format: "/" then segments of
// letters, digits, "-", "." and "_", never ".." nor an empty segment.
func filepathOK(p string) bool {
	if len(p) > maxName || !strings.HasPrefix(p, "/") || strings.Contains(p, "..") {
		return false
	}
	for _, seg := range strings.Split(p[1:], "/") {
		if seg == "" || seg == "." {
			return false
		}
		for _, c := range []byte(seg) {
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_') {
				return false
			}
		}
	}
	return true
}

// withLinks loads the asset links of rs.
func (s *Service) withLinks(ctx context.Context, rs ...*model.Release) error {
	ids := make([]int64, len(rs))
	for i, r := range rs {
		ids[i] = r.ID
	}
	links, err := s.Store.ReleaseLinks(ctx, ids)
	if err != nil {
		return err
	}
	for _, r := range rs {
		r.Links = links[r.ID]
	}
	return nil
}

// Get is the release of a tag, with its links.
func (s *Service) Get(ctx context.Context, p *model.Project, tag string) (*model.Release, error) {
	r, err := s.Store.Release(ctx, p.ID, tag)
	if errors.Is(err, model.ErrNotFound) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, err
	}
	return r, s.withLinks(ctx, r)
}

// Latest is the release permalink/latest names: the latest released_at
// that has come (GitLab leaves upcoming releases out).
func (s *Service) Latest(ctx context.Context, p *model.Project) (*model.Release, error) {
	r, err := s.Store.LatestRelease(ctx, p.ID, s.Now())
	if errors.Is(err, model.ErrNotFound) {
		return nil, errNotFound
	}
	return r, err
}

// List is one page of the project's releases, with their links.
func (s *Service) List(ctx context.Context, p *model.Project, o store.ReleaseOrder, pg store.Page) ([]*model.Release, int, error) {
	rs, total, err := s.Store.ListReleases(ctx, p.ID, o, pg)
	if err != nil {
		return nil, 0, err
	}
	return rs, total, s.withLinks(ctx, rs...)
}

// Update changes a release's name, description or released_at.
func (s *Service) Update(ctx context.Context, r *model.Release, in UpdateInput) error {
	if in.Name != nil {
		r.Name = *in.Name
	}
	if in.Description != nil {
		r.Description = *in.Description
	}
	if in.ReleasedAt != nil {
		r.ReleasedAt = in.ReleasedAt.UTC()
	}
	if err := checkText(r.Name, r.Description); err != nil {
		return err
	}
	r.UpdatedAt = s.now()
	return s.Store.UpdateRelease(ctx, r)
}

// Delete removes a release and its links; the tag stays, as in GitLab.
func (s *Service) Delete(ctx context.Context, r *model.Release) error {
	return s.Store.DeleteRelease(ctx, r.ID)
}

// Link is one asset link of a release.
func (s *Service) Link(r *model.Release, id int64) (*model.ReleaseLink, error) {
	for _, l := range r.Links {
		if l.ID == id {
			return l, nil
		}
	}
	return nil, errNotFound
}

// LinkByPath is the link whose direct_asset_path is path.
func (s *Service) LinkByPath(r *model.Release, path string) (*model.ReleaseLink, error) {
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	if !filepathOK(path) {
		return nil, model.Invalid("direct_asset_path", "is in an invalid format")
	}
	for _, l := range r.Links {
		if l.Filepath == path {
			return l, nil
		}
	}
	return nil, errNotFound
}

// CreateLink adds an asset link to r.
func (s *Service) CreateLink(ctx context.Context, r *model.Release, in LinkInput) (*model.ReleaseLink, error) {
	now := s.now()
	l := &model.ReleaseLink{ReleaseID: r.ID, LinkType: "other", CreatedAt: now, UpdatedAt: now}
	if len(r.Links) >= maxLinks {
		return nil, model.Invalid("base", "Release has too many links")
	}
	if err := applyLink(l, in, r.Links); err != nil {
		return nil, err
	}
	if err := s.Store.CreateReleaseLink(ctx, l); err != nil {
		return nil, linkConflict(err)
	}
	r.Links = append(r.Links, l)
	return l, nil
}

// UpdateLink changes an asset link of r.
func (s *Service) UpdateLink(ctx context.Context, r *model.Release, l *model.ReleaseLink, in LinkInput) error {
	upd := *l
	if err := applyLink(&upd, in, r.Links); err != nil {
		return err
	}
	upd.UpdatedAt = s.now()
	if err := s.Store.UpdateReleaseLink(ctx, &upd); err != nil {
		return linkConflict(err)
	}
	*l = upd
	return nil
}

// DeleteLink removes an asset link of r.
func (s *Service) DeleteLink(ctx context.Context, r *model.Release, l *model.ReleaseLink) error {
	return s.Store.DeleteReleaseLink(ctx, r.ID, l.ID)
}

// linkConflict: a concurrent request took the name or URL first.
func linkConflict(err error) error {
	if errors.Is(err, model.ErrConflict) {
		return model.Invalid("base", "Link name or URL has already been taken")
	}
	return err
}
