-- Each user's number of tombstones on their row (issue 28); as
-- PostgreSQL's 0010.
ALTER TABLE users ADD COLUMN tombstone_count INTEGER NOT NULL DEFAULT 0;

UPDATE users SET tombstone_count = (SELECT COUNT(*) FROM task_tombstones WHERE user_id = users.id);
