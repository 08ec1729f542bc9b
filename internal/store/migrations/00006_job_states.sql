-- +goose Up
-- Covers PipelineJobStates: a pipeline's status is derived after every job
-- change from its jobs' distinct states, read from this index alone.
CREATE INDEX jobs_pipeline_states ON jobs (pipeline_id, retried, status, allow_failure);

-- +goose Down
DROP INDEX jobs_pipeline_states;
