-- +goose Up
-- Terraform/OpenTofu states of the HTTP backend (GitLab's terraform
-- states). The lock is this row's lock_id: taken and released by
-- conditional UPDATEs, so it holds across replicas and restarts. A state's
-- current version is its version with the highest serial.
CREATE TABLE terraform_states (
    id {{ID}},
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    lock_id TEXT,
    lock_info TEXT,
    locked_by BIGINT,
    locked_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX terraform_states_name ON terraform_states (project_id, name);

-- One row per kept version, written only once its sealed blob is
-- complete (the blob first, then this row in one transaction), so that a
-- write that fails or is killed leaves the previous version current.
CREATE TABLE terraform_state_versions (
    id {{ID}},
    state_id BIGINT NOT NULL REFERENCES terraform_states (id) ON DELETE CASCADE,
    serial BIGINT NOT NULL,
    blob_key TEXT NOT NULL,
    size BIGINT NOT NULL,
    created_by BIGINT NOT NULL DEFAULT 0,
    job_id BIGINT,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX terraform_state_versions_serial ON terraform_state_versions (state_id, serial);

-- +goose Down
DROP TABLE terraform_state_versions;
DROP TABLE terraform_states;
