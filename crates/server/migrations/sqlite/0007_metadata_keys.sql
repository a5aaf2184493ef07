-- Per-account metadata keys: a KMS data key per account (and version), stored only as its EDK,
-- under which the owner's browser seals every file's name and type. Listing files then costs one
-- KMS call per session, not one per file. A new version is made by a rotation; the page re-seals
-- names under the newest version as it reads them.
CREATE TABLE metadata_keys (
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    version       INTEGER NOT NULL CHECK (version >= 1),
    key_arn       TEXT NOT NULL,
    edk           BLOB NOT NULL,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (user_id, version)
);
