-- Key rotation (see postgres/0013_rekey.sql for the twin): jobs that move stored files to
-- another KMS key with their bodies untouched, the new objects a move is building, and the old
-- objects kept until the download URLs issued for them have expired.
--
-- A job is recorded here and run by exactly one replica at a time (a cluster-wide lock); its
-- counters say where it is, and a replica that starts again resumes it. `account_id` NULL: every
-- account.
CREATE TABLE rekey_jobs (
    id                TEXT PRIMARY KEY,
    from_key          TEXT NOT NULL,              -- the key ARN files move away from
    to_key            TEXT NOT NULL,              -- the key id, ARN or alias they move to
    account_id        TEXT REFERENCES users(id) ON DELETE CASCADE,
    state             TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
    kms_rate          INTEGER NOT NULL,           -- most KMS requests per second
    created_at        INTEGER NOT NULL,
    started_at        INTEGER,
    finished_at       INTEGER,
    files_total       INTEGER NOT NULL DEFAULT 0, -- complete files under from_key when it started
    bytes_total       INTEGER NOT NULL DEFAULT 0,
    files_done        INTEGER NOT NULL DEFAULT 0,
    bytes_done        INTEGER NOT NULL DEFAULT 0,
    files_failed      INTEGER NOT NULL DEFAULT 0,
    keys_done         INTEGER NOT NULL DEFAULT 0, -- metadata keys and link set keys moved
    waiting           INTEGER NOT NULL DEFAULT 0, -- unfinished uploads under from_key still open
    message           TEXT NOT NULL DEFAULT ''    -- the last error or what it waits for, in words
);
CREATE INDEX rekey_jobs_state ON rekey_jobs(state, created_at);

-- A new object being built for a file: recorded before S3 is asked for it, deleted in the same
-- transaction that switches the file to it. A row left here is a move a crash interrupted: its
-- object (or multipart upload) is deleted before the file is moved again.
CREATE TABLE rekey_moves (
    object_id         TEXT PRIMARY KEY,           -- no foreign key: a row outlives a deleted file
                                                  -- until its new object is cleaned up
    job_id            TEXT NOT NULL,
    new_s3_key        TEXT NOT NULL,
    s3_upload_id      TEXT,                       -- set once the multipart upload exists
    started_at        INTEGER NOT NULL
);

-- An object a file has moved away from: still readable through the URLs already issued for it,
-- deleted by the sweeper once they have expired.
CREATE TABLE retired_objects (
    s3_key            TEXT PRIMARY KEY,
    object_id         TEXT NOT NULL,
    delete_after      INTEGER NOT NULL
);

-- An account's own KMS key (id, ARN or alias) for its new data keys, uploads, metadata keys and
-- file requests; NULL: the server's --kms-key-id.
ALTER TABLE users ADD COLUMN kms_key_id TEXT;
