package store

import (
	"context"
	"database/sql"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ciwarden/ciwarden/internal/model"
)

const nsCols = "n.id, n.kind, n.name, n.path, n.full_path, n.full_name, n.parent_id, n.owner_id, n.visibility, n.description, n.traversal, n.pending_delete, n.created_at"

func scanNamespace(row interface{ Scan(...any) error }) (*model.Namespace, error) {
	var n model.Namespace
	dest, finish := namespaceDest(&n)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	finish()
	return &n, nil
}

// namespaceDest returns scan destinations for nsCols and a function that
// completes n once the row is scanned; project queries reuse it for their
// joined namespace.
func namespaceDest(n *model.Namespace) ([]any, func()) {
	var parent, owner sql.NullInt64
	var traversal string
	var created int64
	dest := []any{&n.ID, &n.Kind, &n.Name, &n.Path, &n.FullPath, &n.FullName, &parent, &owner,
		&n.Visibility, &n.Description, &traversal, &n.PendingDelete, &created}
	return dest, func() {
		if parent.Valid {
			n.ParentID = &parent.Int64
		}
		if owner.Valid {
			n.OwnerID = &owner.Int64
		}
		n.Traversal = model.ParseTraversal(traversal)
		n.CreatedAt = fromMicros(created)
	}
}

// CreateNamespace inserts a namespace whose FullPath and FullName the caller
// has computed, and fills in its ID and traversal.
func (q *Queries) CreateNamespace(ctx context.Context, n *model.Namespace) error {
	if n.CreatedAt.IsZero() {
		n.CreatedAt = time.Now().UTC()
	}
	var parentTraversal []int64
	if n.ParentID != nil {
		parent, err := q.Namespace(ctx, *n.ParentID)
		if err != nil {
			return err
		}
		parentTraversal = parent.Traversal
	}
	id, err := q.insert(ctx, `INSERT INTO namespaces (kind, name, path, full_path, full_name, parent_id, owner_id, visibility, description, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		n.Kind, n.Name, n.Path, n.FullPath, n.FullName, n.ParentID, n.OwnerID, n.Visibility, n.Description, micros(n.CreatedAt))
	if err != nil {
		return err
	}
	n.ID = id
	n.Traversal = append(append([]int64{}, parentTraversal...), id)
	_, err = q.exec(ctx, "UPDATE namespaces SET traversal = ? WHERE id = ?", model.TraversalString(n.Traversal), id)
	return err
}

// Namespace loads a namespace by ID, pending deletion or not.
func (q *Queries) Namespace(ctx context.Context, id int64) (*model.Namespace, error) {
	n, err := scanNamespace(q.queryRow(ctx, "SELECT "+nsCols+" FROM namespaces n WHERE n.id = ?", id))
	return n, notFound(err, "namespace")
}

// NamespaceByPath loads a namespace by full path, case-insensitively.
func (q *Queries) NamespaceByPath(ctx context.Context, fullPath string) (*model.Namespace, error) {
	n, err := scanNamespace(q.queryRow(ctx, "SELECT "+nsCols+" FROM namespaces n WHERE lower(n.full_path) = lower(?)", fullPath))
	return n, notFound(err, "namespace")
}

// UpdateNamespace saves name, path, description and visibility, and carries
// a changed path or name down to every descendant's full path and name.
func (q *Queries) UpdateNamespace(ctx context.Context, old, n *model.Namespace) error {
	defer q.changed(resetChange, 0)
	_, err := q.exec(ctx, "UPDATE namespaces SET name = ?, path = ?, full_path = ?, full_name = ?, visibility = ?, description = ? WHERE id = ?",
		n.Name, n.Path, n.FullPath, n.FullName, n.Visibility, n.Description, n.ID)
	if err != nil {
		return q.d.mapErr(err)
	}
	under := model.TraversalString(n.Traversal) + "%"
	// substr counts characters in both dialects, not bytes: names may be
	// non-ASCII.
	if old.FullPath != n.FullPath {
		if _, err := q.exec(ctx, "UPDATE namespaces SET full_path = ? || substr(full_path, ?) WHERE traversal LIKE ? AND id <> ?",
			n.FullPath, utf8.RuneCountInString(old.FullPath)+1, under, n.ID); err != nil {
			return q.d.mapErr(err)
		}
	}
	if old.FullName != n.FullName {
		if _, err := q.exec(ctx, "UPDATE namespaces SET full_name = ? || substr(full_name, ?) WHERE traversal LIKE ? AND id <> ?",
			n.FullName, utf8.RuneCountInString(old.FullName)+1, under, n.ID); err != nil {
			return err
		}
	}
	return nil
}

// MarkNamespaceForDeletion hides a group, its subgroups and their projects
// at once; the reaper removes them afterwards.
func (q *Queries) MarkNamespaceForDeletion(ctx context.Context, n *model.Namespace) error {
	defer q.changed(resetChange, 0)
	under := model.TraversalString(n.Traversal) + "%"
	if _, err := q.exec(ctx, "UPDATE namespaces SET pending_delete = ? WHERE traversal LIKE ?", true, under); err != nil {
		return err
	}
	_, err := q.exec(ctx, "UPDATE projects SET pending_delete = ? WHERE namespace_id IN (SELECT id FROM namespaces WHERE traversal LIKE ?)", true, under)
	return err
}

// GroupFilter narrows ListGroups.
type GroupFilter struct {
	Viewer       Viewer
	ParentID     *int64 // direct children of this group
	TopLevelOnly bool
	AllAvailable bool // every group the viewer can see, not only their memberships
	Search       string
	Owned        bool
}

// Viewer is who a listing is for; it decides what the visibility filter
// lets through. It mirrors authz.Decide's visibility rule in SQL.
type Viewer struct {
	UserID int64 // 0: anonymous
	Admin  bool
}

// groupVisible is the SQL form of "viewer can read group n": public, or
// internal for any signed-in user, or a membership in the group, an
// ancestor, a descendant group, or a project beneath it.
func groupVisible(v Viewer, now int64) (string, []any) {
	if v.Admin {
		return "1 = 1", nil
	}
	if v.UserID == 0 {
		return "n.visibility = 'public'", nil
	}
	return `(n.visibility IN ('public', 'internal') OR ` + groupMembership("") + `)`, groupMembershipArgs(v.UserID, now)
}

// groupMembership is "viewer belongs to n, an ancestor or a descendant of
// n, or a project beneath n". levelCond narrows the membership.
func groupMembership(levelCond string) string {
	return `(EXISTS (SELECT 1 FROM group_members gm JOIN namespaces a ON a.id = gm.namespace_id
	    WHERE gm.user_id = ? AND (gm.expires_at IS NULL OR gm.expires_at > ?)` + levelCond + `
	      AND (n.traversal LIKE a.traversal || '%' OR a.traversal LIKE n.traversal || '%'))
	  OR EXISTS (SELECT 1 FROM project_members pm JOIN projects p ON p.id = pm.project_id JOIN namespaces pn ON pn.id = p.namespace_id
	    WHERE pm.user_id = ? AND (pm.expires_at IS NULL OR pm.expires_at > ?) AND pn.traversal LIKE n.traversal || '%'))`
}

func groupMembershipArgs(uid, now int64) []any { return []any{uid, now, uid, now} }

// ListGroups returns one page of groups ordered by full path.
func (q *Queries) ListGroups(ctx context.Context, f GroupFilter, page Page) ([]*model.Namespace, int, error) {
	now := micros(time.Now())
	where := []string{"n.kind = 'group'", "n.pending_delete = ?"}
	args := []any{false}
	if f.AllAvailable || f.Viewer.Admin || f.Viewer.UserID == 0 || f.ParentID != nil {
		cond, a := groupVisible(f.Viewer, now)
		where = append(where, cond)
		args = append(args, a...)
	} else {
		where = append(where, groupMembership(""))
		args = append(args, groupMembershipArgs(f.Viewer.UserID, now)...)
	}
	if f.Owned {
		where = append(where, `EXISTS (SELECT 1 FROM group_members gm WHERE gm.namespace_id = n.id AND gm.user_id = ? AND gm.access_level = 50
		  AND (gm.expires_at IS NULL OR gm.expires_at > ?))`)
		args = append(args, f.Viewer.UserID, now)
	}
	if f.ParentID != nil {
		where = append(where, "n.parent_id = ?")
		args = append(args, *f.ParentID)
	}
	if f.TopLevelOnly {
		where = append(where, "n.parent_id IS NULL")
	}
	if f.Search != "" {
		where = append(where, `(lower(n.name) LIKE ? ESCAPE '\' OR lower(n.path) LIKE ? ESCAPE '\')`)
		s := likePattern(f.Search)
		args = append(args, s, s)
	}
	cond := " WHERE " + strings.Join(where, " AND ")
	var total int
	if err := q.queryRow(ctx, "SELECT COUNT(*) FROM namespaces n"+cond, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := q.query(ctx, "SELECT "+nsCols+" FROM namespaces n"+cond+" ORDER BY lower(n.full_path), n.id LIMIT ? OFFSET ?",
		append(args, page.Limit(), page.Offset())...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []*model.Namespace
	for rows.Next() {
		n, err := scanNamespace(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, n)
	}
	return out, total, rows.Err()
}

// PendingDeletion lists what the reaper has still to remove.
func (q *Queries) PendingDeletion(ctx context.Context) (projects, namespaces []int64, err error) {
	if projects, err = q.ids(ctx, "SELECT id FROM projects WHERE pending_delete = ? ORDER BY id", true); err != nil {
		return nil, nil, err
	}
	// Deepest first would not matter: ON DELETE CASCADE removes subgroups.
	namespaces, err = q.ids(ctx, "SELECT id FROM namespaces WHERE pending_delete = ? ORDER BY id", true)
	return projects, namespaces, err
}

// DeleteProjectRow removes a project and, by cascade, its memberships.
func (q *Queries) DeleteProjectRow(ctx context.Context, id int64) error {
	defer q.changed(resetChange, 0)
	_, err := q.exec(ctx, "DELETE FROM projects WHERE id = ?", id)
	return err
}

// DeleteNamespaceRow removes a namespace and, by cascade, everything in it.
func (q *Queries) DeleteNamespaceRow(ctx context.Context, id int64) error {
	defer q.changed(resetChange, 0)
	_, err := q.exec(ctx, "DELETE FROM namespaces WHERE id = ?", id)
	return err
}

func (q *Queries) ids(ctx context.Context, query string, args ...any) ([]int64, error) {
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// MaxChildVisibility is the most open visibility among a group's direct
// subgroups and projects (private when it has none).
func (q *Queries) MaxChildVisibility(ctx context.Context, id int64) (model.Visibility, error) {
	rows, err := q.query(ctx, "SELECT visibility FROM namespaces WHERE parent_id = ? UNION SELECT visibility FROM projects WHERE namespace_id = ?", id, id)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	max := model.Private
	for rows.Next() {
		var v model.Visibility
		if err := rows.Scan(&v); err != nil {
			return "", err
		}
		if v.Rank() > max.Rank() {
			max = v
		}
	}
	return max, rows.Err()
}
