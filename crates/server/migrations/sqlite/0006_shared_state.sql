-- State every replica shares (see postgres/0006_shared_state.sql for the twin).
--
-- Guess limits: failed-attempt counters per account, share link and client network, counted in
-- one conditional upsert per attempt, so N replicas do not get N times the guesses.
CREATE TABLE limits (
    key               TEXT PRIMARY KEY,           -- "login:s:<account>", "share:ip:<address>", …
    failures          INTEGER NOT NULL,
    since_ms          INTEGER NOT NULL,           -- the window started then
    refused           INTEGER NOT NULL DEFAULT 0  -- refused unchecked since the last summary
);

-- The audit chain's head: the last id given out and the last row's hash. A writer takes it with
-- `UPDATE … RETURNING` (one replica at a time), appends its rows, and moves it, in one
-- transaction. An id above the last row's id means rows were deleted from the end.
CREATE TABLE audit_head (
    one               INTEGER PRIMARY KEY CHECK (one = 1),
    id                INTEGER NOT NULL,
    hash              TEXT NOT NULL
);
INSERT INTO audit_head (one, id, hash) VALUES (
    1,
    MAX(COALESCE((SELECT MAX(id) FROM audit), 0),
        COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'audit'), 0)),
    COALESCE((SELECT hash FROM audit ORDER BY id DESC LIMIT 1),
             '0000000000000000000000000000000000000000000000000000000000000000')
);
