package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/ciwarden/ciwarden/internal/model"
)

const pipelineCols = "id, iid, project_id, ref, tag, sha, before_sha, source, status, user_id, yaml_errors, variables, created_at, updated_at, started_at, finished_at, source_job_id, source_pipeline_id, source_project_id, trigger_id, protected, variables_sealed"

func (q *Queries) scanPipeline(row interface{ Scan(...any) error }) (*model.Pipeline, error) {
	var p model.Pipeline
	var vars string
	var sealed []byte
	var created, updated int64
	var started, finished sql.NullInt64
	if err := row.Scan(&p.ID, &p.IID, &p.ProjectID, &p.Ref, &p.Tag, &p.SHA, &p.BeforeSHA, &p.Source, &p.Status, &p.UserID,
		&p.YAMLErrors, &vars, &created, &updated, &started, &finished, &p.SourceJobID, &p.SourcePipelineID, &p.SourceProjectID,
		&p.TriggerID, &p.Protected, &sealed); err != nil {
		return nil, err
	}
	if sealed != nil {
		plain, err := q.open(sealed, PipelineVariablesContext(p.ProjectID, p.IID))
		if err != nil {
			return nil, fmt.Errorf("the variables of pipeline %d: %w", p.ID, err)
		}
		vars = string(plain)
	}
	_ = json.Unmarshal([]byte(vars), &p.Variables)
	p.CreatedAt, p.UpdatedAt = fromMicros(created), fromMicros(updated)
	p.StartedAt, p.FinishedAt = fromNullMicros(started), fromNullMicros(finished)
	return &p, nil
}

// CreatePipeline inserts a pipeline with the project's next IID. Call it in
// a transaction: LockProject first, so concurrent creations number in turn.
func (q *Queries) CreatePipeline(ctx context.Context, p *model.Pipeline) error {
	if err := q.queryRow(ctx, "SELECT COALESCE(MAX(iid), 0) + 1 FROM pipelines WHERE project_id = ?", p.ProjectID).Scan(&p.IID); err != nil {
		return err
	}
	now := time.Now().UTC()
	if p.CreatedAt.IsZero() {
		p.CreatedAt = now
	}
	p.UpdatedAt = p.CreatedAt
	// Most pipelines have no variables: nothing to seal, nor to open on
	// each read (the job token's authentication reads the pipeline).
	var sealed []byte
	if len(p.Variables) > 0 {
		vars, err := json.Marshal(p.Variables)
		if err != nil {
			return err
		}
		if sealed, err = q.seal(vars, PipelineVariablesContext(p.ProjectID, p.IID)); err != nil {
			return err
		}
	}
	var err error
	p.ID, err = q.insert(ctx, `INSERT INTO pipelines (iid, project_id, ref, tag, sha, before_sha, source, status, user_id, yaml_errors, variables, created_at, updated_at,
		source_job_id, source_pipeline_id, source_project_id, trigger_id, protected, variables_sealed)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '[]', ?, ?, ?, ?, ?, ?, ?, ?)`,
		p.IID, p.ProjectID, p.Ref, p.Tag, p.SHA, p.BeforeSHA, p.Source, p.Status, p.UserID, p.YAMLErrors, micros(p.CreatedAt), micros(p.UpdatedAt),
		p.SourceJobID, p.SourcePipelineID, p.SourceProjectID, p.TriggerID, p.Protected, sealed)
	if err != nil || p.ScheduleID == 0 {
		return err
	}
	// A schedule's pipeline records its schedule in the same transaction.
	_, err = q.exec(ctx, "UPDATE pipelines SET schedule_id = ? WHERE id = ?", p.ScheduleID, p.ID)
	return err
}

// LockProject serialises writers that number things per project. SQLite
// transactions already hold the write lock (BEGIN IMMEDIATE); PostgreSQL
// takes a row lock.
func (q *Queries) LockProject(ctx context.Context, projectID int64) error {
	return q.d.lockRow(ctx, q, "projects", projectID)
}

// LockPipeline serialises processing of one pipeline, so that concurrent
// job updates never compute its status from a stale view.
func (q *Queries) LockPipeline(ctx context.Context, pipelineID int64) error {
	return q.d.lockRow(ctx, q, "pipelines", pipelineID)
}

// LockJob takes the write lock on one job's row (PostgreSQL; SQLite's
// transactions hold the database's): a change of the job waits for the
// transaction, and the transaction reads the job as its last change left
// it.
func (q *Queries) LockJob(ctx context.Context, jobID int64) error {
	return q.d.lockRow(ctx, q, "jobs", jobID)
}

// Pipeline loads a pipeline by ID.
func (q *Queries) Pipeline(ctx context.Context, id int64) (*model.Pipeline, error) {
	p, err := q.scanPipeline(q.queryRow(ctx, "SELECT "+pipelineCols+" FROM pipelines WHERE id = ?", id))
	return p, notFound(err, "pipeline")
}

// UpdatePipelineStatus saves a pipeline's status and times.
func (q *Queries) UpdatePipelineStatus(ctx context.Context, p *model.Pipeline) error {
	defer q.changed(pipelineChange, p.ID)
	p.UpdatedAt = time.Now().UTC()
	_, err := q.exec(ctx, "UPDATE pipelines SET status = ?, yaml_errors = ?, updated_at = ?, started_at = ?, finished_at = ? WHERE id = ?",
		p.Status, p.YAMLErrors, micros(p.UpdatedAt), nullMicros(p.StartedAt), nullMicros(p.FinishedAt), p.ID)
	return err
}

// DeletePipeline removes a pipeline and its jobs.
func (q *Queries) DeletePipeline(ctx context.Context, id int64) error {
	defer q.changed(pipelineChange, id)
	res, err := q.exec(ctx, "DELETE FROM pipelines WHERE id = ?", id)
	return affected(res, err, "pipeline")
}

// PipelineFilter narrows ListPipelines.
type PipelineFilter struct {
	ProjectID int64
	Ref       string
	Status    string
	Source    string
	SHA       string
	Sort      string // asc or desc (default) by id
	// ScheduleID: only the pipelines this schedule created.
	ScheduleID int64
}

// ListPipelines returns one page of a project's pipelines.
func (q *Queries) ListPipelines(ctx context.Context, f PipelineFilter, page Page) ([]*model.Pipeline, int, error) {
	where := []string{"project_id = ?"}
	args := []any{f.ProjectID}
	for _, c := range []struct{ col, val string }{{"ref", f.Ref}, {"status", f.Status}, {"source", f.Source}, {"sha", f.SHA}} {
		if c.val != "" {
			where = append(where, c.col+" = ?")
			args = append(args, c.val)
		}
	}
	if f.ScheduleID != 0 {
		where = append(where, "schedule_id = ?")
		args = append(args, f.ScheduleID)
	}
	order := " ORDER BY id DESC"
	if f.Sort == "asc" {
		order = " ORDER BY id ASC"
	}
	return listPage(ctx, q, "pipelines", pipelineCols, " WHERE "+strings.Join(where, " AND "), order, args, page, q.scanPipeline)
}

const jobCols = "id, pipeline_id, project_id, name, stage, stage_idx, status, job_when, allow_failure, user_id, dag, needs, spec, retried, scheduled_at, created_at, queued_at, started_at, finished_at, erased_at, failure_reason, exit_code, runner_id, timeout_seconds, contacted_at, trace_size, trace_crc, trace_state, token_permissions, spec_sealed"

func (q *Queries) scanJob(row interface{ Scan(...any) error }) (*model.Job, error) {
	var j model.Job
	var needs, spec string
	var sealed []byte
	var created int64
	var scheduled, queued, started, finished, erased, exit, contacted sql.NullInt64
	var crc int64
	var perms sql.NullString
	if err := row.Scan(&j.ID, &j.PipelineID, &j.ProjectID, &j.Name, &j.Stage, &j.StageIdx, &j.Status, &j.When, &j.AllowFailure,
		&j.UserID, &j.DAG, &needs, &spec, &j.Retried, &scheduled, &created, &queued, &started, &finished, &erased,
		&j.FailureReason, &exit, &j.RunnerID, &j.TimeoutSeconds, &contacted, &j.TraceSize, &crc, &j.TraceState, &perms, &sealed); err != nil {
		return nil, err
	}
	j.Spec = []byte(spec) // written before migration 00024
	if sealed != nil {
		var err error
		if j.Spec, err = q.open(sealed, JobSpecContext(j.PipelineID, j.Name)); err != nil {
			return nil, fmt.Errorf("the spec of job %d: %w", j.ID, err)
		}
	}
	if perms.Valid {
		j.TokenRestricted = true
		j.TokenPermissions = strings.Fields(perms.String)
	}
	if needs != "" {
		j.Needs = strings.Split(needs, "\n")
	}
	j.TraceCRC = uint32(crc)
	j.CreatedAt = fromMicros(created)
	j.ScheduledAt, j.QueuedAt, j.StartedAt = fromNullMicros(scheduled), fromNullMicros(queued), fromNullMicros(started)
	j.FinishedAt, j.ErasedAt = fromNullMicros(finished), fromNullMicros(erased)
	j.ContactedAt = fromNullMicros(contacted)
	if exit.Valid {
		v := int(exit.Int64)
		j.ExitCode = &v
	}
	return &j, nil
}

// CreateJob inserts a job.
func (q *Queries) CreateJob(ctx context.Context, j *model.Job) error {
	if j.CreatedAt.IsZero() {
		j.CreatedAt = time.Now().UTC()
	}
	sealed, err := q.sealSpec(j)
	if err != nil {
		return err
	}
	if j.TimeoutSeconds <= 0 {
		j.TimeoutSeconds = 3600
	}
	var perms sql.NullString
	if j.TokenRestricted {
		perms = sql.NullString{String: strings.Join(j.TokenPermissions, " "), Valid: true}
	}
	j.ID, err = q.insert(ctx, `INSERT INTO jobs (pipeline_id, project_id, name, stage, stage_idx, status, job_when, allow_failure, user_id, dag, needs, spec, retried, scheduled_at, created_at, timeout_seconds, token_permissions, spec_sealed)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '{}', ?, ?, ?, ?, ?, ?)`,
		j.PipelineID, j.ProjectID, j.Name, j.Stage, j.StageIdx, j.Status, j.When, j.AllowFailure, j.UserID, j.DAG,
		strings.Join(j.Needs, "\n"), j.Retried, nullMicros(j.ScheduledAt), micros(j.CreatedAt), j.TimeoutSeconds, perms, sealed)
	if err != nil || !j.Bridge {
		return err
	}
	_, err = q.exec(ctx, "UPDATE jobs SET bridge = TRUE WHERE id = ?", j.ID)
	return err
}

// sealSpec is a job's spec sealed for its row. The spec holds the job's
// `variables:` and those given when it was played (and more that a deploy
// job may keep secret): sealed whole, one AES-GCM open per job read, some
// 3 µs for a 2.4 KB spec on a loaded 2-core machine (secretbox's
// BenchmarkOpen), under a tenth of the read itself (BenchmarkJobRead). So
// simple beats sealing the variables apart, which would split the spec
// in two columns for every reader.

func (q *Queries) sealSpec(j *model.Job) ([]byte, error) {
	spec := j.Spec
	if len(spec) == 0 {
		spec = []byte("{}")
	}
	return q.seal(spec, JobSpecContext(j.PipelineID, j.Name))
}

// SetJobSpec saves a job's changed spec (the variables it is played with).
func (q *Queries) SetJobSpec(ctx context.Context, j *model.Job) error {
	sealed, err := q.sealSpec(j)
	if err != nil {
		return err
	}
	res, err := q.exec(ctx, "UPDATE jobs SET spec = '{}', spec_sealed = ? WHERE id = ?", sealed, j.ID)
	return affected(res, err, "job")
}

// Job loads a job by ID.
func (q *Queries) Job(ctx context.Context, id int64) (*model.Job, error) {
	j, err := q.scanJob(q.queryRow(ctx, "SELECT "+jobCols+" FROM jobs WHERE id = ?", id))
	return j, notFound(err, "job")
}

// PipelineJobs lists a pipeline's jobs in stage order; retried ones only
// when includeRetried.
func (q *Queries) PipelineJobs(ctx context.Context, pipelineID int64, includeRetried bool) ([]*model.Job, error) {
	cond := ""
	if !includeRetried {
		cond = " AND retried = FALSE"
	}
	rows, err := q.query(ctx, "SELECT "+jobCols+" FROM jobs WHERE pipeline_id = ?"+cond+" ORDER BY stage_idx, id", pipelineID)
	if err != nil {
		return nil, err
	}
	return collect(rows, q.scanJob)
}

// JobsBeforeStage lists a pipeline's current (not retried) jobs of the
// stages before stage, in stage order: a job's default dependencies. The
// filter is SQL's, so a large last stage costs nothing to the jobs in it.
func (q *Queries) JobsBeforeStage(ctx context.Context, pipelineID int64, stage int) ([]*model.Job, error) {
	rows, err := q.query(ctx, "SELECT "+jobCols+" FROM jobs WHERE pipeline_id = ? AND retried = FALSE AND stage_idx < ? ORDER BY stage_idx, id",
		pipelineID, stage)
	if err != nil {
		return nil, err
	}
	return collect(rows, q.scanJob)
}

// JobFilter narrows ListJobs.
type JobFilter struct {
	ProjectID      int64
	PipelineID     int64
	Scope          []string // statuses
	IncludeRetried bool
}

// ListJobs returns one page of jobs, newest first. Bridges are left out:
// GitLab lists them under .../bridges only.
func (q *Queries) ListJobs(ctx context.Context, f JobFilter, page Page) ([]*model.Job, int, error) {
	where := []string{"project_id = ?"}
	args := []any{f.ProjectID}
	if f.PipelineID != 0 {
		where = append(where, "pipeline_id = ?")
		args = append(args, f.PipelineID)
	}
	if !f.IncludeRetried {
		where = append(where, "retried = FALSE")
	}
	where = append(where, "bridge = FALSE")
	if len(f.Scope) > 0 {
		where = append(where, "status IN ("+placeholders(len(f.Scope))+")")
		for _, s := range f.Scope {
			args = append(args, s)
		}
	}
	return listPage(ctx, q, "jobs", jobCols, " WHERE "+strings.Join(where, " AND "), " ORDER BY id DESC", args, page, q.scanJob)
}

// SetJobStatus moves a job from one status to another only if it still has
// the expected one: a compare-and-set, so concurrent updates cannot both
// win. It reports whether this call made the change.
func (q *Queries) SetJobStatus(ctx context.Context, j *model.Job, from string) (bool, error) {
	defer q.changed(jobChange, j.ID)
	res, err := q.exec(ctx, `UPDATE jobs SET status = ?, scheduled_at = ?, queued_at = ?, started_at = ?, finished_at = ?, erased_at = ?,
		failure_reason = ?, exit_code = ?, runner_id = ?, retried = ?, allow_failure = ?, user_id = ? WHERE id = ? AND status = ?`,
		j.Status, nullMicros(j.ScheduledAt), nullMicros(j.QueuedAt), nullMicros(j.StartedAt), nullMicros(j.FinishedAt),
		nullMicros(j.ErasedAt), j.FailureReason, nullInt(j.ExitCode), j.RunnerID, j.Retried, j.AllowFailure, j.UserID, j.ID, from)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func nullInt(v *int) any {
	if v == nil {
		return nil
	}
	return *v
}

// collect scans every row.
func collect[T any](rows *sql.Rows, scan func(interface{ Scan(...any) error }) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// listPage counts the rows matching cond and returns one page of them.
func listPage[T any](ctx context.Context, q *Queries, table, cols, cond, order string, args []any, page Page,
	scan func(interface{ Scan(...any) error }) (T, error)) ([]T, int, error) {
	var total int
	if err := q.queryRow(ctx, "SELECT COUNT(*) FROM "+table+cond, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := q.query(ctx, "SELECT "+cols+" FROM "+table+cond+order+" LIMIT ? OFFSET ?", append(args, page.Limit(), page.Offset())...)
	if err != nil {
		return nil, 0, err
	}
	out, err := collect(rows, scan)
	return out, total, err
}

// DueScheduledJobs lists delayed jobs whose start time has come.
func (q *Queries) DueScheduledJobs(ctx context.Context, now time.Time, limit int) ([]*model.Job, error) {
	rows, err := q.query(ctx, "SELECT "+jobCols+" FROM jobs WHERE status = ? AND scheduled_at <= ? ORDER BY scheduled_at LIMIT ?",
		model.StatusScheduled, micros(now), limit)
	if err != nil {
		return nil, err
	}
	return collect(rows, q.scanJob)
}

// PipelineJobStates returns one job per distinct (status, allow_failure)
// pair among a pipeline's current (not retried) jobs, with only those two
// fields set: all a pipeline's composite status depends on. Processing
// calls it after every job change, so it must not read every job of a
// large pipeline (jobs_pipeline_states covers it).
func (q *Queries) PipelineJobStates(ctx context.Context, pipelineID int64) ([]*model.Job, error) {
	rows, err := q.query(ctx, "SELECT DISTINCT status, allow_failure FROM jobs WHERE pipeline_id = ? AND retried = FALSE", pipelineID)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(r interface{ Scan(...any) error }) (*model.Job, error) {
		j := &model.Job{}
		return j, r.Scan(&j.Status, &j.AllowFailure)
	})
}
