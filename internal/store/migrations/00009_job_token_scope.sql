-- +goose Up
-- The token access scope (docs/gitlab-compat.md §4). Outbound is the
-- seed's "Limit CI_JOB_TOKEN access", off by default; inbound is the
-- accessed project's allowlist, on by default for every project.
ALTER TABLE projects ADD COLUMN ci_outbound_job_token_scope_enabled BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE projects ADD COLUMN ci_inbound_job_token_scope_enabled BOOLEAN NOT NULL DEFAULT TRUE;
-- Bumped in the transaction of every change to the project's links: a
-- request that loaded the project knows whether an in-memory copy of its
-- lists is current, on any replica.
ALTER TABLE projects ADD COLUMN job_token_scope_version BIGINT NOT NULL DEFAULT 0;

-- A job's `job_token: permissions:`: NULL when the job declared none
-- (bounded by the role only), else the listed policies, space-separated.
ALTER TABLE jobs ADD COLUMN token_permissions TEXT;

-- Project links, in both directions. owner_project_id keeps the list:
-- for 'inbound' it is the accessed project and allowed_project_id the
-- project whose jobs may reach it; for 'outbound' it is the project whose
-- jobs' tokens are limited and allowed_project_id a project they may
-- reach. Policies apply when default_permissions is false. Links go with
-- either project and with the user who added them (GitLab cleans them up
-- the same way); whatever deletes users must also bump the owners'
-- job_token_scope_version, as every other change of links does, or
-- in-memory copies of the lists would keep the deleted entries.
CREATE TABLE job_token_project_links (
    id {{ID}},
    owner_project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    direction TEXT NOT NULL,
    allowed_project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    default_permissions BOOLEAN NOT NULL DEFAULT TRUE,
    job_token_policies TEXT NOT NULL DEFAULT '',
    added_by_id BIGINT REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX job_token_project_links_key ON job_token_project_links (owner_project_id, direction, allowed_project_id);
CREATE INDEX job_token_project_links_allowed ON job_token_project_links (allowed_project_id);

-- Group links are inbound only: every project beneath the group, at any
-- depth, may reach the owner project.
CREATE TABLE job_token_group_links (
    id {{ID}},
    owner_project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    allowed_group_id BIGINT NOT NULL REFERENCES namespaces (id) ON DELETE CASCADE,
    default_permissions BOOLEAN NOT NULL DEFAULT TRUE,
    job_token_policies TEXT NOT NULL DEFAULT '',
    added_by_id BIGINT REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX job_token_group_links_key ON job_token_group_links (owner_project_id, allowed_group_id);
CREATE INDEX job_token_group_links_allowed ON job_token_group_links (allowed_group_id);

-- The authentication log: one row per (accessed, origin) project pair,
-- allowed and denied uses alike, written in batches.
CREATE TABLE job_token_authorizations (
    accessed_project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    origin_project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    last_used_at BIGINT NOT NULL,
    allowed_count BIGINT NOT NULL DEFAULT 0,
    denied_count BIGINT NOT NULL DEFAULT 0,
    last_policy TEXT NOT NULL DEFAULT '',
    last_allowed BOOLEAN NOT NULL,
    last_denial_reason TEXT NOT NULL DEFAULT '',
    last_denied_at BIGINT,
    PRIMARY KEY (accessed_project_id, origin_project_id)
);
CREATE INDEX job_token_authorizations_origin ON job_token_authorizations (origin_project_id);

-- Instance settings changed through PUT /application/settings.
CREATE TABLE application_settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- +goose Down
DROP TABLE application_settings;
DROP TABLE job_token_authorizations;
DROP TABLE job_token_group_links;
DROP TABLE job_token_project_links;
ALTER TABLE jobs DROP COLUMN token_permissions;
ALTER TABLE projects DROP COLUMN job_token_scope_version;
ALTER TABLE projects DROP COLUMN ci_inbound_job_token_scope_enabled;
ALTER TABLE projects DROP COLUMN ci_outbound_job_token_scope_enabled;
