-- Each user's number of tombstones on their row (docs/security.md), moved by every
-- delete in the statement that takes its change number: past
-- MAX_TOMBSTONES_PER_USER (and a tenth more) a delete forgets the user's
-- oldest tombstones down to that many, raising `purged_seq` as the
-- retention sweep does, so the changes feed's 410 rule stays exact. The
-- count is what lets a delete skip that work below the bound.
ALTER TABLE users ADD COLUMN tombstone_count BIGINT NOT NULL DEFAULT 0;

UPDATE users SET tombstone_count = c.n
FROM (SELECT user_id, COUNT(*) AS n FROM task_tombstones GROUP BY user_id) AS c
WHERE c.user_id = users.id;

-- When each event ticket was issued (unix microseconds): a user's oldest
-- tickets past EVENTS_MAX_TICKETS_PER_USER are dropped when a new one is
-- issued, oldest first.
ALTER TABLE event_tickets ADD COLUMN issued_at BIGINT NOT NULL DEFAULT 0;
