-- Each user's number of tombstones on their row (docs/security.md); as
-- PostgreSQL's 0010.
ALTER TABLE users ADD COLUMN tombstone_count INTEGER NOT NULL DEFAULT 0;

UPDATE users SET tombstone_count = (SELECT COUNT(*) FROM task_tombstones WHERE user_id = users.id);

-- When each event ticket was issued (unix microseconds): a user's oldest
-- tickets past EVENTS_MAX_TICKETS_PER_USER are dropped when a new one is
-- issued, oldest first.
ALTER TABLE event_tickets ADD COLUMN issued_at INTEGER NOT NULL DEFAULT 0;
