-- +goose Up
-- A package is (project, type, name, version). A package row may be
-- created just before its first file is uploaded; a package without files
-- (an upload that failed, or a process killed mid-upload) is treated as
-- absent by every read, so only complete uploads are ever visible.
CREATE TABLE packages (
    id {{ID}},
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    package_type TEXT NOT NULL,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'default',
    creator_id BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX packages_identity ON packages (project_id, package_type, name, version);
CREATE INDEX packages_project_created ON packages (project_id, created_at);

-- One row per uploaded file, written only once its blob is complete. The
-- same file name may appear more than once (GitLab allows duplicates);
-- downloads by name serve the newest. pipeline_id is the pipeline of the
-- job whose token published the file.
CREATE TABLE package_files (
    id {{ID}},
    package_id BIGINT NOT NULL REFERENCES packages (id) ON DELETE CASCADE,
    file_name TEXT NOT NULL,
    size BIGINT NOT NULL,
    file_sha256 TEXT NOT NULL,
    blob_key TEXT NOT NULL,
    pipeline_id BIGINT REFERENCES pipelines (id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX package_files_name ON package_files (package_id, file_name, id);

-- +goose Down
DROP TABLE package_files;
DROP TABLE packages;
