-- Share links: a 256-bit token (only its SHA-256 stored) that lets anyone holding it have the
-- server release one object's data key, within an expiry, a download limit, an optional
-- passphrase (argon2id), until revoked. `downloads` only ever grows through one conditional
-- UPDATE, so concurrent releases can never pass the limit.
CREATE TABLE shares (
    id                TEXT PRIMARY KEY,
    token_hash        BLOB NOT NULL UNIQUE,
    object_id         TEXT NOT NULL REFERENCES objects(id) ON DELETE CASCADE,
    owner_id          TEXT NOT NULL REFERENCES users(id),
    created_at        INTEGER NOT NULL,
    expires_at        INTEGER NOT NULL,
    max_downloads     INTEGER,                    -- NULL: no limit
    downloads         INTEGER NOT NULL DEFAULT 0 CHECK (downloads >= 0),
    passphrase_hash   TEXT,                       -- argon2id PHC string
    note              TEXT,
    delete_after_last INTEGER NOT NULL DEFAULT 0,
    metadata          BLOB,                       -- name and type, sealed for the link by the owner's browser
    revoked_at        INTEGER,
    CHECK (max_downloads IS NULL OR downloads <= max_downloads)
);
CREATE INDEX shares_object ON shares(object_id);

-- Set when a link that deletes the file after its last download gives out its last key: the
-- sweeper deletes the object once the recipient's download URL has expired.
ALTER TABLE objects ADD COLUMN delete_at INTEGER;
