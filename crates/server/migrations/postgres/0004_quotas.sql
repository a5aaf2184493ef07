-- Per-account quota overrides (twin of sqlite/0004_quotas.sql).
ALTER TABLE users ADD COLUMN quota_pending_uploads BIGINT CHECK (quota_pending_uploads >= 0);
ALTER TABLE users ADD COLUMN quota_pending_bytes BIGINT CHECK (quota_pending_bytes >= 0);
ALTER TABLE users ADD COLUMN quota_stored_bytes BIGINT CHECK (quota_stored_bytes >= 0);
