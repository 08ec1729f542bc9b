package store

import (
	"context"
	"database/sql"

	"github.com/ciwarden/ciwarden/internal/model"
)

const ciVariableColumns = "id, owner, key, value_sealed, variable_type, protected, masked, hidden, raw, environment_scope, description, created_at, updated_at"

func scanCIVariable(row interface{ Scan(...any) error }) (*model.CIVariable, error) {
	var v model.CIVariable
	var owner string
	var desc sql.NullString
	var created, updated int64
	if err := row.Scan(&v.ID, &owner, &v.Key, &v.Sealed, &v.Type, &v.Protected, &v.Masked, &v.Hidden, &v.Raw,
		&v.EnvironmentScope, &desc, &created, &updated); err != nil {
		return nil, err
	}
	v.Owner = model.ParseVariableOwner(owner)
	if desc.Valid {
		v.Description = &desc.String
	}
	v.CreatedAt, v.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &v, nil
}

// ciVariables runs a SELECT of variables; where ends with its ORDER BY.
func (q *Queries) ciVariables(ctx context.Context, where string, args ...any) ([]*model.CIVariable, error) {
	rows, err := q.query(ctx, "SELECT "+ciVariableColumns+" FROM ci_variables WHERE "+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*model.CIVariable
	for rows.Next() {
		v, err := scanCIVariable(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// CIVariables lists one owner's variables in creation order.
func (q *Queries) CIVariables(ctx context.Context, owner model.VariableOwner) ([]*model.CIVariable, error) {
	return q.ciVariables(ctx, "owner = ? ORDER BY id", owner.String())
}

// CIVariablesOf lists the variables of several owners (a job's project,
// its groups and the instance), in creation order.
func (q *Queries) CIVariablesOf(ctx context.Context, owners []model.VariableOwner) ([]*model.CIVariable, error) {
	if len(owners) == 0 {
		return nil, nil
	}
	args := make([]any, len(owners))
	for i, o := range owners {
		args[i] = o.String()
	}
	return q.ciVariables(ctx, "owner IN ("+placeholders(len(owners))+") ORDER BY id", args...)
}

// InsertCIVariable adds v (with its value sealed) and sets its ID;
// model.ErrConflict when its owner has the key in that scope.
func (q *Queries) InsertCIVariable(ctx context.Context, v *model.CIVariable) error {
	var project, group any
	switch v.Owner.Kind {
	case model.OwnerProject:
		project = v.Owner.ID
	case model.OwnerGroup:
		group = v.Owner.ID
	}
	id, err := q.insert(ctx, "INSERT INTO ci_variables (owner, project_id, group_id, key, value_sealed, variable_type, protected, masked, hidden, raw, environment_scope, description, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		v.Owner.String(), project, group, v.Key, v.Sealed, v.Type, v.Protected, v.Masked, v.Hidden, v.Raw, v.EnvironmentScope, v.Description,
		micros(v.CreatedAt), micros(v.UpdatedAt))
	if err != nil {
		return q.d.mapErr(err)
	}
	v.ID = id
	return nil
}

// UpdateCIVariable writes every attribute of v but its owner and key;
// model.ErrConflict when the new scope holds the key already.
func (q *Queries) UpdateCIVariable(ctx context.Context, v *model.CIVariable) error {
	res, err := q.exec(ctx, "UPDATE ci_variables SET value_sealed = ?, variable_type = ?, protected = ?, masked = ?, hidden = ?, raw = ?, environment_scope = ?, description = ?, updated_at = ? WHERE id = ?",
		v.Sealed, v.Type, v.Protected, v.Masked, v.Hidden, v.Raw, v.EnvironmentScope, v.Description, micros(v.UpdatedAt), v.ID)
	if err != nil {
		return q.d.mapErr(err)
	}
	return oneRow(res)
}

// DeleteCIVariable removes a variable.
func (q *Queries) DeleteCIVariable(ctx context.Context, id int64) error {
	res, err := q.exec(ctx, "DELETE FROM ci_variables WHERE id = ?", id)
	if err != nil {
		return err
	}
	return oneRow(res)
}

func oneRow(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return errNotFound
	}
	return nil
}
