-- +goose Up
-- CI/CD variables of projects, groups and the instance (issue 16). owner
-- names whose list a variable is on ("instance", "group:<id>",
-- "project:<id>"); project_id and group_id let a deletion take the
-- variables with it. The value is sealed with the instance key
-- (internal/secretbox), bound to the owner and the key: never in clear at
-- rest (security.md §1). A key is unique per owner and environment scope
-- (GitLab's "(KEY) has already been taken").
CREATE TABLE ci_variables (
    id {{ID}},
    owner TEXT NOT NULL,
    project_id BIGINT REFERENCES projects (id) ON DELETE CASCADE,
    group_id BIGINT REFERENCES namespaces (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value_sealed {{BLOB}} NOT NULL,
    variable_type TEXT NOT NULL DEFAULT 'env_var',
    protected BOOLEAN NOT NULL DEFAULT FALSE,
    masked BOOLEAN NOT NULL DEFAULT FALSE,
    hidden BOOLEAN NOT NULL DEFAULT FALSE,
    raw BOOLEAN NOT NULL DEFAULT FALSE,
    environment_scope TEXT NOT NULL DEFAULT '*',
    description TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX ci_variables_owner_key ON ci_variables (owner, key, environment_scope);
CREATE INDEX ci_variables_project ON ci_variables (project_id);
CREATE INDEX ci_variables_group ON ci_variables (group_id);

-- +goose Down
DROP TABLE ci_variables;
