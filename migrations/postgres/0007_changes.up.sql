-- Changes and live updates (SPEC 15). Each user has a sequence of changes:
-- `users.last_seq` is its last number, taken (and the row locked) by every
-- change in the change's own transaction, so numbers are handed out in
-- commit order per user and a number seen means every smaller one is
-- visible too. `tasks.seq` is the number of a task's last change;
-- `task_tombstones` keeps a deleted task's id and the number of its delete
-- for TOMBSTONE_RETENTION_DAYS. `users.purged_seq` is the newest tombstone
-- number forgotten: a cursor before it has missed a delete (410).
ALTER TABLE users ADD COLUMN last_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN purged_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;

-- Tasks written before this release get numbers 1, 2, … in id order.
UPDATE tasks SET seq = numbered.n
FROM (SELECT user_id, id, row_number() OVER (PARTITION BY user_id ORDER BY id) AS n
      FROM tasks) AS numbered
WHERE tasks.user_id = numbered.user_id AND tasks.id = numbered.id;
UPDATE users SET last_seq = counted.n
FROM (SELECT user_id, COUNT(*) AS n FROM tasks GROUP BY user_id) AS counted
WHERE users.id = counted.user_id;

CREATE INDEX tasks_user_seq ON tasks (user_id, seq);

-- Keyed by user first (Citus distributes it with the others). No foreign
-- key to users: on Citus a table created after `users` is distributed
-- cannot reference it until it is distributed itself.
CREATE TABLE task_tombstones (
    user_id    TEXT NOT NULL,
    seq        BIGINT NOT NULL,
    task_id    BIGINT NOT NULL,
    deleted_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, seq)
);
CREATE INDEX task_tombstones_deleted ON task_tombstones (deleted_at);

-- One-time tickets for browsers' EventSource (`POST /api/events/ticket`):
-- only the SHA-256 of a ticket is stored; taken (deleted) by its first use.
CREATE TABLE event_tickets (
    user_id          TEXT NOT NULL,
    ticket_hash      TEXT NOT NULL,
    -- Unix seconds: the ticket's end, and the end of the token that asked
    -- for it (the stream it opens ends then).
    expires_at       BIGINT NOT NULL,
    token_expires_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, ticket_hash)
);
CREATE INDEX event_tickets_expires ON event_tickets (expires_at);
