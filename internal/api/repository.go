package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/gate"
	"github.com/ciwarden/ciwarden/internal/git"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/store"
)

// maxRawFile bounds GET .../repository/files/:path/raw.
const maxRawFile = 100 << 20

// refs lists branches or tags (kind "heads" or "tags") with their
// commits, which are read for the page only.
func (a *API) refs(c *Ctx, kind string) error {
	search, _ := c.Params.String("search")
	if err := c.Params.Err(); err != nil {
		return err
	}
	refs, err := a.Repos.Refs(c.Context(), c.Project.ID, "refs/"+kind+"/")
	if err != nil {
		return err
	}
	var names []git.Ref
	for _, r := range refs {
		name := strings.TrimPrefix(r.Name, "refs/"+kind+"/")
		if search == "" || strings.Contains(strings.ToLower(name), strings.ToLower(search)) {
			names = append(names, git.Ref{Name: name, SHA: r.SHA})
		}
	}
	commits := map[string]*commitEntity{}
	fetch := func(pg store.Page) ([]git.Ref, int, error) {
		page := gate.Slice(names, pg)
		for _, r := range page {
			cm, err := a.Repos.Commit(c.Context(), c.Project.ID, r.SHA)
			if err != nil {
				return nil, 0, err
			}
			commits[r.SHA] = a.commitJSON(c, cm)
		}
		return page, len(names), nil
	}
	rules, err := a.Store.ProtectedRefs(c.Context(), c.Project.ID)
	if err != nil {
		return err
	}
	if kind == "tags" {
		messages, err := a.Repos.TagMessages(c.Context(), c.Project.ID)
		if err != nil {
			return err
		}
		return gate.List(c.Ctx, fetch, func(r git.Ref) *tagEntity {
			return &tagEntity{Name: r.Name, Message: messages[r.Name], Target: r.SHA, Commit: commits[r.SHA],
				Protected: len(rules.Match(model.RefTag, r.Name)) > 0}
		})
	}
	return gate.List(c.Ctx, fetch, func(r git.Ref) *branchEntity {
		covering := rules.Match(model.RefBranch, r.Name)
		e := &branchEntity{Name: r.Name, Commit: commits[r.SHA], DevelopersCanPush: true, DevelopersCanMerge: true,
			Protected: len(covering) > 0, CanPush: c.AuthorizeRef(authz.PushBranchAbility, "refs/heads/"+r.Name) == nil,
			Default: r.Name == c.Project.DefaultBranch, WebURL: a.webURL(c.Project.FullPath() + "/-/tree/" + r.Name)}
		if e.Protected {
			e.DevelopersCanPush, e.DevelopersCanMerge = developersCan(covering, true), developersCan(covering, false)
		}
		return e
	})
}

// developersCan: some rule covering a protected branch lets Developers
// push (push) or merge.
func developersCan(rules []*model.ProtectedRef, push bool) bool {
	for _, r := range rules {
		l := r.MergeLevel
		if push {
			l = r.PushLevel
		}
		if l == model.Developer {
			return true
		}
	}
	return false
}

func (a *API) listBranches(c *Ctx) error { return a.refs(c, "heads") }
func (a *API) listTags(c *Ctx) error     { return a.refs(c, "tags") }

func (a *API) getCommit(c *Ctx) error {
	cm, err := a.Repos.Commit(c.Context(), c.Project.ID, c.R.PathValue("sha"))
	if errors.Is(err, git.ErrNotFound) {
		return errNotFound("Commit")
	}
	if err != nil {
		return err
	}
	writeJSON(c.W, http.StatusOK, a.commitJSON(c, cm))
	return nil
}

// rawFile is GET .../repository/files/:file_path/raw?ref=; the path is
// URL-encoded in one segment (docs%2Fa.md) as GitLab expects.
func (a *API) rawFile(c *Ctx) error {
	ref, _ := c.Params.String("ref")
	if err := c.Params.Err(); err != nil {
		return err
	}
	if ref == "" {
		ref = c.Project.DefaultBranch
	}
	path := c.R.PathValue("file_path")
	if path == "" || strings.HasPrefix(path, "/") || strings.Contains(path, "..") {
		return errParam("file_path is invalid")
	}
	data, err := a.Repos.ReadFile(c.Context(), c.Project.ID, ref, path, maxRawFile)
	var tooLarge *git.TooLargeError
	if errors.Is(err, git.ErrNotFound) {
		return errNotFound("File")
	}
	if errors.As(err, &tooLarge) {
		return errTooLarge
	}
	if err != nil {
		return err
	}
	return c.Text(data)
}
