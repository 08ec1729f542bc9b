-- +goose Up
-- One row per stored artifact of a job: the archive (served for
-- downloads) and report files, at most one of each type. A row is written
-- only after its blob is complete, so a row always points at a whole blob.
-- job_id has no foreign key on purpose: a deleted pipeline takes its jobs
-- with it, and the artifact rows it leaves behind are how the sweeper
-- finds the blobs to delete (a cascade would lose them).
CREATE TABLE job_artifacts (
    id {{ID}},
    job_id BIGINT NOT NULL,
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    file_type TEXT NOT NULL,
    file_format TEXT NOT NULL,
    filename TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    blob_key TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expire_at BIGINT
);
CREATE UNIQUE INDEX job_artifacts_job_type ON job_artifacts (job_id, file_type);
CREATE INDEX job_artifacts_expire ON job_artifacts (expire_at);

-- +goose Down
DROP TABLE job_artifacts;
