-- Reliability, second round.
-- A file request's pending uploads count against the request and the sender's network, not
-- against the owner's own pending limit: each sender upload records the network it came from
-- (the same key the guess limits use: an IPv4 address or an IPv6 /64).
ALTER TABLE objects ADD COLUMN sender_net TEXT;
CREATE INDEX objects_request_state ON objects(request_id, state);
-- A link to several files is released with one KMS call: a set key (KMS GenerateDataKey under
-- the link's context and the digest of its files) encrypts each file's sealed key locally
-- (AES-256-GCM, AAD = label, link id, file id). `set_key` is that key's KMS ciphertext;
-- `set_digest` the SHA-256 (hex) of the files' ids, in order, as the context named them.
ALTER TABLE shares ADD COLUMN set_key BLOB;
ALTER TABLE shares ADD COLUMN set_digest TEXT;
ALTER TABLE shares ADD COLUMN set_key_arn TEXT;
