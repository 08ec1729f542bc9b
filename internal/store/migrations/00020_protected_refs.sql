-- +goose Up
-- Protected branches and tags (issue 16): one rule per project, kind and
-- name, where name may be a wildcard pattern (release/*). For a tag,
-- push_access_level is GitLab's create_access_level. Levels are GitLab's:
-- 0 no one, 30 Developers + Maintainers, 40 Maintainers, 60 Admin.
CREATE TABLE protected_refs (
    id {{ID}},
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    push_access_level INTEGER NOT NULL,
    merge_access_level INTEGER NOT NULL DEFAULT 0,
    allow_force_push BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX protected_refs_key ON protected_refs (project_id, kind, name);

-- +goose Down
DROP TABLE protected_refs;
