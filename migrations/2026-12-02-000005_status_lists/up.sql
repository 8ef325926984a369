-- Token Status Lists (draft-ietf-oauth-status-list): each session holds one entry, a random
-- index in a list of STATUS_LIST_SIZE entries; its access tokens carry it in `status`.
CREATE TABLE status_lists (
    id TEXT PRIMARY KEY NOT NULL,
    size BIGINT NOT NULL,
    allocated BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

CREATE TABLE status_entries (
    list_id TEXT NOT NULL REFERENCES status_lists(id) ON DELETE CASCADE,
    idx BIGINT NOT NULL,
    invalid_at BIGINT,
    PRIMARY KEY (list_id, idx)
);
CREATE INDEX status_entries_invalid ON status_entries(invalid_at);

ALTER TABLE sessions ADD COLUMN status_list TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN status_idx BIGINT NOT NULL DEFAULT -1;
