-- State every replica shares (twin of sqlite/0006_shared_state.sql, which explains it).
CREATE TABLE limits (
    key               TEXT PRIMARY KEY,
    failures          BIGINT NOT NULL,
    since_ms          BIGINT NOT NULL,
    refused           BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE audit_head (
    one               BIGINT PRIMARY KEY CHECK (one = 1),
    id                BIGINT NOT NULL,
    hash              TEXT NOT NULL
);
INSERT INTO audit_head (one, id, hash) VALUES (
    1,
    COALESCE((SELECT MAX(id) FROM audit), 0),
    COALESCE((SELECT hash FROM audit ORDER BY id DESC LIMIT 1),
             '0000000000000000000000000000000000000000000000000000000000000000')
);
