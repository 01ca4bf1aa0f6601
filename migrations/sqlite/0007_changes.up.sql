-- Changes and live updates (SPEC 15); as PostgreSQL's 0007. SQLite has one
-- writer at a time, so the number a change takes from `users.last_seq` in
-- its transaction is in commit order.
ALTER TABLE users ADD COLUMN last_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN purged_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;

UPDATE tasks SET seq = numbered.n
FROM (SELECT user_id, id, row_number() OVER (PARTITION BY user_id ORDER BY id) AS n
      FROM tasks) AS numbered
WHERE tasks.user_id = numbered.user_id AND tasks.id = numbered.id;
UPDATE users SET last_seq = counted.n
FROM (SELECT user_id, COUNT(*) AS n FROM tasks GROUP BY user_id) AS counted
WHERE users.id = counted.user_id;

CREATE INDEX tasks_user_seq ON tasks (user_id, seq);

CREATE TABLE task_tombstones (
    user_id    TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    task_id    INTEGER NOT NULL,
    deleted_at TEXT NOT NULL,
    PRIMARY KEY (user_id, seq)
) WITHOUT ROWID;
CREATE INDEX task_tombstones_deleted ON task_tombstones (deleted_at);

CREATE TABLE event_tickets (
    user_id          TEXT NOT NULL,
    ticket_hash      TEXT NOT NULL,
    expires_at       INTEGER NOT NULL,
    token_expires_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, ticket_hash)
) WITHOUT ROWID;
CREATE INDEX event_tickets_expires ON event_tickets (expires_at);
