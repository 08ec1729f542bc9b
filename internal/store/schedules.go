package store

import (
	"context"
	"fmt"
	"time"

	"github.com/ciwarden/ciwarden/internal/model"
)

const scheduleCols = "id, project_id, owner_id, description, ref, cron, cron_timezone, active, next_run_at, last_pipeline_id, created_at, updated_at"

func scanSchedule(row interface{ Scan(...any) error }) (*model.Schedule, error) {
	var s model.Schedule
	var next, created, updated int64
	if err := row.Scan(&s.ID, &s.ProjectID, &s.OwnerID, &s.Description, &s.Ref, &s.Cron, &s.CronTimezone, &s.Active,
		&next, &s.LastPipelineID, &created, &updated); err != nil {
		return nil, err
	}
	s.NextRunAt, s.CreatedAt, s.UpdatedAt = fromMicros(next), fromMicros(created), fromMicros(updated)
	return &s, nil
}

// CreateSchedule stores a new pipeline schedule.
func (q *Queries) CreateSchedule(ctx context.Context, s *model.Schedule) error {
	id, err := q.insert(ctx, `INSERT INTO pipeline_schedules (project_id, owner_id, description, ref, cron, cron_timezone, active,
		next_run_at, last_pipeline_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.ProjectID, s.OwnerID, s.Description, s.Ref, s.Cron, s.CronTimezone, s.Active, micros(s.NextRunAt), s.LastPipelineID,
		micros(s.CreatedAt), micros(s.UpdatedAt))
	s.ID = id
	return err
}

// Schedule loads one pipeline schedule of a project.
func (q *Queries) Schedule(ctx context.Context, projectID, id int64) (*model.Schedule, error) {
	s, err := scanSchedule(q.queryRow(ctx, "SELECT "+scheduleCols+" FROM pipeline_schedules WHERE id = ? AND project_id = ?", id, projectID))
	return s, notFound(err, "pipeline schedule")
}

// ListSchedules returns one page of a project's schedules; active, when
// not nil, keeps the active or the inactive ones (GitLab's scope).
func (q *Queries) ListSchedules(ctx context.Context, projectID int64, active *bool, page Page) ([]*model.Schedule, int, error) {
	cond, args := " WHERE project_id = ?", []any{projectID}
	if active != nil {
		cond, args = cond+" AND active = ?", append(args, *active)
	}
	return listPage(ctx, q, "pipeline_schedules", scheduleCols, cond, " ORDER BY id ASC", args, page, scanSchedule)
}

// UpdateSchedule writes a schedule's editable fields, owner and state.
func (q *Queries) UpdateSchedule(ctx context.Context, s *model.Schedule) error {
	res, err := q.exec(ctx, `UPDATE pipeline_schedules SET owner_id = ?, description = ?, ref = ?, cron = ?, cron_timezone = ?,
		active = ?, next_run_at = ?, updated_at = ? WHERE id = ?`,
		s.OwnerID, s.Description, s.Ref, s.Cron, s.CronTimezone, s.Active, micros(s.NextRunAt), micros(s.UpdatedAt), s.ID)
	return affected(res, err, "pipeline schedule")
}

// DeleteSchedule removes a schedule of a project; its variables go with
// it (ON DELETE CASCADE).
func (q *Queries) DeleteSchedule(ctx context.Context, projectID, id int64) error {
	res, err := q.exec(ctx, "DELETE FROM pipeline_schedules WHERE id = ? AND project_id = ?", id, projectID)
	return affected(res, err, "pipeline schedule")
}

// DueSchedules lists up to limit active schedules due at now, the
// longest overdue first.
func (q *Queries) DueSchedules(ctx context.Context, now time.Time, limit int) ([]*model.Schedule, error) {
	rows, err := q.query(ctx, "SELECT "+scheduleCols+" FROM pipeline_schedules WHERE active = ? AND next_run_at <= ? ORDER BY next_run_at, id LIMIT ?",
		true, micros(now), limit)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanSchedule)
}

// ClaimSchedule moves an active schedule's next_run_at from due (the value
// read) to next, and reports whether this call did: of several replicas
// that read the same due time, exactly one claims it and fires.
func (q *Queries) ClaimSchedule(ctx context.Context, id int64, due, next time.Time) (bool, error) {
	res, err := q.exec(ctx, "UPDATE pipeline_schedules SET next_run_at = ? WHERE id = ? AND next_run_at = ? AND active = ?",
		micros(next), id, micros(due), true)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// DeactivateSchedule makes a schedule inactive (its owner may no longer
// run pipelines).
func (q *Queries) DeactivateSchedule(ctx context.Context, id int64, now time.Time) error {
	_, err := q.exec(ctx, "UPDATE pipeline_schedules SET active = ?, updated_at = ? WHERE id = ?", false, micros(now), id)
	return err
}

// SetScheduleLastPipeline records the pipeline a schedule ran last.
func (q *Queries) SetScheduleLastPipeline(ctx context.Context, id, pipelineID int64) error {
	_, err := q.exec(ctx, "UPDATE pipeline_schedules SET last_pipeline_id = ? WHERE id = ?", pipelineID, id)
	return err
}

func (q *Queries) scanScheduleVariable(row interface{ Scan(...any) error }) (*model.ScheduleVariable, error) {
	var v model.ScheduleVariable
	var scheduleID int64
	var sealed []byte
	if err := row.Scan(&scheduleID, &v.Key, &v.Value, &v.VariableType, &sealed); err != nil {
		return nil, err
	}
	if sealed != nil { // else written in clear before migration 00024
		plain, err := q.open(sealed, ScheduleVariableContext(scheduleID, v.Key))
		if err != nil {
			return nil, fmt.Errorf("variable %s of schedule %d: %w", v.Key, scheduleID, err)
		}
		v.Value = string(plain)
	}
	return &v, nil
}

// ScheduleVariables lists a schedule's variables by key.
func (q *Queries) ScheduleVariables(ctx context.Context, scheduleID int64) ([]*model.ScheduleVariable, error) {
	rows, err := q.query(ctx, "SELECT schedule_id, key, value, variable_type, value_sealed FROM pipeline_schedule_variables WHERE schedule_id = ? ORDER BY key", scheduleID)
	if err != nil {
		return nil, err
	}
	return collect(rows, q.scanScheduleVariable)
}

// SetScheduleVariable adds a variable (create) or changes an existing one:
// the one place a schedule variable's value is written (and
// scanScheduleVariable the one it is read), so that sealing values with
// the instance key is a change here only. A new key that exists is
// model.ErrConflict; a change of a missing key model.ErrNotFound.
func (q *Queries) SetScheduleVariable(ctx context.Context, scheduleID int64, v *model.ScheduleVariable, create bool) error {
	// Sealed with the instance key (issue 16: schedules' variable values
	// encrypted at rest); the clear column keeps '' for new values.
	sealed, err := q.seal([]byte(v.Value), ScheduleVariableContext(scheduleID, v.Key))
	if err != nil {
		return err
	}
	if create {
		_, err := q.exec(ctx, "INSERT INTO pipeline_schedule_variables (schedule_id, key, value, variable_type, value_sealed) VALUES (?, ?, '', ?, ?)",
			scheduleID, v.Key, v.VariableType, sealed)
		return q.d.mapErr(err)
	}
	res, err := q.exec(ctx, "UPDATE pipeline_schedule_variables SET value = '', value_sealed = ?, variable_type = ? WHERE schedule_id = ? AND key = ?",
		sealed, v.VariableType, scheduleID, v.Key)
	return affected(res, err, "variable")
}

// DeleteScheduleVariable removes a schedule's variable.
func (q *Queries) DeleteScheduleVariable(ctx context.Context, scheduleID int64, key string) error {
	res, err := q.exec(ctx, "DELETE FROM pipeline_schedule_variables WHERE schedule_id = ? AND key = ?", scheduleID, key)
	return affected(res, err, "variable")
}
