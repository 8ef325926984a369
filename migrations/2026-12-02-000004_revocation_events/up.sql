-- The append-only stream every instance follows to keep its in-memory revocation state in step.
-- Ids come from `revocation_cursor` under its row lock, so they commit in order: a reader that
-- has seen id N never misses an N-1 committed later.
CREATE TABLE revocation_events (
    id BIGINT PRIMARY KEY NOT NULL,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('session_ended', 'user_changed', 'user_deleted', 'status_invalidated')),
    user_id TEXT NOT NULL,
    session_id TEXT,
    token_version BIGINT,
    role TEXT,
    -- The Token Status List entry the event invalidates, if any.
    status_list TEXT,
    status_idx BIGINT
);
CREATE INDEX revocation_events_at ON revocation_events(at);

CREATE TABLE revocation_cursor (
    id INTEGER PRIMARY KEY NOT NULL,
    last_id BIGINT NOT NULL
);
INSERT INTO revocation_cursor (id, last_id) VALUES (1, 0);
