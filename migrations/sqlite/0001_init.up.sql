-- Users seen in tokens, and their tasks. Every index is led by user_id.
-- Timestamps are RFC 3339 text in UTC, which sorts in time order.
CREATE TABLE users (
    id            TEXT PRIMARY KEY NOT NULL,
    email         TEXT,
    name          TEXT,
    first_seen_at TEXT NOT NULL,
    last_seen_at  TEXT NOT NULL
);

CREATE TABLE tasks (
    -- AUTOINCREMENT: an id is never reused after a delete.
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
    updated_at         TEXT NOT NULL
);

CREATE INDEX tasks_user_created   ON tasks (user_id, created_at, id);
CREATE INDEX tasks_user_updated   ON tasks (user_id, updated_at, id);
-- SQLite indexes cannot say NULLS LAST; the user's rows are still found by
-- the index and only they are sorted.
CREATE INDEX tasks_user_due       ON tasks (user_id, due_date, id);
CREATE INDEX tasks_user_priority  ON tasks (user_id, priority, id);
CREATE INDEX tasks_user_title     ON tasks (user_id, title, id);
CREATE INDEX tasks_user_completed ON tasks (user_id, completed, created_at, id);
