-- +goose Up
-- The identity of each local store that every replica must share
-- (docs/scaling.md): the random ID in the marker file of the
-- repositories directory ("repositories") and of the blob directory
-- ("blobs", when no S3 is configured), recorded by the first start that
-- sees it. A replica whose directory holds another ID, or none, is not
-- looking at this instance's data and refuses to start.
CREATE TABLE storage_ids (
    store TEXT PRIMARY KEY,
    storage_id TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Each replica's built-in runner, keyed by the replica's name, so that a
-- restart (even on a fresh data directory) reuses it. Its token is sealed
-- with the instance key (internal/secretbox): the server must present it,
-- and no secret is kept in clear at rest (tokens only as digests,
-- security.md §1).
CREATE TABLE builtin_runners (
    replica_name TEXT PRIMARY KEY,
    runner_id BIGINT NOT NULL UNIQUE REFERENCES runners (id) ON DELETE CASCADE,
    token_sealed {{BLOB}} NOT NULL
);

-- +goose Down
DROP TABLE builtin_runners;
DROP TABLE storage_ids;
