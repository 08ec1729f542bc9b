package api

import (
	"errors"
	"github.com/ciwarden/ciwarden/internal/authz"
	"net/http"
	"strings"

	"github.com/ciwarden/ciwarden/internal/git"
)

// maxRawFile bounds GET .../repository/files/:path/raw.
const maxRawFile = 100 << 20

func (a *API) commitJSON(c *Ctx, cm *git.Commit) map[string]any {
	parents := cm.Parents
	if parents == nil {
		parents = []string{}
	}
	return map[string]any{
		"id": cm.SHA, "short_id": shortSHA(cm.SHA), "title": cm.Title, "message": cm.Message,
		"author_name": cm.AuthorName, "author_email": cm.AuthorEmail, "authored_date": cm.AuthoredAt,
		"committer_name": cm.CommitterName, "committer_email": cm.CommitterEmail, "committed_date": cm.CommittedAt,
		"created_at": cm.CommittedAt, "parent_ids": parents,
		"web_url": a.webURL(c.Project.FullPath() + "/-/commit/" + cm.SHA),
	}
}

// refs lists branches or tags (kind "heads" or "tags") with their commits.
func (a *API) refs(c *Ctx, kind string) error {
	pg, err := c.Page()
	if err != nil {
		return err
	}
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
	var messages map[string]string
	if kind == "tags" {
		if messages, err = a.Repos.TagMessages(c.Context(), c.Project.ID); err != nil {
			return err
		}
	}
	start := min(pg.Offset(), len(names))
	end := min(start+pg.Limit(), len(names))
	out := make([]map[string]any, 0, end-start)
	canPush := c.Can(authz.PushAbility)
	for _, r := range names[start:end] {
		cm, err := a.Repos.Commit(c.Context(), c.Project.ID, r.SHA)
		if err != nil {
			return err
		}
		entry := map[string]any{"name": r.Name, "commit": a.commitJSON(c, cm), "protected": false}
		if kind == "heads" {
			entry["merged"] = false
			entry["default"] = r.Name == c.Project.DefaultBranch
			entry["developers_can_push"] = true
			entry["developers_can_merge"] = true
			entry["can_push"] = canPush
			entry["web_url"] = a.webURL(c.Project.FullPath() + "/-/tree/" + r.Name)
		} else {
			entry["target"] = r.SHA
			entry["message"] = messages[r.Name]
			entry["release"] = nil
		}
		out = append(out, entry)
	}
	c.WritePage(out, pg, len(names))
	return nil
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
	c.W.Header().Set("Content-Type", "text/plain; charset=utf-8")
	c.W.Header().Set("X-Content-Type-Options", "nosniff")
	c.W.WriteHeader(http.StatusOK)
	c.W.Write(data)
	return nil
}
