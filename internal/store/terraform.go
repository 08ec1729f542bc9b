package store

import (
	"context"
	"database/sql"
	"time"

	"github.com/ciwarden/ciwarden/internal/model"
)

const tfStateCols = "id, project_id, name, lock_id, lock_info, locked_by, locked_at, created_at, updated_at"

const tfVersionCols = "id, state_id, serial, blob_key, size, created_by, job_id, created_at"

func scanTerraformState(row interface{ Scan(...any) error }) (*model.TerraformState, error) {
	var s model.TerraformState
	var lockID, lockInfo sql.NullString
	var lockedBy, lockedAt sql.NullInt64
	var created, updated int64
	if err := row.Scan(&s.ID, &s.ProjectID, &s.Name, &lockID, &lockInfo, &lockedBy, &lockedAt, &created, &updated); err != nil {
		return nil, err
	}
	if lockID.Valid {
		s.Lock = &model.TerraformLock{ID: lockID.String, Info: lockInfo.String, UserID: lockedBy.Int64, LockedAt: fromMicros(lockedAt.Int64)}
	}
	s.CreatedAt, s.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &s, nil
}

func scanTerraformVersion(row interface{ Scan(...any) error }) (*model.TerraformStateVersion, error) {
	var v model.TerraformStateVersion
	var job sql.NullInt64
	var created int64
	if err := row.Scan(&v.ID, &v.StateID, &v.Serial, &v.BlobKey, &v.Size, &v.CreatedBy, &job, &created); err != nil {
		return nil, err
	}
	if job.Valid {
		v.JobID = &job.Int64
	}
	v.CreatedAt = fromMicros(created)
	return &v, nil
}

// TerraformState loads a project's state by name, with its newest
// version.
func (q *Queries) TerraformState(ctx context.Context, projectID int64, name string) (*model.TerraformState, error) {
	s, err := scanTerraformState(q.queryRow(ctx, "SELECT "+tfStateCols+" FROM terraform_states WHERE project_id = ? AND name = ?", projectID, name))
	if err != nil {
		return nil, notFound(err, "terraform state")
	}
	if s.Latest, err = q.latestTerraformVersion(ctx, s.ID); err != nil {
		return nil, err
	}
	return s, nil
}

func (q *Queries) latestTerraformVersion(ctx context.Context, stateID int64) (*model.TerraformStateVersion, error) {
	v, err := scanTerraformVersion(q.queryRow(ctx, "SELECT "+tfVersionCols+" FROM terraform_state_versions WHERE state_id = ? ORDER BY serial DESC LIMIT 1", stateID))
	if err == sql.ErrNoRows {
		return nil, nil
	}
	return v, err
}

// EnsureTerraformState finds project's state name, creating it when
// missing; concurrent callers get the same row.
func (q *Queries) EnsureTerraformState(ctx context.Context, projectID int64, name string, now time.Time) (*model.TerraformState, error) {
	if _, err := q.exec(ctx, `INSERT INTO terraform_states (project_id, name, created_at, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (project_id, name) DO NOTHING`, projectID, name, micros(now), micros(now)); err != nil {
		return nil, q.d.mapErr(err)
	}
	return q.TerraformState(ctx, projectID, name)
}

// LockTerraformState takes the lock of state stateID for lock, if nobody
// holds it, reporting whether it did.
func (q *Queries) LockTerraformState(ctx context.Context, stateID int64, lock model.TerraformLock) (bool, error) {
	res, err := q.exec(ctx, `UPDATE terraform_states SET lock_id = ?, lock_info = ?, locked_by = ?, locked_at = ?, updated_at = ?
		WHERE id = ? AND lock_id IS NULL`, lock.ID, lock.Info, lock.UserID, micros(lock.LockedAt), micros(lock.LockedAt), stateID)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// UnlockTerraformState releases state stateID's lock.
func (q *Queries) UnlockTerraformState(ctx context.Context, stateID int64, now time.Time) error {
	_, err := q.exec(ctx, "UPDATE terraform_states SET lock_id = NULL, lock_info = NULL, locked_by = NULL, locked_at = NULL, updated_at = ? WHERE id = ?",
		micros(now), stateID)
	return err
}

// LockTerraformStateRow serialises the writers of one state for the rest
// of the transaction (PostgreSQL; SQLite's transactions hold the
// database's write lock), so that a lock check and the write it guards
// see the same lock.
func (q *Queries) LockTerraformStateRow(ctx context.Context, stateID int64) error {
	return q.d.lockRow(ctx, q, "terraform_states", stateID)
}

// PutTerraformVersion records v (a complete blob) as its state's version
// of v.Serial, replacing the blob of a version with the same serial, whose
// key it returns ("" when the serial is new) for the caller to delete
// after the commit.
func (q *Queries) PutTerraformVersion(ctx context.Context, v *model.TerraformStateVersion) (replaced string, err error) {
	old, err := scanTerraformVersion(q.queryRow(ctx, "SELECT "+tfVersionCols+" FROM terraform_state_versions WHERE state_id = ? AND serial = ?", v.StateID, v.Serial))
	switch {
	case err == nil:
		v.ID = old.ID
		_, err = q.exec(ctx, "UPDATE terraform_state_versions SET blob_key = ?, size = ?, created_by = ?, job_id = ?, created_at = ? WHERE id = ?",
			v.BlobKey, v.Size, v.CreatedBy, v.JobID, micros(v.CreatedAt), v.ID)
		replaced = old.BlobKey
	case err == sql.ErrNoRows:
		v.ID, err = q.insert(ctx, "INSERT INTO terraform_state_versions (state_id, serial, blob_key, size, created_by, job_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
			v.StateID, v.Serial, v.BlobKey, v.Size, v.CreatedBy, v.JobID, micros(v.CreatedAt))
	}
	if err != nil {
		return "", err
	}
	_, err = q.exec(ctx, "UPDATE terraform_states SET updated_at = ? WHERE id = ?", micros(v.CreatedAt), v.StateID)
	return replaced, err
}

// TerraformVersion is version serial of state stateID.
func (q *Queries) TerraformVersion(ctx context.Context, stateID, serial int64) (*model.TerraformStateVersion, error) {
	v, err := scanTerraformVersion(q.queryRow(ctx, "SELECT "+tfVersionCols+" FROM terraform_state_versions WHERE state_id = ? AND serial = ?", stateID, serial))
	return v, notFound(err, "terraform state version")
}

// TerraformVersions is one page of a state's versions, newest first, and
// their number.
func (q *Queries) TerraformVersions(ctx context.Context, stateID int64, pg Page) ([]*model.TerraformStateVersion, int, error) {
	var total int
	if err := q.queryRow(ctx, "SELECT COUNT(*) FROM terraform_state_versions WHERE state_id = ?", stateID).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := q.query(ctx, "SELECT "+tfVersionCols+" FROM terraform_state_versions WHERE state_id = ? ORDER BY serial DESC LIMIT ? OFFSET ?",
		stateID, pg.Limit(), pg.Offset())
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []*model.TerraformStateVersion
	for rows.Next() {
		v, err := scanTerraformVersion(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, v)
	}
	return out, total, rows.Err()
}

// DeleteTerraformVersion removes version serial of state stateID,
// returning its blob's key.
func (q *Queries) DeleteTerraformVersion(ctx context.Context, stateID, serial int64) (string, error) {
	v, err := q.TerraformVersion(ctx, stateID, serial)
	if err != nil {
		return "", err
	}
	_, err = q.exec(ctx, "DELETE FROM terraform_state_versions WHERE id = ?", v.ID)
	return v.BlobKey, err
}

// DeleteTerraformState removes a state and its versions, returning their
// blobs' keys.
func (q *Queries) DeleteTerraformState(ctx context.Context, stateID int64) ([]string, error) {
	rows, err := q.query(ctx, "SELECT blob_key FROM terraform_state_versions WHERE state_id = ?", stateID)
	if err != nil {
		return nil, err
	}
	var keys []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			rows.Close()
			return nil, err
		}
		keys = append(keys, k)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	_, err = q.exec(ctx, "DELETE FROM terraform_states WHERE id = ?", stateID)
	return keys, err
}

// TerraformStates is one page of a project's states by name, each with
// its newest version, and their number.
func (q *Queries) TerraformStates(ctx context.Context, projectID int64, pg Page) ([]*model.TerraformState, int, error) {
	var total int
	if err := q.queryRow(ctx, "SELECT COUNT(*) FROM terraform_states WHERE project_id = ?", projectID).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := q.query(ctx, "SELECT "+tfStateCols+" FROM terraform_states WHERE project_id = ? ORDER BY name LIMIT ? OFFSET ?",
		projectID, pg.Limit(), pg.Offset())
	if err != nil {
		return nil, 0, err
	}
	var out []*model.TerraformState
	for rows.Next() {
		s, err := scanTerraformState(rows)
		if err != nil {
			rows.Close()
			return nil, 0, err
		}
		out = append(out, s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	for _, s := range out {
		if s.Latest, err = q.latestTerraformVersion(ctx, s.ID); err != nil {
			return nil, 0, err
		}
	}
	return out, total, nil
}

// SealedTerraformVersions is a batch of state versions (ID, and blob
// key in Key) with IDs above after, for key rotation: their blobs are
// sealed.
func (q *Queries) SealedTerraformVersions(ctx context.Context, after int64, limit int) ([]Sealed, error) {
	return q.sealed(ctx, "SELECT id, '', blob_key, '', NULL FROM terraform_state_versions WHERE id > ? ORDER BY id LIMIT ?", after, limit)
}

// TerraformVersionKey reports whether version id still holds blob key.
func (q *Queries) TerraformVersionKey(ctx context.Context, id int64, key string) (bool, error) {
	var n int
	err := q.queryRow(ctx, "SELECT COUNT(*) FROM terraform_state_versions WHERE id = ? AND blob_key = ?", id, key).Scan(&n)
	return n == 1, err
}
