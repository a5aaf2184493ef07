-- Key rotation (twin of sqlite/0013_rekey.sql, which explains it).
CREATE TABLE rekey_jobs (
    id                TEXT PRIMARY KEY,
    from_key          TEXT NOT NULL,
    to_key            TEXT NOT NULL,
    account_id        TEXT REFERENCES users(id) ON DELETE CASCADE,
    state             TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
    kms_rate          BIGINT NOT NULL,
    created_at        BIGINT NOT NULL,
    started_at        BIGINT,
    finished_at       BIGINT,
    files_total       BIGINT NOT NULL DEFAULT 0,
    bytes_total       BIGINT NOT NULL DEFAULT 0,
    files_done        BIGINT NOT NULL DEFAULT 0,
    bytes_done        BIGINT NOT NULL DEFAULT 0,
    files_failed      BIGINT NOT NULL DEFAULT 0,
    keys_done         BIGINT NOT NULL DEFAULT 0,
    waiting           BIGINT NOT NULL DEFAULT 0,
    message           TEXT NOT NULL DEFAULT ''
);
CREATE INDEX rekey_jobs_state ON rekey_jobs(state, created_at);

CREATE TABLE rekey_moves (
    object_id         TEXT PRIMARY KEY,
    job_id            TEXT NOT NULL,
    new_s3_key        TEXT NOT NULL,
    s3_upload_id      TEXT,
    started_at        BIGINT NOT NULL
);

CREATE TABLE retired_objects (
    s3_key            TEXT PRIMARY KEY,
    object_id         TEXT NOT NULL,
    delete_after      BIGINT NOT NULL
);

-- An account's own KMS key (id, ARN or alias) for its new data keys, uploads, metadata keys and
-- file requests; NULL: the server's --kms-key-id.
ALTER TABLE users ADD COLUMN kms_key_id TEXT;
