-- +goose Up
CREATE TABLE runners (
    id {{ID}},
    token_digest TEXT NOT NULL,
    runner_type TEXT NOT NULL,
    group_id BIGINT REFERENCES namespaces (id) ON DELETE CASCADE,
    description TEXT NOT NULL DEFAULT '',
    tag_list TEXT NOT NULL DEFAULT '',
    run_untagged BOOLEAN NOT NULL DEFAULT TRUE,
    paused BOOLEAN NOT NULL DEFAULT FALSE,
    locked BOOLEAN NOT NULL DEFAULT FALSE,
    maximum_timeout INTEGER NOT NULL DEFAULT 0,
    created_by BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    contacted_at BIGINT
);
CREATE UNIQUE INDEX runners_token ON runners (token_digest);

CREATE TABLE runner_projects (
    runner_id BIGINT NOT NULL REFERENCES runners (id) ON DELETE CASCADE,
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    PRIMARY KEY (runner_id, project_id)
);
CREATE INDEX runner_projects_project ON runner_projects (project_id);

CREATE TABLE runner_managers (
    runner_id BIGINT NOT NULL REFERENCES runners (id) ON DELETE CASCADE,
    system_id TEXT NOT NULL,
    contacted_at BIGINT NOT NULL,
    PRIMARY KEY (runner_id, system_id)
);

-- The job token is stored only as its digest, while the job may use it.
ALTER TABLE jobs ADD COLUMN token_digest TEXT;
CREATE UNIQUE INDEX jobs_token ON jobs (token_digest);
-- Trace bookkeeping: bytes the runner sent (its offsets), their running
-- CRC32, and the masker's held-back state between PATCH requests.
ALTER TABLE jobs ADD COLUMN trace_size BIGINT NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN trace_crc BIGINT NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN trace_state {{BLOB}};
ALTER TABLE jobs ADD COLUMN timeout_seconds INTEGER NOT NULL DEFAULT 3600;

CREATE TABLE job_trace_chunks (
    job_id BIGINT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    data {{BLOB}} NOT NULL,
    PRIMARY KEY (job_id, seq)
);

-- +goose Down
DROP TABLE job_trace_chunks;
DROP TABLE runner_managers;
DROP TABLE runner_projects;
DROP TABLE runners;
