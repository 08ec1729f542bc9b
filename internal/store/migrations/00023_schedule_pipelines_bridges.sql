-- +goose Up
-- The schedule that created a pipeline (0: none), for GitLab's
-- GET /projects/:id/pipeline_schedules/:id/pipelines.
ALTER TABLE pipelines ADD COLUMN schedule_id BIGINT NOT NULL DEFAULT 0;
CREATE INDEX pipelines_schedule ON pipelines (schedule_id, id);

-- Whether a job is a trigger: bridge. GitLab lists bridges under
-- .../bridges only, never among a pipeline's or a project's jobs; the
-- listings filter on this column, not on the job's specification (which
-- may be sealed at rest). Bridges made before this column are found by
-- their specification's trigger key, which only a bridge has.
ALTER TABLE jobs ADD COLUMN bridge BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE jobs SET bridge = TRUE WHERE spec LIKE '%"trigger":%';

-- +goose Down
ALTER TABLE jobs DROP COLUMN bridge;
DROP INDEX pipelines_schedule;
ALTER TABLE pipelines DROP COLUMN schedule_id;
