-- Tags (SPEC 14), stored on the task itself, so that every write of a task
-- stays one statement and every read one row: `tags` holds the tags as
-- first written, `tag_keys` their case-folded keys (computed by the API
-- with Unicode's rules), each followed by U+001F (which no tag may
-- contain), `tag_keys` also starting with one: a `tag=` filter is
-- `tag_keys LIKE '%<US>key<US>%'` within the user's rows.
ALTER TABLE tasks ADD COLUMN tags TEXT NOT NULL DEFAULT '';
ALTER TABLE tasks ADD COLUMN tag_keys TEXT NOT NULL DEFAULT '';
