-- Per-account quota overrides (NULL: the server's default, from `serve` flags). Bytes are
-- ciphertext bytes as S3 stores them.
ALTER TABLE users ADD COLUMN quota_pending_uploads INTEGER CHECK (quota_pending_uploads >= 0);
ALTER TABLE users ADD COLUMN quota_pending_bytes INTEGER CHECK (quota_pending_bytes >= 0);
ALTER TABLE users ADD COLUMN quota_stored_bytes INTEGER CHECK (quota_stored_bytes >= 0);
