-- +goose Up
-- The container registry's token signing keys (ES256), sealed with the
-- instance key so that every replica signs with the same keys and the
-- registry of every replica trusts them (docs/registry.md). Several rows
-- may live at once: the newest signs, all are in the registry's JWKS, so
-- a key can be rotated without refusing tokens issued a moment before.
CREATE TABLE registry_keys (
    kid TEXT PRIMARY KEY,
    key_sealed {{BLOB}} NOT NULL,
    created_at BIGINT NOT NULL
);

-- Container repositories (GitLab's ContainerRepository): one per image
-- path below a project, <project path> itself or <project path>/<name>.
-- A row is made when the token service first grants a push to the path,
-- so that the registry API lists what a project's jobs push; it goes with
-- its project.
CREATE TABLE container_repositories (
    id {{ID}},
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    path TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX container_repositories_path ON container_repositories (path);
CREATE INDEX container_repositories_project ON container_repositories (project_id, id);

-- +goose Down
DROP TABLE container_repositories;
DROP TABLE registry_keys;
