package store

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/ciwarden/ciwarden/internal/model"
)

const runnerCols = "id, runner_type, group_id, description, tag_list, run_untagged, paused, locked, maximum_timeout, created_by, created_at, contacted_at"

func scanRunner(row interface{ Scan(...any) error }) (*model.Runner, error) {
	var r model.Runner
	var group, contacted sql.NullInt64
	var tags string
	var created int64
	if err := row.Scan(&r.ID, &r.Type, &group, &r.Description, &tags, &r.RunUntagged, &r.Paused, &r.Locked,
		&r.MaximumTimeout, &r.CreatedBy, &created, &contacted); err != nil {
		return nil, err
	}
	if group.Valid {
		r.GroupID = &group.Int64
	}
	if tags != "" {
		r.Tags = strings.Split(tags, ",")
	}
	r.CreatedAt = fromMicros(created)
	r.ContactedAt = fromNullMicros(contacted)
	return &r, nil
}

// CreateRunner stores a runner under the digest of its token, with its
// projects for a project runner.
func (q *Queries) CreateRunner(ctx context.Context, r *model.Runner, digest string) error {
	if r.CreatedAt.IsZero() {
		r.CreatedAt = time.Now().UTC()
	}
	id, err := q.insert(ctx, `INSERT INTO runners (token_digest, runner_type, group_id, description, tag_list, run_untagged, paused, locked, maximum_timeout, created_by, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		digest, r.Type, r.GroupID, r.Description, strings.Join(r.Tags, ","), r.RunUntagged, r.Paused, r.Locked, r.MaximumTimeout, r.CreatedBy, micros(r.CreatedAt))
	if err != nil {
		return err
	}
	r.ID = id
	for _, p := range r.ProjectIDs {
		if _, err := q.exec(ctx, "INSERT INTO runner_projects (runner_id, project_id) VALUES (?, ?)", id, p); err != nil {
			return q.d.mapErr(err)
		}
	}
	return nil
}

func (q *Queries) loadRunnerProjects(ctx context.Context, r *model.Runner) error {
	if r.Type != model.ProjectRunner {
		return nil
	}
	ids, err := q.ids(ctx, "SELECT project_id FROM runner_projects WHERE runner_id = ? ORDER BY project_id", r.ID)
	r.ProjectIDs = ids
	return err
}

// RunnerByDigest finds a runner by the digest of its token.
func (q *Queries) RunnerByDigest(ctx context.Context, digest string) (*model.Runner, error) {
	r, err := scanRunner(q.queryRow(ctx, "SELECT "+runnerCols+" FROM runners WHERE token_digest = ?", digest))
	if err != nil {
		return nil, notFound(err, "runner")
	}
	return r, q.loadRunnerProjects(ctx, r)
}

// Runner loads a runner by ID.
func (q *Queries) Runner(ctx context.Context, id int64) (*model.Runner, error) {
	r, err := scanRunner(q.queryRow(ctx, "SELECT "+runnerCols+" FROM runners WHERE id = ?", id))
	if err != nil {
		return nil, notFound(err, "runner")
	}
	return r, q.loadRunnerProjects(ctx, r)
}

// RunnerFilter narrows ListRunners.
type RunnerFilter struct {
	Type      string
	ProjectID int64   // runners that can serve this project
	GroupIDs  []int64 // ...through these groups (the project's ancestors)
	Paused    *bool
	TagList   []string
}

// ListRunners returns one page of runners ordered by ID.
func (q *Queries) ListRunners(ctx context.Context, f RunnerFilter, page Page) ([]*model.Runner, int, error) {
	var where []string
	var args []any
	if f.Type != "" {
		where = append(where, "runner_type = ?")
		args = append(args, f.Type)
	}
	if f.Paused != nil {
		where = append(where, "paused = ?")
		args = append(args, *f.Paused)
	}
	if f.ProjectID != 0 {
		cond := "runner_type = 'instance_type' OR id IN (SELECT runner_id FROM runner_projects WHERE project_id = ?)"
		args = append(args, f.ProjectID)
		if len(f.GroupIDs) > 0 {
			cond += " OR group_id IN (" + placeholders(len(f.GroupIDs)) + ")"
			for _, g := range f.GroupIDs {
				args = append(args, g)
			}
		}
		where = append(where, "("+cond+")")
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	runners, total, err := listPage(ctx, q, "runners", runnerCols, cond, " ORDER BY id", args, page, scanRunner)
	if err != nil {
		return nil, 0, err
	}
	var out []*model.Runner
	for _, r := range runners {
		if err := q.loadRunnerProjects(ctx, r); err != nil {
			return nil, 0, err
		}
		if hasTags(r, f.TagList) {
			out = append(out, r)
		}
	}
	return out, total, nil
}

func hasTags(r *model.Runner, tags []string) bool {
	for _, t := range tags {
		found := false
		for _, have := range r.Tags {
			found = found || have == t
		}
		if !found {
			return false
		}
	}
	return true
}

// DeleteRunner removes a runner; its jobs keep their runner_id for history.
func (q *Queries) DeleteRunner(ctx context.Context, id int64) error {
	res, err := q.exec(ctx, "DELETE FROM runners WHERE id = ?", id)
	return affected(res, err, "runner")
}

// TouchRunner records that a runner (and one of its managers) asked for
// work.
func (q *Queries) TouchRunner(ctx context.Context, id int64, systemID string, at time.Time) error {
	if _, err := q.exec(ctx, "UPDATE runners SET contacted_at = ? WHERE id = ?", micros(at), id); err != nil {
		return err
	}
	if systemID == "" {
		return nil
	}
	_, err := q.exec(ctx, `INSERT INTO runner_managers (runner_id, system_id, contacted_at) VALUES (?, ?, ?)
		ON CONFLICT (runner_id, system_id) DO UPDATE SET contacted_at = excluded.contacted_at`, id, systemID, micros(at))
	return err
}

// DeleteRunnerManager removes one installation of a runner.
func (q *Queries) DeleteRunnerManager(ctx context.Context, runnerID int64, systemID string) error {
	res, err := q.exec(ctx, "DELETE FROM runner_managers WHERE runner_id = ? AND system_id = ?", runnerID, systemID)
	return affected(res, err, "runner manager")
}

// PendingJobs lists queued jobs no runner has taken, oldest first, after
// the given ID (to page through candidates).
func (q *Queries) PendingJobs(ctx context.Context, afterID int64, limit int) ([]*model.Job, error) {
	rows, err := q.query(ctx, "SELECT "+jobCols+" FROM jobs WHERE status = ? AND runner_id = 0 AND id > ? ORDER BY id LIMIT ?",
		model.StatusPending, afterID, limit)
	if err != nil {
		return nil, err
	}
	return collect(rows, q.scanJob)
}

// AssignJob hands a pending job to a runner, with the digest of the job
// token minted for it. The compare-and-set on status and runner makes the
// assignment happen once, however many runners race for the job; it
// reports whether this call won.
func (q *Queries) AssignJob(ctx context.Context, jobID, runnerID int64, tokenDigest string, at time.Time) (bool, error) {
	defer q.changed(jobChange, jobID)
	res, err := q.exec(ctx, "UPDATE jobs SET status = ?, runner_id = ?, token_digest = ?, started_at = ? WHERE id = ? AND status = ? AND runner_id = 0",
		model.StatusRunning, runnerID, tokenDigest, micros(at), jobID, model.StatusPending)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// JobByTokenDigest finds the job a job token was minted for, whatever its
// status: the caller decides whether the token is still alive.
func (q *Queries) JobByTokenDigest(ctx context.Context, digest string) (*model.Job, error) {
	j, err := q.scanJob(q.queryRow(ctx, "SELECT "+jobCols+" FROM jobs WHERE token_digest = ?", digest))
	return j, notFound(err, "job")
}

// JobFacts is a job with what its token's authentication reads besides:
// its project (with its namespace), its pipeline and its user.
type JobFacts struct {
	Job      *model.Job
	Project  *model.Project
	Pipeline *model.Pipeline
	User     *model.User
}

// jobFactsQuery reads a job by token digest joined with its project,
// namespace, pipeline and user: one statement, so one round trip on
// PostgreSQL where four point reads cost four (issue 14), and one
// snapshot of the four rows.
var jobFactsQuery = "SELECT " + qualified("j", jobCols) + ", " + projectCols + ", " + qualified("pl", pipelineCols) + ", " +
	qualified("u", userCols) + " FROM jobs j JOIN projects p ON p.id = j.project_id JOIN namespaces n ON n.id = p.namespace_id" +
	" JOIN pipelines pl ON pl.id = j.pipeline_id JOIN users u ON u.id = j.user_id WHERE j.token_digest = ?"

// JobFactsByTokenDigest finds the job a job token was minted for, whatever
// its status, with its project, pipeline and user. ErrNotFound says that
// no job has this token or that one of the others is gone (a project
// being removed, a deleted user): JobByTokenDigest then tells which.
func (q *Queries) JobFactsByTokenDigest(ctx context.Context, digest string) (*JobFacts, error) {
	var f JobFacts
	err := scanJoined(q.queryRow(ctx, jobFactsQuery, digest),
		func(r rowScanner) (err error) { f.Job, err = q.scanJob(r); return err },
		func(r rowScanner) (err error) { f.Project, err = scanProject(r); return err },
		func(r rowScanner) (err error) { f.Pipeline, err = q.scanPipeline(r); return err },
		func(r rowScanner) (err error) { f.User, err = scanUser(r); return err })
	if err != nil {
		return nil, notFound(err, "job")
	}
	return &f, nil
}

// ActiveJobsOfUser lists up to limit jobs of userID that have not
// finished (created, pending, scheduled, running, canceling): the work a
// blocked user's block must end.
func (q *Queries) ActiveJobsOfUser(ctx context.Context, userID int64, limit int) ([]*model.Job, error) {
	rows, err := q.query(ctx, "SELECT "+jobCols+" FROM jobs WHERE status IN (?, ?, ?, ?, ?) AND user_id = ? ORDER BY id LIMIT ?",
		model.StatusCreated, model.StatusPending, model.StatusScheduled, model.StatusRunning, model.StatusCanceling, userID, limit)
	if err != nil {
		return nil, err
	}
	return collect(rows, q.scanJob)
}

// OverdueJobs lists running jobs whose timeout has passed at now, for the
// server to fail when their runner has vanished.
func (q *Queries) OverdueJobs(ctx context.Context, now time.Time, limit int) ([]*model.Job, error) {
	rows, err := q.query(ctx, "SELECT "+jobCols+" FROM jobs WHERE status IN (?, ?) AND started_at + timeout_seconds * CAST(1000000 AS BIGINT) < ? ORDER BY id LIMIT ?",
		model.StatusRunning, model.StatusCanceling, micros(now), limit)
	if err != nil {
		return nil, err
	}
	return collect(rows, q.scanJob)
}

// RunnerJobs lists the jobs a runner holds: running or being canceled.
func (q *Queries) RunnerJobs(ctx context.Context, runnerID int64, limit int) ([]*model.Job, error) {
	rows, err := q.query(ctx, "SELECT "+jobCols+" FROM jobs WHERE status IN (?, ?) AND runner_id = ? ORDER BY id LIMIT ?",
		model.StatusRunning, model.StatusCanceling, runnerID, limit)
	if err != nil {
		return nil, err
	}
	return collect(rows, q.scanJob)
}

// TraceMark is where a job's log stands: the runner's byte count, their
// CRC32 and the masker's sealed state (jobs.trace_size, trace_crc,
// trace_state).
type TraceMark struct {
	Size  int64
	CRC   uint32
	State []byte
}

// AppendTrace adds a masked chunk to a job's log and moves its mark from
// from to to, if the stored mark is from (a compare-and-set on all three:
// the caller may have read the job from the job-token cache, whose copy of
// them lags behind, and then stores nothing) and the job's token still
// lives (its job running or canceling, its user not blocked: a chunk that
// was on its way when the token died is not stored). It reports false
// otherwise.
//
// No change is published: a job's log is nothing its token's life depends
// on (security.md §1: the job's state, its project, its user), so the
// token cache keeps the token; every chunk used to cost the job's next
// call four reads.
//
// Call it in a transaction of its own: its commit is lazy (dialect
// lazyCommit). A chunk that a database crash loses after the runner was
// told it was taken is sent again: the runner's next chunk then starts
// past the stored log's end and is answered 416 with where that end is,
// and the final update's checksum would not match the stored log
// (runner-protocol.md §8, §9; ci.Service.Complete asks for the log again).
func (q *Queries) AppendTrace(ctx context.Context, jobID int64, from, to TraceMark, masked []byte) (bool, error) {
	if err := q.d.lazyCommit(ctx, q); err != nil {
		return false, err
	}
	return q.traceChunkIf(ctx, jobID, masked, `UPDATE jobs SET trace_size = ?, trace_crc = ?, trace_state = ?
		WHERE id = ? AND trace_size = ? AND trace_crc = ? AND trace_state IS NOT DISTINCT FROM ? AND status IN (?, ?)
		AND NOT EXISTS (SELECT 1 FROM users WHERE users.id = jobs.user_id AND users.blocked)`,
		to.Size, int64(to.CRC), to.State, jobID, from.Size, int64(from.CRC), from.State, model.StatusRunning, model.StatusCanceling)
}

// traceChunkIf runs the job row's compare-and-set update and, if it
// changed the row, appends masked text to the job's stored log.
func (q *Queries) traceChunkIf(ctx context.Context, jobID int64, masked []byte, update string, args ...any) (bool, error) {
	res, err := q.exec(ctx, update, args...)
	if err != nil {
		return false, err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return false, err
	}
	return true, q.appendChunk(ctx, jobID, masked)
}

// appendChunk adds text at the end of a job's stored log.
func (q *Queries) appendChunk(ctx context.Context, jobID int64, text []byte) error {
	if len(text) == 0 {
		return nil
	}
	_, err := q.exec(ctx, "INSERT INTO job_trace_chunks (job_id, seq, data) VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM job_trace_chunks WHERE job_id = ?), ?)",
		jobID, jobID, text)
	return err
}

// FlushTrace stores the masker's last output at a job's final update and
// clears its held state, if the state is still state (a compare-and-set:
// of concurrent final updates only one stores the tail). It reports
// whether it did.
func (q *Queries) FlushTrace(ctx context.Context, jobID int64, state, masked []byte) (bool, error) {
	defer q.changed(jobChange, jobID)
	return q.traceChunkIf(ctx, jobID, masked, "UPDATE jobs SET trace_state = NULL WHERE id = ? AND trace_state = ?", jobID, state)
}

// Trace returns a job's stored (masked) log.
func (q *Queries) Trace(ctx context.Context, jobID int64) ([]byte, error) {
	rows, err := q.query(ctx, "SELECT data FROM job_trace_chunks WHERE job_id = ? ORDER BY seq", jobID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []byte
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		out = append(out, b...)
	}
	return out, rows.Err()
}

// DeleteTrace removes a job's log (erase).
func (q *Queries) DeleteTrace(ctx context.Context, jobID int64) error {
	_, err := q.exec(ctx, "DELETE FROM job_trace_chunks WHERE job_id = ?", jobID)
	return err
}
