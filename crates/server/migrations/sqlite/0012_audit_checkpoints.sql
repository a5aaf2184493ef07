-- Signed checkpoints of the audit chain (see postgres/0012_audit_checkpoints.sql for the twin).
--
-- Each row says "the chain's row `audit_id` had hash `hash` at `created_ms`", signed by a KMS
-- asymmetric key (ECDSA P-384) that the server may use only to sign. The chain's own hashes and
-- `audit_head` live in this database, so whoever can write it can rewrite a row and re-hash
-- everything after it; a checkpoint it cannot re-sign is what `cipherdrop audit verify` checks the
-- rewritten chain against. The signed message is `checkpoints::message` (documented there).
-- `copied` is the one mutable column: set once the checkpoint's copy is in the checkpoint bucket.
CREATE TABLE audit_checkpoints (
    audit_id          INTEGER PRIMARY KEY,        -- the last audit row covered
    hash              TEXT NOT NULL,              -- that row's hash: the chain's head then
    created_ms        INTEGER NOT NULL,
    key_arn           TEXT NOT NULL,              -- the key that signed (as KMS named it)
    algorithm         TEXT NOT NULL,              -- ECDSA_SHA_384
    signature         BLOB NOT NULL,              -- DER, as KMS Sign returns it
    copied            INTEGER NOT NULL DEFAULT 0  -- 1 once written to the checkpoint bucket
);
CREATE TRIGGER audit_checkpoints_no_update
BEFORE UPDATE OF audit_id, hash, created_ms, key_arn, algorithm, signature ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;
