-- Per-account metadata keys (twin of sqlite/0007_metadata_keys.sql, which explains them).
CREATE TABLE metadata_keys (
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    version       BIGINT NOT NULL CHECK (version >= 1),
    key_arn       TEXT NOT NULL,
    edk           BYTEA NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (user_id, version)
);
