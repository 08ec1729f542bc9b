-- +goose Up
-- Whether a pipeline's ref was protected when it was created (issue 16):
-- CI_COMMIT_REF_PROTECTED, and what decides whether protected variables
-- reach its jobs.
ALTER TABLE pipelines ADD COLUMN protected BOOLEAN NOT NULL DEFAULT FALSE;

-- +goose Down
ALTER TABLE pipelines DROP COLUMN protected;
