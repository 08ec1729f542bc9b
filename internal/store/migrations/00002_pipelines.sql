-- +goose Up
CREATE TABLE pipelines (
    id {{ID}},
    iid BIGINT NOT NULL,
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    ref TEXT NOT NULL,
    tag BOOLEAN NOT NULL DEFAULT FALSE,
    sha TEXT NOT NULL,
    before_sha TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL,
    status TEXT NOT NULL,
    user_id BIGINT NOT NULL DEFAULT 0,
    yaml_errors TEXT NOT NULL DEFAULT '',
    variables TEXT NOT NULL DEFAULT '[]',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT
);
CREATE UNIQUE INDEX pipelines_project_iid ON pipelines (project_id, iid);
CREATE INDEX pipelines_project_ref ON pipelines (project_id, ref, status);

CREATE TABLE jobs (
    id {{ID}},
    pipeline_id BIGINT NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    stage TEXT NOT NULL,
    stage_idx INTEGER NOT NULL,
    status TEXT NOT NULL,
    job_when TEXT NOT NULL,
    allow_failure BOOLEAN NOT NULL DEFAULT FALSE,
    user_id BIGINT NOT NULL DEFAULT 0,
    dag BOOLEAN NOT NULL DEFAULT FALSE,
    needs TEXT NOT NULL DEFAULT '',
    spec TEXT NOT NULL DEFAULT '{}',
    retried BOOLEAN NOT NULL DEFAULT FALSE,
    scheduled_at BIGINT,
    created_at BIGINT NOT NULL,
    queued_at BIGINT,
    started_at BIGINT,
    finished_at BIGINT,
    erased_at BIGINT,
    failure_reason TEXT NOT NULL DEFAULT '',
    exit_code INTEGER,
    runner_id BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX jobs_pipeline ON jobs (pipeline_id);
CREATE INDEX jobs_project ON jobs (project_id, id);
CREATE INDEX jobs_status ON jobs (status);

-- +goose Down
DROP TABLE jobs;
DROP TABLE pipelines;
