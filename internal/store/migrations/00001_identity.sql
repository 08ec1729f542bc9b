-- +goose Up
-- Times are stored as Unix microseconds (BIGINT) so that SQLite and
-- PostgreSQL read and compare them the same way. {{ID}} is replaced by the
-- dialect's auto-increment primary key (store/dialect.go).

CREATE TABLE users (
    id {{ID}},
    username TEXT NOT NULL,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    admin BOOLEAN NOT NULL DEFAULT FALSE,
    blocked BOOLEAN NOT NULL DEFAULT FALSE,
    namespace_id BIGINT,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX users_username ON users (lower(username));
CREATE UNIQUE INDEX users_email ON users (lower(email));

CREATE TABLE personal_access_tokens (
    id {{ID}},
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    scopes TEXT NOT NULL,
    digest TEXT NOT NULL,
    expires_at BIGINT,
    revoked BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE UNIQUE INDEX personal_access_tokens_digest ON personal_access_tokens (digest);
CREATE INDEX personal_access_tokens_user ON personal_access_tokens (user_id);

CREATE TABLE namespaces (
    id {{ID}},
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    path TEXT NOT NULL,
    full_path TEXT NOT NULL,
    full_name TEXT NOT NULL,
    parent_id BIGINT REFERENCES namespaces (id) ON DELETE CASCADE,
    owner_id BIGINT REFERENCES users (id) ON DELETE CASCADE,
    visibility TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    traversal TEXT NOT NULL DEFAULT '/',
    pending_delete BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX namespaces_full_path ON namespaces (lower(full_path));
CREATE INDEX namespaces_parent ON namespaces (parent_id);
CREATE INDEX namespaces_traversal ON namespaces (traversal);

CREATE TABLE projects (
    id {{ID}},
    name TEXT NOT NULL,
    path TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    namespace_id BIGINT NOT NULL REFERENCES namespaces (id) ON DELETE CASCADE,
    visibility TEXT NOT NULL,
    default_branch TEXT NOT NULL DEFAULT 'main',
    creator_id BIGINT NOT NULL DEFAULT 0,
    pending_delete BOOLEAN NOT NULL DEFAULT FALSE,
    ci_push_repository_for_job_token_allowed BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX projects_namespace_path ON projects (namespace_id, lower(path));

CREATE TABLE project_members (
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    access_level INTEGER NOT NULL,
    expires_at BIGINT,
    created_by BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (project_id, user_id)
);
CREATE INDEX project_members_user ON project_members (user_id);

CREATE TABLE group_members (
    namespace_id BIGINT NOT NULL REFERENCES namespaces (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    access_level INTEGER NOT NULL,
    expires_at BIGINT,
    created_by BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (namespace_id, user_id)
);
CREATE INDEX group_members_user ON group_members (user_id);

-- +goose Down
DROP TABLE group_members;
DROP TABLE project_members;
DROP TABLE projects;
DROP TABLE namespaces;
DROP TABLE personal_access_tokens;
DROP TABLE users;
