-- Share links (twin of sqlite/0002_shares.sql): `downloads` only ever grows through one
-- conditional UPDATE, so concurrent releases on any number of replicas never pass the limit.
CREATE TABLE shares (
    id                TEXT PRIMARY KEY,
    token_hash        BYTEA NOT NULL UNIQUE,
    object_id         TEXT NOT NULL REFERENCES objects(id) ON DELETE CASCADE,
    owner_id          TEXT NOT NULL REFERENCES users(id),
    created_at        BIGINT NOT NULL,
    expires_at        BIGINT NOT NULL,
    max_downloads     BIGINT,
    downloads         BIGINT NOT NULL DEFAULT 0 CHECK (downloads >= 0),
    passphrase_hash   TEXT,
    note              TEXT,
    delete_after_last BIGINT NOT NULL DEFAULT 0,
    metadata          BYTEA,
    revoked_at        BIGINT,
    CHECK (max_downloads IS NULL OR downloads <= max_downloads)
);
CREATE INDEX shares_object ON shares(object_id);

ALTER TABLE objects ADD COLUMN delete_at BIGINT;
