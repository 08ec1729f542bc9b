-- +goose Up
-- Releases (GitLab's Release): one per tag of a project. sha is the tag's
-- commit when the release was made, as GitLab keeps it.
CREATE TABLE releases (
    id {{ID}},
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    tag_name TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    sha TEXT NOT NULL DEFAULT '',
    author_id BIGINT NOT NULL DEFAULT 0,
    released_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX releases_project_tag ON releases (project_id, tag_name);
CREATE INDEX releases_project_released ON releases (project_id, released_at);

-- A release's asset links (GitLab's Releases::Link): name and url are each
-- unique within a release; filepath is the direct_asset_path.
CREATE TABLE release_links (
    id {{ID}},
    release_id BIGINT NOT NULL REFERENCES releases (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    url TEXT NOT NULL,
    filepath TEXT NOT NULL DEFAULT '',
    link_type TEXT NOT NULL DEFAULT 'other',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX release_links_name ON release_links (release_id, name);
CREATE UNIQUE INDEX release_links_url ON release_links (release_id, url);

-- +goose Down
DROP TABLE release_links;
DROP TABLE releases;
