-- File requests: a link (`/r/#t={token}`, only SHA-256 of the token stored) that opens an upload
-- page for people without an account. Each file a sender uploads gets a fresh KMS data key under
-- the *owner's* context plus the request's id, is encrypted in the sender's tab and becomes the
-- owner's object (`objects.request_id`); the sender holds only a secret for its own pending
-- upload (`objects.sender_hash`), which lets it send parts, complete or abort that upload and
-- nothing else. The request's limits (expiry, files, bytes) are checked in the same statement
-- that records an upload, counting the request's pending and complete objects.
CREATE TABLE requests (
    id               TEXT PRIMARY KEY,
    token_hash       BLOB NOT NULL UNIQUE,
    owner_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    title            TEXT NOT NULL,
    message          TEXT,
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    closed_at        INTEGER,
    max_files        INTEGER NOT NULL CHECK (max_files >= 1),
    max_bytes        INTEGER NOT NULL CHECK (max_bytes >= 1),
    passphrase_hash  TEXT,
    ask_sender       INTEGER NOT NULL DEFAULT 0,
    seen_at          INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX requests_owner ON requests(owner_id);
ALTER TABLE objects ADD COLUMN request_id TEXT REFERENCES requests(id) ON DELETE SET NULL;
ALTER TABLE objects ADD COLUMN sender_hash BLOB;
CREATE INDEX objects_request ON objects(request_id);
