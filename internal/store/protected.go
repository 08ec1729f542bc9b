package store

import (
	"context"
	"time"

	"github.com/ciwarden/ciwarden/internal/model"
)

const protectedCols = "id, project_id, kind, name, push_access_level, merge_access_level, allow_force_push"

func scanProtectedRef(row interface{ Scan(...any) error }) (*model.ProtectedRef, error) {
	var r model.ProtectedRef
	var push, merge int
	if err := row.Scan(&r.ID, &r.ProjectID, &r.Kind, &r.Name, &push, &merge, &r.AllowForcePush); err != nil {
		return nil, err
	}
	r.PushLevel, r.MergeLevel = model.AccessLevel(push), model.AccessLevel(merge)
	return &r, nil
}

// AddProtectedRef stores a rule; one of the same kind and name is
// ErrConflict.
func (q *Queries) AddProtectedRef(ctx context.Context, r *model.ProtectedRef) error {
	id, err := q.insert(ctx, "INSERT INTO protected_refs (project_id, kind, name, push_access_level, merge_access_level, allow_force_push, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
		r.ProjectID, r.Kind, r.Name, int(r.PushLevel), int(r.MergeLevel), r.AllowForcePush, micros(time.Now()))
	r.ID = id
	return err
}

// UpdateProtectedRef changes a rule's levels and force-push flag.
func (q *Queries) UpdateProtectedRef(ctx context.Context, r *model.ProtectedRef) error {
	res, err := q.exec(ctx, "UPDATE protected_refs SET push_access_level = ?, merge_access_level = ?, allow_force_push = ? WHERE id = ?",
		int(r.PushLevel), int(r.MergeLevel), r.AllowForcePush, r.ID)
	return affected(res, err, "protected ref")
}

// RemoveProtectedRef deletes a project's rule by kind and name.
func (q *Queries) RemoveProtectedRef(ctx context.Context, projectID int64, kind, name string) error {
	res, err := q.exec(ctx, "DELETE FROM protected_refs WHERE project_id = ? AND kind = ? AND name = ?", projectID, kind, name)
	return affected(res, err, "protected ref")
}

// ProtectedRef loads a project's rule by kind and exact name (a wildcard
// by its pattern).
func (q *Queries) ProtectedRef(ctx context.Context, projectID int64, kind, name string) (*model.ProtectedRef, error) {
	r, err := scanProtectedRef(q.queryRow(ctx, "SELECT "+protectedCols+" FROM protected_refs WHERE project_id = ? AND kind = ? AND name = ?",
		projectID, kind, name))
	return r, notFound(err, "protected ref")
}

// ProtectedRefs lists a project's rules of both kinds, by kind then name.
// A project has a handful: every push and pipeline reads them whole.
func (q *Queries) ProtectedRefs(ctx context.Context, projectID int64) (model.ProtectedRefs, error) {
	rows, err := q.query(ctx, "SELECT "+protectedCols+" FROM protected_refs WHERE project_id = ? ORDER BY kind, name", projectID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out model.ProtectedRefs
	for rows.Next() {
		r, err := scanProtectedRef(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
