-- A session's device in words ("Chrome 131 on macOS"), computed once from the user agent when the
-- session opens. Sessions from before have '' and are described when shown.
ALTER TABLE sessions ADD COLUMN device TEXT NOT NULL DEFAULT '';
