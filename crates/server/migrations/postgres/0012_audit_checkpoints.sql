-- Signed checkpoints of the audit chain (twin of sqlite/0012_audit_checkpoints.sql, which
-- explains them).
CREATE TABLE audit_checkpoints (
    audit_id          BIGINT PRIMARY KEY,
    hash              TEXT NOT NULL,
    created_ms        BIGINT NOT NULL,
    key_arn           TEXT NOT NULL,
    algorithm         TEXT NOT NULL,
    signature         BYTEA NOT NULL,
    copied            BIGINT NOT NULL DEFAULT 0
);
CREATE FUNCTION audit_checkpoints_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Only `copied` may change (nested: NEW and OLD exist only for row-level UPDATE).
    IF TG_OP = 'UPDATE' THEN
        IF (NEW.audit_id, NEW.hash, NEW.created_ms, NEW.key_arn, NEW.algorithm, NEW.signature)
            IS NOT DISTINCT FROM
           (OLD.audit_id, OLD.hash, OLD.created_ms, OLD.key_arn, OLD.algorithm, OLD.signature) THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'audit checkpoints are append-only';
END;
$$;
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_checkpoints_append_only();
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_checkpoints_append_only();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_checkpoints_append_only();
