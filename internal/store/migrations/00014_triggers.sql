-- +goose Up
-- Pipeline trigger tokens (GitLab's Ci::Trigger): the token is kept as its
-- digest only; short_token is the part GitLab shows after creation.
CREATE TABLE pipeline_triggers (
    id {{ID}},
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    owner_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    description TEXT NOT NULL DEFAULT '',
    digest TEXT NOT NULL,
    short_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE UNIQUE INDEX pipeline_triggers_digest ON pipeline_triggers (digest);
CREATE INDEX pipeline_triggers_project ON pipeline_triggers (project_id, id);

-- A pipeline's upstream: the job that triggered it (a job token's trigger
-- call or a trigger: bridge), that job's pipeline and project; and the
-- trigger token that created it. 0 for none.
ALTER TABLE pipelines ADD COLUMN source_job_id BIGINT NOT NULL DEFAULT 0;
ALTER TABLE pipelines ADD COLUMN source_pipeline_id BIGINT NOT NULL DEFAULT 0;
ALTER TABLE pipelines ADD COLUMN source_project_id BIGINT NOT NULL DEFAULT 0;
ALTER TABLE pipelines ADD COLUMN trigger_id BIGINT NOT NULL DEFAULT 0;
CREATE INDEX pipelines_source_job ON pipelines (source_job_id);

-- +goose Down
DROP INDEX pipelines_source_job;
ALTER TABLE pipelines DROP COLUMN trigger_id;
ALTER TABLE pipelines DROP COLUMN source_project_id;
ALTER TABLE pipelines DROP COLUMN source_pipeline_id;
ALTER TABLE pipelines DROP COLUMN source_job_id;
DROP TABLE pipeline_triggers;
