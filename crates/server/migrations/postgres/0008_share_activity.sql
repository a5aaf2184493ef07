-- A link's last use and the downloads its owner has seen (twin of sqlite/0008_share_activity.sql).
ALTER TABLE shares ADD COLUMN last_used_at BIGINT;
ALTER TABLE shares ADD COLUMN seen_downloads BIGINT NOT NULL DEFAULT 0;
