-- +goose Up
-- jobs.trace_state held the log masker's held-back tail in clear: perhaps
-- the start of a job token. It is sealed with the instance key from now on
-- (internal/secretbox); a clear one cannot be resumed and must not stay at
-- rest, so it goes. A job running across the upgrade loses at most that
-- tail from its stored log.
UPDATE jobs SET trace_state = NULL WHERE trace_state IS NOT NULL;

-- +goose Down
-- The earlier code cannot read a sealed state: it starts over.
UPDATE jobs SET trace_state = NULL WHERE trace_state IS NOT NULL;
