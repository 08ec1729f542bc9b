-- +goose Up
-- A project's container registry cleanup policy (GitLab's
-- ContainerExpirationPolicy, container_expiration_policy in the project
-- entity). A project without a row has GitLab's defaults, disabled.
-- next_run_at (0: none) is also the claim: a replica runs a due policy
-- only by moving next_run_at from the due time it read to the next one
-- (store.ClaimContainerPolicy), as pipeline schedules do, so a due run
-- happens once whatever the number of replicas.
CREATE TABLE container_expiration_policies (
    project_id BIGINT PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    enabled BOOLEAN NOT NULL DEFAULT FALSE,
    cadence TEXT NOT NULL,
    keep_n INTEGER,
    older_than TEXT,
    name_regex TEXT,
    name_regex_keep TEXT,
    next_run_at BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX container_expiration_policies_due ON container_expiration_policies (enabled, next_run_at);

-- +goose Down
DROP TABLE container_expiration_policies;
