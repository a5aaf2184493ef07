-- Twin of sqlite/0011_sender_pending_and_share_sets.sql, which explains it.
ALTER TABLE objects ADD COLUMN sender_net TEXT;
CREATE INDEX objects_request_state ON objects(request_id, state);
ALTER TABLE shares ADD COLUMN set_key BYTEA;
ALTER TABLE shares ADD COLUMN set_digest TEXT;
ALTER TABLE shares ADD COLUMN set_key_arn TEXT;
