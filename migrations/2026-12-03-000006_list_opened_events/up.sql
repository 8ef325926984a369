-- New event kinds, so every instance follows without asking the database: a status list was
-- opened (id in status_list, size in status_idx, no user), and the signing keys were rotated
-- (every instance reloads them). The CHECK changes, which
-- SQLite can only do by rebuilding the table (the same statements work on PostgreSQL).
CREATE TABLE revocation_events_next (
    id BIGINT PRIMARY KEY NOT NULL,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('session_ended', 'user_changed', 'user_deleted', 'status_invalidated', 'list_opened', 'keys_rotated')),
    user_id TEXT NOT NULL,
    session_id TEXT,
    token_version BIGINT,
    role TEXT,
    -- The Token Status List entry the event invalidates (or, for list_opened, the list and its size).
    status_list TEXT,
    status_idx BIGINT
);
INSERT INTO revocation_events_next SELECT * FROM revocation_events;
DROP TABLE revocation_events;
ALTER TABLE revocation_events_next RENAME TO revocation_events;
CREATE INDEX revocation_events_at ON revocation_events(at);
