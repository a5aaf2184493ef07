-- Notification choices and e-mail (twin of sqlite/0017_notifications.sql).
-- An account's confirmed address for e-mail, and when it was last told it is near a storage limit (at
-- most once a day, set and tested in one UPDATE).
ALTER TABLE users ADD COLUMN email TEXT;
ALTER TABLE users ADD COLUMN quota_notified_at BIGINT;
-- An address given and not yet confirmed, and SHA-256 of the code mailed to it (for a day).
ALTER TABLE users ADD COLUMN email_pending TEXT;
ALTER TABLE users ADD COLUMN email_code_hash BYTEA;
ALTER TABLE users ADD COLUMN email_code_expires BIGINT;

-- Per event, the channels an account chose (comma-separated: badge, email, webhook); an event
-- with no row has its default channels.
CREATE TABLE notify_prefs (
    owner_id  TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    event     TEXT NOT NULL,
    channels  TEXT NOT NULL,
    PRIMARY KEY (owner_id, event)
);

-- The e-mail outbox: one row per event for an account that chose e-mail for it, sent at least
-- once and retried with backoff until a day after the event, by one replica at a time.
CREATE TABLE mail_outbox (
    id            BIGSERIAL PRIMARY KEY,
    owner_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
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
CREATE INDEX mail_outbox_waiting ON mail_outbox(id) WHERE delivered_at IS NULL AND gave_up_at IS NULL;

-- Whether the "expires within a day" event was recorded for a link or a request (once each,
-- claimed by the UPDATE that records it).
ALTER TABLE shares ADD COLUMN expiry_notified BIGINT NOT NULL DEFAULT 0;
ALTER TABLE requests ADD COLUMN expiry_notified BIGINT NOT NULL DEFAULT 0;
