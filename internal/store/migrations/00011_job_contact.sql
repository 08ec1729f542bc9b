-- +goose Up
-- When the job's runner last called about it (keep-alive, log, upload), in
-- microseconds; NULL until its first call after the job was taken, when
-- started_at stands for it. The server fails a running job whose runner
-- has been silent too long (runner-protocol.md §11).
ALTER TABLE jobs ADD COLUMN contacted_at BIGINT;
-- How many times the server asked the runner to resend the log because
-- the final update's size and checksum did not match what it stored (412,
-- runner-protocol.md §7); bounded, so that a runner that cannot resend
-- still ends its job.
ALTER TABLE jobs ADD COLUMN trace_resends INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE jobs DROP COLUMN trace_resends;
ALTER TABLE jobs DROP COLUMN contacted_at;
