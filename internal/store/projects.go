package store

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/ciwarden/ciwarden/internal/model"
)

const projectCols = "p.id, p.name, p.path, p.description, p.namespace_id, p.visibility, p.default_branch, p.creator_id, p.pending_delete, p.ci_push_repository_for_job_token_allowed, p.ci_outbound_job_token_scope_enabled, p.ci_inbound_job_token_scope_enabled, p.job_token_scope_version, p.created_at, p.updated_at, " + nsCols

const projectFrom = " FROM projects p JOIN namespaces n ON n.id = p.namespace_id"

func scanProject(row interface{ Scan(...any) error }) (*model.Project, error) {
	var p model.Project
	var created, updated int64
	var ns model.Namespace
	dest := []any{&p.ID, &p.Name, &p.Path, &p.Description, &p.NamespaceID, &p.Visibility, &p.DefaultBranch,
		&p.CreatorID, &p.PendingDelete, &p.CIPushRepositoryForJobTokenAllowed, &p.JobTokenOutboundEnabled, &p.JobTokenInboundEnabled, &p.JobTokenScopeVersion, &created, &updated}
	nsDest, nsFinish := namespaceDest(&ns)
	if err := row.Scan(append(dest, nsDest...)...); err != nil {
		return nil, err
	}
	nsFinish()
	p.Namespace = &ns
	p.CreatedAt = fromMicros(created)
	p.UpdatedAt = fromMicros(updated)
	return &p, nil
}

// CreateProject inserts a project into its namespace.
func (q *Queries) CreateProject(ctx context.Context, p *model.Project) error {
	now := time.Now().UTC()
	p.CreatedAt, p.UpdatedAt = now, now
	// Every new project starts with its inbound allowlist in force and
	// no outbound limit (the columns' defaults), as in GitLab.
	p.JobTokenInboundEnabled, p.JobTokenOutboundEnabled = true, false
	id, err := q.insert(ctx, `INSERT INTO projects (name, path, description, namespace_id, visibility, default_branch, creator_id, ci_push_repository_for_job_token_allowed, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		p.Name, p.Path, p.Description, p.NamespaceID, p.Visibility, p.DefaultBranch, p.CreatorID, p.CIPushRepositoryForJobTokenAllowed, micros(now), micros(now))
	p.ID = id
	return err
}

// Project loads a project by ID with its namespace, pending deletion or not.
func (q *Queries) Project(ctx context.Context, id int64) (*model.Project, error) {
	p, err := scanProject(q.queryRow(ctx, "SELECT "+projectCols+projectFrom+" WHERE p.id = ?", id))
	return p, notFound(err, "project")
}

// ProjectByPath loads a project by full path ("grp/sub/proj"),
// case-insensitively.
func (q *Queries) ProjectByPath(ctx context.Context, fullPath string) (*model.Project, error) {
	i := strings.LastIndexByte(fullPath, '/')
	if i <= 0 {
		return nil, notFound(sql.ErrNoRows, "project")
	}
	p, err := scanProject(q.queryRow(ctx, "SELECT "+projectCols+projectFrom+" WHERE lower(n.full_path) = lower(?) AND lower(p.path) = lower(?)",
		fullPath[:i], fullPath[i+1:]))
	return p, notFound(err, "project")
}

// UpdateProject saves a project's editable fields.
func (q *Queries) UpdateProject(ctx context.Context, p *model.Project) error {
	defer q.changed(resetChange, 0)
	p.UpdatedAt = time.Now().UTC()
	res, err := q.exec(ctx, `UPDATE projects SET name = ?, path = ?, description = ?, visibility = ?, default_branch = ?,
		ci_push_repository_for_job_token_allowed = ?, updated_at = ? WHERE id = ?`,
		p.Name, p.Path, p.Description, p.Visibility, p.DefaultBranch, p.CIPushRepositoryForJobTokenAllowed, micros(p.UpdatedAt), p.ID)
	if err != nil {
		return q.d.mapErr(err)
	}
	return affected(res, nil, "project")
}

// MarkProjectForDeletion hides a project at once; the reaper removes it.
func (q *Queries) MarkProjectForDeletion(ctx context.Context, id int64) error {
	defer q.changed(resetChange, 0)
	res, err := q.exec(ctx, "UPDATE projects SET pending_delete = ? WHERE id = ?", true, id)
	return affected(res, err, "project")
}

// ProjectFilter narrows ListProjects.
type ProjectFilter struct {
	Viewer         Viewer
	Membership     bool // only projects the viewer is a member of
	Owned          bool // only projects in the viewer's personal namespace
	MinAccessLevel model.AccessLevel
	Visibility     model.Visibility
	Search         string
	NamespaceID    int64 // only this namespace...
	WithSubgroups  bool  // ...and, if set, every namespace beneath it
	OrderBy        string
	Sort           string
}

// projectVisible is the SQL form of "viewer can read project p": the same
// rule as authz.Decide, for listings.
func projectVisible(v Viewer, now int64) (string, []any) {
	if v.Admin {
		return "1 = 1", nil
	}
	if v.UserID == 0 {
		return "p.visibility = 'public'", nil
	}
	cond, args := projectMembership(v.UserID, now, 0)
	return "(p.visibility IN ('public', 'internal') OR " + cond + ")", args
}

// projectMembership is "the viewer's effective level on p is at least min"
// (any level when min is 0): a direct membership, a membership of an
// ancestor group, or ownership of the personal namespace.
func projectMembership(uid, now int64, min model.AccessLevel) (string, []any) {
	return `(n.owner_id = ?
	  OR EXISTS (SELECT 1 FROM project_members pm WHERE pm.project_id = p.id AND pm.user_id = ? AND pm.access_level >= ? AND (pm.expires_at IS NULL OR pm.expires_at > ?))
	  OR EXISTS (SELECT 1 FROM group_members gm JOIN namespaces a ON a.id = gm.namespace_id
	    WHERE gm.user_id = ? AND gm.access_level >= ? AND (gm.expires_at IS NULL OR gm.expires_at > ?) AND n.traversal LIKE a.traversal || '%'))`,
		[]any{uid, uid, int(min), now, uid, int(min), now}
}

var projectOrder = map[string]string{
	"id": "p.id", "name": "lower(p.name)", "path": "lower(p.path)", "created_at": "p.created_at",
	"updated_at": "p.updated_at", "last_activity_at": "p.updated_at",
}

// ValidProjectOrder reports whether ListProjects can order by name.
func ValidProjectOrder(name string) bool { _, ok := projectOrder[name]; return ok }

// ListProjects returns one page of the projects the viewer may see.
func (q *Queries) ListProjects(ctx context.Context, f ProjectFilter, page Page) ([]*model.Project, int, error) {
	now := micros(time.Now())
	where := []string{"p.pending_delete = ?"}
	args := []any{false}
	cond, a := projectVisible(f.Viewer, now)
	where = append(where, cond)
	args = append(args, a...)
	if f.Membership || f.MinAccessLevel > 0 {
		cond, a := projectMembership(f.Viewer.UserID, now, f.MinAccessLevel)
		where = append(where, cond)
		args = append(args, a...)
	}
	if f.Owned {
		where = append(where, "n.owner_id = ?")
		args = append(args, f.Viewer.UserID)
	}
	if f.Visibility != "" {
		where = append(where, "p.visibility = ?")
		args = append(args, string(f.Visibility))
	}
	if f.Search != "" {
		where = append(where, `(lower(p.name) LIKE ? ESCAPE '\' OR lower(p.path) LIKE ? ESCAPE '\' OR lower(n.full_path || '/' || p.path) LIKE ? ESCAPE '\')`)
		s := likePattern(f.Search)
		args = append(args, s, s, s)
	}
	if f.NamespaceID != 0 {
		if f.WithSubgroups {
			where = append(where, "n.traversal LIKE (SELECT traversal FROM namespaces WHERE id = ?) || '%'")
		} else {
			where = append(where, "p.namespace_id = ?")
		}
		args = append(args, f.NamespaceID)
	}
	order := projectOrder[f.OrderBy]
	if order == "" {
		order = "p.created_at"
	}
	dir := "DESC"
	if f.Sort == "asc" {
		dir = "ASC"
	}
	where2 := " WHERE " + strings.Join(where, " AND ")
	var total int
	if err := q.queryRow(ctx, "SELECT COUNT(*)"+projectFrom+where2, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := q.query(ctx, "SELECT "+projectCols+projectFrom+where2+" ORDER BY "+order+" "+dir+", p.id "+dir+" LIMIT ? OFFSET ?",
		append(args, page.Limit(), page.Offset())...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []*model.Project
	for rows.Next() {
		p, err := scanProject(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, p)
	}
	return out, total, rows.Err()
}
