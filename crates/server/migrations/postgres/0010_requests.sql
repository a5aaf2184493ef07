-- File requests (twin of sqlite/0010_requests.sql, which explains them).
CREATE TABLE requests (
    id               TEXT PRIMARY KEY,
    token_hash       BYTEA NOT NULL UNIQUE,
    owner_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    title            TEXT NOT NULL,
    message          TEXT,
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    closed_at        BIGINT,
    max_files        BIGINT NOT NULL CHECK (max_files >= 1),
    max_bytes        BIGINT NOT NULL CHECK (max_bytes >= 1),
    passphrase_hash  TEXT,
    ask_sender       BIGINT NOT NULL DEFAULT 0,
    seen_at          BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX requests_owner ON requests(owner_id);
ALTER TABLE objects ADD COLUMN request_id TEXT REFERENCES requests(id) ON DELETE SET NULL;
ALTER TABLE objects ADD COLUMN sender_hash BYTEA;
CREATE INDEX objects_request ON objects(request_id);
