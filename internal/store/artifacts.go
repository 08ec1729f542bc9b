package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/ciwarden/ciwarden/internal/model"
)

const artifactCols = "id, job_id, project_id, file_type, file_format, filename, size, sha256, blob_key, created_at, expire_at"

func scanArtifact(row interface{ Scan(...any) error }) (*model.Artifact, error) {
	var a model.Artifact
	var created int64
	var expire sql.NullInt64
	if err := row.Scan(&a.ID, &a.JobID, &a.ProjectID, &a.FileType, &a.FileFormat, &a.Filename, &a.Size, &a.SHA256,
		&a.BlobKey, &created, &expire); err != nil {
		return nil, err
	}
	a.CreatedAt = fromMicros(created)
	a.ExpireAt = fromNullMicros(expire)
	return &a, nil
}

// ErrJobGone refuses an artifact for a job that was erased or deleted
// while its upload streamed, or whose token died meanwhile.
var ErrJobGone = fmt.Errorf("job erased, deleted or ended: %w", model.ErrNotFound)

// PutArtifact records a (complete) artifact blob for its job, replacing
// the job's artifact of the same type, and returns the replaced blob's key
// ("" if none) for the caller to delete once this has committed. It takes
// the job's row lock, which every change of the job (its end, an erase)
// needs too, since each one updates that row: an artifact never survives
// an erase that ran while it uploaded, and live, when given, is asked
// under that lock whether the job's token still lives, so that nothing
// sent with a token that died during the upload is kept.
//
// Not the pipeline's lock: that one serialises all of a pipeline's jobs,
// and on PostgreSQL the uploads of a 100-job pipeline then queued on it,
// each holding a pooled connection for its whole transaction, until the
// pool ran dry and every other request waited too (issue 20 item 7:
// uploads at 1 s median, GET /job at 0.67 s p99, with 100 running jobs).
func (s *Store) PutArtifact(ctx context.Context, a *model.Artifact, live func(*Queries, *model.Job) error) (replaced string, err error) {
	err = s.Tx(ctx, func(q *Queries) error {
		if err := q.LockJob(ctx, a.JobID); err != nil {
			if errors.Is(err, model.ErrNotFound) {
				return ErrJobGone
			}
			return err
		}
		j, err := q.Job(ctx, a.JobID)
		if err != nil || j.ErasedAt != nil {
			return ErrJobGone
		}
		if live != nil {
			if err := live(q, j); err != nil {
				return err
			}
		}
		old, err := q.JobArtifact(ctx, a.JobID, a.FileType)
		switch {
		case err == nil:
			if _, err := q.exec(ctx, "DELETE FROM job_artifacts WHERE id = ?", old.ID); err != nil {
				return err
			}
			replaced = old.BlobKey
		case !isNotFound(err):
			return err
		}
		if a.CreatedAt.IsZero() {
			a.CreatedAt = time.Now().UTC()
		}
		a.ID, err = q.insert(ctx, `INSERT INTO job_artifacts (job_id, project_id, file_type, file_format, filename, size, sha256, blob_key, created_at, expire_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			a.JobID, a.ProjectID, a.FileType, a.FileFormat, a.Filename, a.Size, a.SHA256, a.BlobKey, micros(a.CreatedAt), nullMicros(a.ExpireAt))
		return err
	})
	if err != nil {
		return "", err
	}
	return replaced, nil
}

func isNotFound(err error) bool { return errors.Is(err, model.ErrNotFound) }

// JobArtifact is a job's artifact of one type, expired or not.
func (q *Queries) JobArtifact(ctx context.Context, jobID int64, fileType string) (*model.Artifact, error) {
	a, err := scanArtifact(q.queryRow(ctx, "SELECT "+artifactCols+" FROM job_artifacts WHERE job_id = ? AND file_type = ?", jobID, fileType))
	return a, notFound(err, "artifact")
}

// JobArtifacts lists a job's artifacts, expired or not, archive first.
func (q *Queries) JobArtifacts(ctx context.Context, jobID int64) ([]*model.Artifact, error) {
	m, err := q.ArtifactsOfJobs(ctx, []int64{jobID})
	return m[jobID], err
}

// ArtifactsOfJobs lists the artifacts of several jobs at once (a page of
// jobs), by job.
func (q *Queries) ArtifactsOfJobs(ctx context.Context, jobIDs []int64) (map[int64][]*model.Artifact, error) {
	out := map[int64][]*model.Artifact{}
	if len(jobIDs) == 0 {
		return out, nil
	}
	args := idArgs(jobIDs)
	rows, err := q.query(ctx, "SELECT "+artifactCols+" FROM job_artifacts WHERE job_id IN ("+placeholders(len(jobIDs))+
		") ORDER BY job_id, CASE WHEN file_type = 'archive' THEN 0 ELSE 1 END, file_type", args...)
	if err != nil {
		return nil, err
	}
	list, err := collect(rows, scanArtifact)
	for _, a := range list {
		out[a.JobID] = append(out[a.JobID], a)
	}
	return out, err
}

// DeleteJobArtifacts removes a job's artifact rows and returns their blob
// keys, for the caller to delete after commit. Call it in a transaction
// that holds the job's pipeline lock (erase, DELETE .../artifacts).
func (q *Queries) DeleteJobArtifacts(ctx context.Context, jobID int64) ([]string, error) {
	list, err := q.JobArtifacts(ctx, jobID)
	if err != nil || len(list) == 0 {
		return nil, err
	}
	if _, err := q.exec(ctx, "DELETE FROM job_artifacts WHERE job_id = ?", jobID); err != nil {
		return nil, err
	}
	keys := make([]string, len(list))
	for i, a := range list {
		keys[i] = a.BlobKey
	}
	return keys, nil
}

// SweepExpiredArtifacts deletes up to limit artifact rows expired at now,
// in one transaction, and returns their blob keys: rows first, so that
// nothing is served from a blob about to go, then the caller deletes the
// blobs. A crash in between leaves unreferenced blobs, never a row
// pointing at a missing one.
func (s *Store) SweepExpiredArtifacts(ctx context.Context, now time.Time, limit int) ([]string, error) {
	return s.sweepArtifacts(ctx, "SELECT id, blob_key FROM job_artifacts WHERE expire_at <= ? ORDER BY expire_at LIMIT ?", micros(now), limit)
}

// SweepOrphanArtifacts deletes the artifact rows among the next limit
// rows after id cursor whose job no longer exists (its pipeline was
// deleted), and returns their blob keys and the cursor to continue from (0
// once the end is reached). Bounded work per call, whatever the table's
// size.
func (s *Store) SweepOrphanArtifacts(ctx context.Context, cursor int64, limit int) (keys []string, next int64, err error) {
	var last int64
	var n int
	if err := s.queryRow(ctx, "SELECT COALESCE(MAX(id), 0), COUNT(*) FROM (SELECT id FROM job_artifacts WHERE id > ? ORDER BY id LIMIT ?) AS w",
		cursor, limit).Scan(&last, &n); err != nil {
		return nil, 0, err
	}
	if n < limit {
		next = 0
	} else {
		next = last
	}
	if n == 0 {
		return nil, next, nil
	}
	keys, err = s.sweepArtifacts(ctx, `SELECT a.id, a.blob_key FROM job_artifacts a WHERE a.id > ? AND a.id <= ?
		AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = a.job_id) LIMIT ?`, cursor, last, limit)
	return keys, next, err
}

func (s *Store) sweepArtifacts(ctx context.Context, sel string, args ...any) ([]string, error) {
	var keys []string
	err := s.Tx(ctx, func(q *Queries) error {
		rows, err := q.query(ctx, sel, args...)
		if err != nil {
			return err
		}
		var ids []any
		for rows.Next() {
			var id int64
			var key string
			if err := rows.Scan(&id, &key); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
			keys = append(keys, key)
		}
		rows.Close()
		if err := rows.Err(); err != nil || len(ids) == 0 {
			return err
		}
		_, err = q.exec(ctx, "DELETE FROM job_artifacts WHERE id IN ("+placeholders(len(ids))+")", ids...)
		return err
	})
	if err != nil {
		return nil, err
	}
	return keys, nil
}

// LatestSuccessfulJob is the job called name of the latest successful
// pipeline on ref, if it succeeded in it: what GitLab downloads "by ref
// and job name" and what needs:project fetches.
func (q *Queries) LatestSuccessfulJob(ctx context.Context, projectID int64, ref, name string) (*model.Job, error) {
	j, err := q.scanJob(q.queryRow(ctx, "SELECT "+jobCols+` FROM jobs WHERE pipeline_id = (
			SELECT id FROM pipelines WHERE project_id = ? AND ref = ? AND status = ? ORDER BY id DESC LIMIT 1)
		AND name = ? AND status = ? AND retried = FALSE ORDER BY id DESC LIMIT 1`,
		projectID, ref, model.StatusSuccess, name, model.StatusSuccess))
	return j, notFound(err, "job")
}
