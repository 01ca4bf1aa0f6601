-- Each user's number of tasks on their row (issue 17); as PostgreSQL's 0009
-- (SQLite's creates keep their transaction: its writer commits them in
-- batches).
ALTER TABLE users ADD COLUMN task_total INTEGER NOT NULL DEFAULT 0;

UPDATE users SET task_total = (SELECT COALESCE(SUM(n), 0) FROM task_counts WHERE user_id = users.id);
