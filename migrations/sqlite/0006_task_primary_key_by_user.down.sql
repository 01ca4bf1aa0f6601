-- Back to `id INTEGER PRIMARY KEY AUTOINCREMENT` with the unique index
-- (user_id, id) of 0005, the counter carried over to sqlite_sequence so
-- that no id is reused after the way back either.
DROP TRIGGER tasks_id_taken;

CREATE TABLE tasks_by_id (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id            TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title              TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    title_search       TEXT NOT NULL,
    description        TEXT CHECK (length(description) <= 1000),
    description_search TEXT,
    completed          INTEGER NOT NULL DEFAULT 0 CHECK (completed IN (0, 1)),
    priority           INTEGER NOT NULL DEFAULT 1 CHECK (priority BETWEEN 0 AND 2),
    category           TEXT NOT NULL DEFAULT 'other'
                       CHECK (category IN ('work', 'personal', 'home', 'other')),
    due_date           TEXT,
    version            INTEGER NOT NULL DEFAULT 1,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    tags               TEXT NOT NULL DEFAULT '',
    tag_keys           TEXT NOT NULL DEFAULT ''
);
INSERT INTO tasks_by_id (id, user_id, title, title_search, description, description_search,
                         completed, priority, category, due_date, version, created_at,
                         updated_at, tags, tag_keys)
SELECT id, user_id, title, title_search, description, description_search,
       completed, priority, category, due_date, version, created_at,
       updated_at, tags, tag_keys
FROM tasks;
DROP TABLE tasks;
ALTER TABLE tasks_by_id RENAME TO tasks;

DELETE FROM sqlite_sequence WHERE name = 'tasks';
INSERT INTO sqlite_sequence (name, seq) SELECT 'tasks', last FROM task_ids;
DROP TABLE task_ids;

CREATE UNIQUE INDEX tasks_user_id ON tasks (user_id, id);
CREATE INDEX tasks_user_created   ON tasks (user_id, created_at, id);
CREATE INDEX tasks_user_updated   ON tasks (user_id, updated_at, id);
CREATE INDEX tasks_user_due       ON tasks (user_id, due_date, id);
CREATE INDEX tasks_user_priority  ON tasks (user_id, priority, id);
CREATE INDEX tasks_user_title     ON tasks (user_id, title, id);
CREATE INDEX tasks_user_completed ON tasks (user_id, completed, created_at, id);
