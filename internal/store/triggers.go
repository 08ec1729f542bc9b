package store

import (
	"context"
	"database/sql"
	"time"

	"github.com/ciwarden/ciwarden/internal/model"
)

const triggerCols = "id, project_id, owner_id, description, short_token, created_at, updated_at, last_used_at"

func scanTrigger(row interface{ Scan(...any) error }) (*model.Trigger, error) {
	var t model.Trigger
	var created, updated int64
	var used sql.NullInt64
	if err := row.Scan(&t.ID, &t.ProjectID, &t.OwnerID, &t.Description, &t.ShortToken, &created, &updated, &used); err != nil {
		return nil, err
	}
	t.CreatedAt, t.UpdatedAt, t.LastUsedAt = fromMicros(created), fromMicros(updated), fromNullMicros(used)
	return &t, nil
}

// CreateTrigger stores a trigger token under the digest of its secret.
func (q *Queries) CreateTrigger(ctx context.Context, t *model.Trigger, digest string) error {
	if t.CreatedAt.IsZero() {
		t.CreatedAt = time.Now().UTC()
	}
	t.UpdatedAt = t.CreatedAt
	id, err := q.insert(ctx, `INSERT INTO pipeline_triggers (project_id, owner_id, description, digest, short_token, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, t.ProjectID, t.OwnerID, t.Description, digest, t.ShortToken, micros(t.CreatedAt), micros(t.UpdatedAt))
	t.ID = id
	return err
}

// TriggerByDigest finds a trigger token by the digest of its secret: one
// indexed lookup.
func (q *Queries) TriggerByDigest(ctx context.Context, digest string) (*model.Trigger, error) {
	t, err := scanTrigger(q.queryRow(ctx, "SELECT "+triggerCols+" FROM pipeline_triggers WHERE digest = ?", digest))
	return t, notFound(err, "trigger")
}

// Trigger loads one trigger token of a project.
func (q *Queries) Trigger(ctx context.Context, projectID, id int64) (*model.Trigger, error) {
	t, err := scanTrigger(q.queryRow(ctx, "SELECT "+triggerCols+" FROM pipeline_triggers WHERE id = ? AND project_id = ?", id, projectID))
	return t, notFound(err, "trigger")
}

// ListTriggers returns one page of a project's trigger tokens.
func (q *Queries) ListTriggers(ctx context.Context, projectID int64, page Page) ([]*model.Trigger, int, error) {
	return listPage(ctx, q, "pipeline_triggers", triggerCols, " WHERE project_id = ?", " ORDER BY id ASC", []any{projectID}, page, scanTrigger)
}

// UpdateTriggerDescription changes a trigger token's description.
func (q *Queries) UpdateTriggerDescription(ctx context.Context, t *model.Trigger, now time.Time) error {
	t.UpdatedAt = now
	res, err := q.exec(ctx, "UPDATE pipeline_triggers SET description = ?, updated_at = ? WHERE id = ?", t.Description, micros(now), t.ID)
	return affected(res, err, "trigger")
}

// TouchTrigger records a trigger token's use.
func (q *Queries) TouchTrigger(ctx context.Context, id int64, now time.Time) error {
	_, err := q.exec(ctx, "UPDATE pipeline_triggers SET last_used_at = ? WHERE id = ?", micros(now), id)
	return err
}

// DeleteTrigger removes a trigger token of a project.
func (q *Queries) DeleteTrigger(ctx context.Context, projectID, id int64) error {
	res, err := q.exec(ctx, "DELETE FROM pipeline_triggers WHERE id = ? AND project_id = ?", id, projectID)
	return affected(res, err, "trigger")
}

// DownstreamPipelines lists the pipelines the jobs in jobIDs triggered,
// oldest first.
func (q *Queries) DownstreamPipelines(ctx context.Context, jobIDs []int64) ([]*model.Pipeline, error) {
	if len(jobIDs) == 0 {
		return nil, nil
	}
	args := idArgs(jobIDs)
	rows, err := q.query(ctx, "SELECT "+pipelineCols+" FROM pipelines WHERE source_job_id IN ("+placeholders(len(args))+") ORDER BY id", args...)
	if err != nil {
		return nil, err
	}
	return collect(rows, q.scanPipeline)
}

// CountDownstream counts the pipelines job jobID triggered.
func (q *Queries) CountDownstream(ctx context.Context, jobID int64) (int, error) {
	var n int
	err := q.queryRow(ctx, "SELECT COUNT(*) FROM pipelines WHERE source_job_id = ?", jobID).Scan(&n)
	return n, err
}
