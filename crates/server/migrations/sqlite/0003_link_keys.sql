-- Two-of-two share links: the owner's page seals the data key under a key that only the link's
-- fragment carries; the server keeps that sealed key encrypted by KMS (context: object, owner,
-- share) and releases it still sealed. Links made before this have no sealed key: the server
-- alone could release their data key, so they are retired (refused as `share_retired`).
ALTER TABLE shares ADD COLUMN sealed_key BLOB;
