-- An account's webhook endpoints: the signing secret sealed by KMS (context: purpose webhook,
-- owner), never stored in the clear.
CREATE TABLE webhooks (
    id            TEXT PRIMARY KEY,
    owner_id      TEXT NOT NULL REFERENCES users(id),
    url           TEXT NOT NULL,
    key_arn       TEXT NOT NULL,
    sealed_secret BYTEA NOT NULL,
    created_at    BIGINT NOT NULL,
    deleted_at    BIGINT
);
CREATE INDEX webhooks_by_owner ON webhooks(owner_id);

-- The durable outbox: one row per event per endpoint, delivered in id order per endpoint, at
-- least once, retried with backoff until a day after the event.
CREATE TABLE outbox (
    id            BIGSERIAL PRIMARY KEY,
    webhook_id    TEXT NOT NULL REFERENCES webhooks(id),
    message_id    TEXT NOT NULL UNIQUE,
    event         TEXT NOT NULL,
    payload       TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    attempts      BIGINT NOT NULL DEFAULT 0,
    next_at_ms    BIGINT NOT NULL,
    delivered_at  BIGINT,
    last_error    TEXT,
    gave_up_at    BIGINT
);
CREATE INDEX outbox_waiting ON outbox(webhook_id, id) WHERE delivered_at IS NULL AND gave_up_at IS NULL;
