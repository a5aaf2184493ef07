-- Two-of-two share links (twin of sqlite/0003_link_keys.sql).
ALTER TABLE shares ADD COLUMN sealed_key BYTEA;
