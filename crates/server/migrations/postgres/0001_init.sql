-- Accounts, sessions, one-time login links, uploads/objects and the hash-chained audit log.
-- PostgreSQL twin of sqlite/0001_init.sql: the same tables, columns and meanings. Integers are
-- BIGINT (SQLite's INTEGER is 64-bit), blobs BYTEA, flags 0/1 BIGINTs as in SQLite, so one query
-- text and one Rust type serve both back ends. `tests/tests/postgres.rs` checks the schemas agree.

CREATE TABLE users (
    id                TEXT PRIMARY KEY,
    username          TEXT NOT NULL UNIQUE,
    password_hash     TEXT,
    is_admin          BIGINT NOT NULL DEFAULT 0,
    created_at        BIGINT NOT NULL
);

CREATE TABLE sessions (
    token_hash        BYTEA PRIMARY KEY,
    user_id           TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at        BIGINT NOT NULL,
    expires_at        BIGINT NOT NULL,
    via_link          BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE login_links (
    token_hash        BYTEA PRIMARY KEY,
    user_id           TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    expires_at        BIGINT NOT NULL
);

CREATE TABLE objects (
    id                TEXT PRIMARY KEY,
    owner_id          TEXT NOT NULL REFERENCES users(id),
    state             TEXT NOT NULL CHECK (state IN ('pending', 'complete', 'aborted', 'rejected')),
    s3_key            TEXT NOT NULL,
    s3_upload_id      TEXT NOT NULL,
    suite             BIGINT NOT NULL,
    frame_length      BIGINT NOT NULL,
    plaintext_size    BIGINT NOT NULL,
    ciphertext_size   BIGINT NOT NULL,
    part_size         BIGINT NOT NULL,
    part_count        BIGINT NOT NULL,
    key_arn           TEXT NOT NULL,
    edk               BYTEA NOT NULL,
    context           TEXT NOT NULL,
    metadata          BYTEA,
    stored_size       BIGINT,
    created_at        BIGINT NOT NULL,
    completed_at      BIGINT
);
CREATE INDEX objects_owner ON objects(owner_id, state);
CREATE INDEX objects_pending ON objects(state, created_at);

-- Ids are given by the writer holding the chain's head (see audit.rs), never by a sequence.
CREATE TABLE audit (
    id                BIGINT PRIMARY KEY,
    time_ms           BIGINT NOT NULL,
    actor             TEXT NOT NULL,
    action            TEXT NOT NULL,
    object            TEXT,
    ip                TEXT,
    outcome           TEXT NOT NULL,
    detail            TEXT NOT NULL,
    prev_hash         TEXT NOT NULL,
    hash              TEXT NOT NULL
);
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$;
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
