package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/ciwarden/ciwarden/internal/model"
)

// StorageID is the identity recorded for a local store ("repositories",
// "blobs"); "" when none is recorded yet.
func (q *Queries) StorageID(ctx context.Context, store string) (string, error) {
	var id string
	err := q.queryRow(ctx, "SELECT storage_id FROM storage_ids WHERE store = ?", store).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return id, err
}

// ClaimStorageID records id as store's identity unless one is recorded
// already, and returns the recorded one: of replicas claiming at once,
// the first insert wins and every one reads it.
func (q *Queries) ClaimStorageID(ctx context.Context, store, id string, at time.Time) (string, error) {
	if _, err := q.exec(ctx, "INSERT INTO storage_ids (store, storage_id, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
		store, id, micros(at)); err != nil {
		return "", err
	}
	return q.StorageID(ctx, store)
}

// HoldsRepositories reports whether any project is recorded, that is
// whether the repositories directory should hold something.
func (q *Queries) HoldsRepositories(ctx context.Context) (bool, error) {
	var yes bool
	err := q.queryRow(ctx, "SELECT EXISTS (SELECT 1 FROM projects)").Scan(&yes)
	return yes, err
}

// HoldsBlobs reports whether any artifact or package file is recorded,
// that is whether the blob store should hold something.
func (q *Queries) HoldsBlobs(ctx context.Context) (bool, error) {
	var yes bool
	err := q.queryRow(ctx, "SELECT EXISTS (SELECT 1 FROM job_artifacts) OR EXISTS (SELECT 1 FROM package_files)").Scan(&yes)
	return yes, err
}

// BuiltinRunner is a replica's built-in runner and its sealed token;
// model.ErrNotFound when the replica has none (or its runner was deleted).
func (q *Queries) BuiltinRunner(ctx context.Context, replica string) (*model.Runner, []byte, error) {
	var id int64
	var sealed []byte
	err := q.queryRow(ctx, "SELECT runner_id, token_sealed FROM builtin_runners WHERE replica_name = ?", replica).Scan(&id, &sealed)
	if err != nil {
		return nil, nil, notFound(err, "built-in runner")
	}
	r, err := q.Runner(ctx, id)
	return r, sealed, err
}

// AddBuiltinRunner records runnerID, whose token is sealed, as replica's
// built-in runner, unless the replica has one or the runner is another
// replica's; it reports whether it did.
func (q *Queries) AddBuiltinRunner(ctx context.Context, replica string, runnerID int64, sealed []byte) (bool, error) {
	res, err := q.exec(ctx, "INSERT INTO builtin_runners (replica_name, runner_id, token_sealed) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
		replica, runnerID, sealed)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}
