-- Links to several files (a selection, or a folder with its relative paths): one row per file,
-- in the order the recipient sees them. Each file's data key is sealed under the one link key and
-- stored encrypted by KMS under the link's context for that file (object, owner, share); its name
-- is sealed under the link key too. The link's own row points at the first file (and carries its
-- sealed key), so every rule of a link (expiry, limit, passphrase, revocation) applies to the set,
-- and one counted release gives every file's key. A deleted file leaves the set; if it was the
-- first, the link moves on to the next one.
CREATE TABLE share_items (
    share_id    TEXT NOT NULL REFERENCES shares(id) ON DELETE CASCADE,
    position    INTEGER NOT NULL CHECK (position >= 0),
    object_id   TEXT NOT NULL REFERENCES objects(id) ON DELETE CASCADE,
    sealed_key  BLOB NOT NULL,
    metadata    BLOB NOT NULL,
    PRIMARY KEY (share_id, position),
    UNIQUE (share_id, object_id)
);
CREATE INDEX share_items_object ON share_items(object_id);
