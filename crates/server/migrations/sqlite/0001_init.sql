-- Accounts, sessions, one-time login links, uploads/objects and the hash-chained audit log.

CREATE TABLE users (
    id                TEXT PRIMARY KEY,
    username          TEXT NOT NULL UNIQUE,
    password_hash     TEXT,                       -- argon2id PHC string; NULL until chosen
    is_admin          INTEGER NOT NULL DEFAULT 0,
    created_at        INTEGER NOT NULL
);

-- Only SHA-256 hashes of session tokens and link tokens are stored.
CREATE TABLE sessions (
    token_hash        BLOB PRIMARY KEY,
    user_id           TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at        INTEGER NOT NULL,
    expires_at        INTEGER NOT NULL,
    via_link          INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE login_links (
    token_hash        BLOB PRIMARY KEY,
    user_id           TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    expires_at        INTEGER NOT NULL
);

-- One row per upload; it becomes the object when completed (the id stays the same).
CREATE TABLE objects (
    id                TEXT PRIMARY KEY,
    owner_id          TEXT NOT NULL REFERENCES users(id),
    state             TEXT NOT NULL CHECK (state IN ('pending', 'complete', 'aborted', 'rejected')),
    s3_key            TEXT NOT NULL,
    s3_upload_id      TEXT NOT NULL,
    suite             INTEGER NOT NULL,
    frame_length      INTEGER NOT NULL,
    plaintext_size    INTEGER NOT NULL,
    ciphertext_size   INTEGER NOT NULL,           -- exact (0x0478) or largest possible (0x0578)
    part_size         INTEGER NOT NULL,
    part_count        INTEGER NOT NULL,
    key_arn           TEXT NOT NULL,
    edk               BLOB NOT NULL,
    context           TEXT NOT NULL,              -- JSON object: the full message context
    metadata          BLOB,                       -- encrypted by the browser
    stored_size       INTEGER,                    -- what S3 holds once complete
    created_at        INTEGER NOT NULL,
    completed_at      INTEGER
);
CREATE INDEX objects_owner ON objects(owner_id, state);
CREATE INDEX objects_pending ON objects(state, created_at);

-- Append-only, hash-chained: hash = SHA-256(prev_hash || canonical row).
CREATE TABLE audit (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    time_ms           INTEGER NOT NULL,
    actor             TEXT NOT NULL,
    action            TEXT NOT NULL,
    object            TEXT,
    ip                TEXT,
    outcome           TEXT NOT NULL,
    detail            TEXT NOT NULL,
    prev_hash         TEXT NOT NULL,
    hash              TEXT NOT NULL
);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
