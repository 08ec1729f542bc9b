package api

import (
	"strings"
	"time"

	"github.com/ciwarden/ciwarden/internal/model"
)

// GitLab's JSON shapes. Field names follow GitLab's API entities so that
// existing clients decode them unchanged.

func timeJSON(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func dateJSON(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UTC().Format(time.DateOnly)
}

func timePtrJSON(t *time.Time) any {
	if t == nil {
		return nil
	}
	return timeJSON(*t)
}

func (a *API) webURL(path string) string {
	return strings.TrimSuffix(a.ExternalURL, "/") + "/" + path
}

// userJSON is GitLab's UserBasic; full adds what only the user themself or
// an admin may see.
func (a *API) userJSON(u *model.User, full bool) map[string]any {
	m := map[string]any{
		"id": u.ID, "username": u.Username, "name": u.Name, "state": u.State(), "locked": false,
		"avatar_url": nil, "web_url": a.webURL(u.Username), "created_at": timeJSON(u.CreatedAt),
	}
	if full {
		m["email"] = u.Email
		m["public_email"] = nil
		m["is_admin"] = u.Admin
		m["namespace_id"] = u.NamespaceID
		m["bot"] = false
		m["external"] = false
	}
	return m
}

func patJSON(t *model.PersonalAccessToken, now time.Time) map[string]any {
	scopes := t.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	return map[string]any{
		"id": t.ID, "name": t.Name, "revoked": t.Revoked, "created_at": timeJSON(t.CreatedAt), "scopes": scopes,
		"user_id": t.UserID, "last_used_at": timePtrJSON(t.LastUsedAt), "active": t.Active(now), "expires_at": dateJSON(t.ExpiresAt),
		"description": "",
	}
}

func (a *API) namespaceJSON(n *model.Namespace) map[string]any {
	return map[string]any{
		"id": n.ID, "name": n.Name, "path": n.Path, "kind": n.Kind, "full_path": n.FullPath,
		"parent_id": n.ParentID, "avatar_url": nil, "web_url": a.webURL(n.FullPath),
	}
}

func (a *API) groupJSON(n *model.Namespace) map[string]any {
	return map[string]any{
		"id": n.ID, "name": n.Name, "path": n.Path, "description": n.Description, "visibility": n.Visibility,
		"full_name": n.FullName, "full_path": n.FullPath, "parent_id": n.ParentID, "created_at": timeJSON(n.CreatedAt),
		"web_url": a.webURL("groups/" + n.FullPath), "avatar_url": nil,
	}
}

func (a *API) projectJSON(p *model.Project) map[string]any {
	m := a.basicProjectJSON(p)
	m["visibility"], m["archived"], m["creator_id"] = p.Visibility, false, p.CreatorID
	m["empty_repo"] = !a.Repos.HasBranches(p.ID)
	m["marked_for_deletion_on"] = nil
	m["ci_push_repository_for_job_token_allowed"] = p.CIPushRepositoryForJobTokenAllowed
	m["_links"] = map[string]string{"self": a.webURL("api/v4/projects/" + itoa(p.ID))}
	return m
}

// basicProjectJSON is the fields every project entity carries.
func (a *API) basicProjectJSON(p *model.Project) map[string]any {
	full := p.FullPath()
	return map[string]any{
		"id": p.ID, "description": p.Description, "name": p.Name, "name_with_namespace": p.FullName(),
		"path": p.Path, "path_with_namespace": full, "created_at": timeJSON(p.CreatedAt),
		"last_activity_at": timeJSON(p.UpdatedAt), "default_branch": p.DefaultBranch,
		"web_url": a.webURL(full), "http_url_to_repo": a.webURL(full + ".git"), "readme_url": nil,
		"namespace": a.namespaceJSON(p.Namespace), "topics": []string{}, "tag_list": []string{},
	}
}

func (a *API) memberJSON(m *model.Member) map[string]any {
	out := a.userJSON(m.User, false)
	out["access_level"] = int(m.AccessLevel)
	out["expires_at"] = dateJSON(m.ExpiresAt)
	out["created_at"] = timeJSON(m.CreatedAt)
	out["membership_state"] = "active"
	return out
}
