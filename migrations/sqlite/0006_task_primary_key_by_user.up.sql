-- Tasks keyed by user, as on PostgreSQL since 0005: the primary key becomes
-- (user_id, id), so the user's tasks lie together in the table's own
-- b-tree and every lookup (`user_id = ? AND id = ?`) is its key. SQLite's
-- AUTOINCREMENT needs `id` to be the rowid, so ids now come from task_ids,
-- a one-row counter: an insert takes `last + 1` (SQLite has one writer at a
-- time), and the trigger below moves `last` on. It starts past every id
-- AUTOINCREMENT ever handed out, deleted ones included, so ids already
-- handed out keep their meaning and none is reused.
CREATE TABLE task_ids (
    one  INTEGER PRIMARY KEY CHECK (one = 1),
    last INTEGER NOT NULL
);
INSERT INTO task_ids (one, last)
SELECT 1, MAX(
    COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'tasks'), 0),
    COALESCE((SELECT MAX(id) FROM tasks), 0)
);

CREATE TABLE tasks_keyed (
    id                 INTEGER NOT NULL,
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
    tag_keys           TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (user_id, id)
);
INSERT INTO tasks_keyed (id, user_id, title, title_search, description, description_search,
                         completed, priority, category, due_date, version, created_at,
                         updated_at, tags, tag_keys)
SELECT id, user_id, title, title_search, description, description_search,
       completed, priority, category, due_date, version, created_at,
       updated_at, tags, tag_keys
FROM tasks;
DROP TABLE tasks;
ALTER TABLE tasks_keyed RENAME TO tasks;

-- Ids stay unique per deployment, whoever owns them.
CREATE UNIQUE INDEX tasks_id ON tasks (id);
CREATE INDEX tasks_user_created   ON tasks (user_id, created_at, id);
CREATE INDEX tasks_user_updated   ON tasks (user_id, updated_at, id);
CREATE INDEX tasks_user_due       ON tasks (user_id, due_date, id);
CREATE INDEX tasks_user_priority  ON tasks (user_id, priority, id);
CREATE INDEX tasks_user_title     ON tasks (user_id, title, id);
CREATE INDEX tasks_user_completed ON tasks (user_id, completed, created_at, id);

CREATE TRIGGER tasks_id_taken AFTER INSERT ON tasks
WHEN NEW.id > (SELECT last FROM task_ids)
BEGIN
    UPDATE task_ids SET last = NEW.id;
END;
