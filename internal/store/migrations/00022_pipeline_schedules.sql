-- +goose Up
-- Pipeline schedules (GitLab's Ci::PipelineSchedule). next_run_at is also
-- the claim: a replica fires a due schedule only by moving next_run_at
-- from the due time it read to the next one (store.ClaimSchedule), so a
-- due time fires once whatever the number of replicas.
CREATE TABLE pipeline_schedules (
    id {{ID}},
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    owner_id BIGINT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    ref TEXT NOT NULL,
    cron TEXT NOT NULL,
    cron_timezone TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    next_run_at BIGINT NOT NULL,
    last_pipeline_id BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX pipeline_schedules_project ON pipeline_schedules (project_id, id);
CREATE INDEX pipeline_schedules_due ON pipeline_schedules (active, next_run_at);

-- A schedule's variables, given to each pipeline it runs. The value is
-- written and read through store.SetScheduleVariable and scanScheduleVariable
-- only, so that sealing it with the instance key later is one change.
CREATE TABLE pipeline_schedule_variables (
    schedule_id BIGINT NOT NULL REFERENCES pipeline_schedules (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    variable_type TEXT NOT NULL DEFAULT 'env_var',
    PRIMARY KEY (schedule_id, key)
);

-- +goose Down
DROP TABLE pipeline_schedule_variables;
DROP TABLE pipeline_schedules;
