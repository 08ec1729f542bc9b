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

// namespaceEntity is GitLab's NamespaceBasic.
type namespaceEntity struct {
	ID        int64   `json:"id"`
	Name      string  `json:"name"`
	Path      string  `json:"path"`
	Kind      string  `json:"kind"`
	FullPath  string  `json:"full_path"`
	ParentID  *int64  `json:"parent_id"`
	AvatarURL *string `json:"avatar_url"`
	WebURL    string  `json:"web_url"`
}

func (a *API) namespaceEntity(n *model.Namespace) namespaceEntity {
	return namespaceEntity{ID: n.ID, Name: n.Name, Path: n.Path, Kind: n.Kind, FullPath: n.FullPath, ParentID: n.ParentID,
		WebURL: a.webURL(n.FullPath)}
}

func (a *API) groupJSON(n *model.Namespace) map[string]any {
	return map[string]any{
		"id": n.ID, "name": n.Name, "path": n.Path, "description": n.Description, "visibility": n.Visibility,
		"full_name": n.FullName, "full_path": n.FullPath, "parent_id": n.ParentID, "created_at": timeJSON(n.CreatedAt),
		"web_url": a.webURL("groups/" + n.FullPath), "avatar_url": nil,
	}
}

// projectEntity is GitLab's project entity, as far as ciwarden keeps
// its fields.
type projectEntity struct {
	basicProject
	Visibility                         model.Visibility `json:"visibility"`
	EmptyRepo                          bool             `json:"empty_repo"`
	Archived                           bool             `json:"archived"`
	CreatorID                          int64            `json:"creator_id"`
	MarkedForDeletionOn                *string          `json:"marked_for_deletion_on"`
	CIPushRepositoryForJobTokenAllowed bool             `json:"ci_push_repository_for_job_token_allowed"`
	Links                              struct {
		Self string `json:"self"`
	} `json:"_links"`
}

func (a *API) projectJSON(p *model.Project) *projectEntity {
	e := &projectEntity{basicProject: a.basicProject(p), Visibility: p.Visibility, EmptyRepo: !a.Repos.HasBranches(p.ID), CreatorID: p.CreatorID,
		CIPushRepositoryForJobTokenAllowed: p.CIPushRepositoryForJobTokenAllowed}
	e.Links.Self = a.webURL("api/v4/projects/" + itoa(p.ID))
	return e
}

// basicProject is the fields every project entity carries (GitLab's
// BasicProjectDetails).
type basicProject struct {
	ID                int64           `json:"id"`
	Description       string          `json:"description"`
	Name              string          `json:"name"`
	NameWithNamespace string          `json:"name_with_namespace"`
	Path              string          `json:"path"`
	PathWithNamespace string          `json:"path_with_namespace"`
	CreatedAt         string          `json:"created_at"`
	LastActivityAt    string          `json:"last_activity_at"`
	DefaultBranch     string          `json:"default_branch"`
	WebURL            string          `json:"web_url"`
	HTTPURLToRepo     string          `json:"http_url_to_repo"`
	ReadmeURL         *string         `json:"readme_url"`
	Namespace         namespaceEntity `json:"namespace"`
	Topics            []string        `json:"topics"`
	TagList           []string        `json:"tag_list"`
}

func (a *API) basicProject(p *model.Project) basicProject {
	full := p.FullPath()
	return basicProject{ID: p.ID, Description: p.Description, Name: p.Name, NameWithNamespace: p.FullName(), Path: p.Path,
		PathWithNamespace: full, CreatedAt: timeJSON(p.CreatedAt), LastActivityAt: timeJSON(p.UpdatedAt),
		DefaultBranch: p.DefaultBranch, WebURL: a.webURL(full), HTTPURLToRepo: a.webURL(full + ".git"),
		Namespace: a.namespaceEntity(p.Namespace), Topics: []string{}, TagList: []string{}}
}

func (a *API) memberJSON(m *model.Member) map[string]any {
	out := a.userJSON(m.User, false)
	out["access_level"] = int(m.AccessLevel)
	out["expires_at"] = dateJSON(m.ExpiresAt)
	out["created_at"] = timeJSON(m.CreatedAt)
	out["membership_state"] = "active"
	return out
}
