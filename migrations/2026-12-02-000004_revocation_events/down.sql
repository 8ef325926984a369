DROP TABLE revocation_cursor;
DROP TABLE revocation_events;
