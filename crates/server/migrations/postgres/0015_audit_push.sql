-- Where each audit push target stands: the last row it has received (its hash, to anchor the
-- next batch) and when. One row per target (a digest of the bucket and prefix, or of the URL).
CREATE TABLE audit_push (
    target     TEXT PRIMARY KEY,
    last_row   BIGINT NOT NULL,
    last_hash  TEXT NOT NULL,
    pushed_ms  BIGINT NOT NULL
);
