-- +goose Up
-- Values that may be secret and were kept in clear until now, sealed with
-- the instance key (issue 16, "Encrypted at rest"; security.md §1): a
-- pipeline's variables (API, trigger, schedule, manual play), a
-- schedule's variable values, and a job's spec (its `variables:` among
-- the rest). The store writes only the sealed column; rows written before
-- this migration keep their clear column and are read as they are until
-- `ciwarden admin rotate-key` seals them (SQL holds no key, so this
-- migration cannot).
ALTER TABLE pipelines ADD COLUMN variables_sealed {{BLOB}};
ALTER TABLE jobs ADD COLUMN spec_sealed {{BLOB}};
ALTER TABLE pipeline_schedule_variables ADD COLUMN value_sealed {{BLOB}};

-- +goose Down
ALTER TABLE pipeline_schedule_variables DROP COLUMN value_sealed;
ALTER TABLE jobs DROP COLUMN spec_sealed;
ALTER TABLE pipelines DROP COLUMN variables_sealed;
