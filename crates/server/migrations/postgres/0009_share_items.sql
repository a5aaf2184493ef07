-- Links to several files (twin of sqlite/0009_share_items.sql, which explains them).
CREATE TABLE share_items (
    share_id    TEXT NOT NULL REFERENCES shares(id) ON DELETE CASCADE,
    position    BIGINT NOT NULL CHECK (position >= 0),
    object_id   TEXT NOT NULL REFERENCES objects(id) ON DELETE CASCADE,
    sealed_key  BYTEA NOT NULL,
    metadata    BYTEA NOT NULL,
    PRIMARY KEY (share_id, position),
    UNIQUE (share_id, object_id)
);
CREATE INDEX share_items_object ON share_items(object_id);
