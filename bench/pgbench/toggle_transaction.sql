-- PATCH /api/tasks/{id}/complete as a transaction of statements: what the
-- API sends on Citus, and what it sent everywhere before the one-statement
-- toggle (toggle.sql; docs/benchmarks.md compares the two ceilings): the
-- user's next change number, the flip with it, then the user's counts
-- (migration 0008). The API computes those rows from the row the flip
-- returned and skips the due day of a task without one; pgbench, which
-- cannot quote a returned text, reads them from the task (an index lookup
-- each) and always sends both.
\set u random(1, :users)
\set k random(1, :tasks)
BEGIN;
UPDATE users SET last_seq = last_seq + 1 WHERE id = 'bench-' || :u RETURNING last_seq \gset
UPDATE tasks SET version = version + 1, updated_at = now(), seq = :last_seq, completed = NOT completed WHERE user_id = 'bench-' || :u AND id = (:u - 1) * :tasks + :k RETURNING id, user_id, title, description, completed, priority, category, due_date, version, created_at, updated_at, tags, seq;
INSERT INTO task_counts (user_id, priority, category, completed, n) SELECT user_id, priority, category, c, CASE WHEN c = completed THEN 1 ELSE -1 END FROM tasks, (VALUES (true), (false)) AS v (c) WHERE user_id = 'bench-' || :u AND id = (:u - 1) * :tasks + :k ON CONFLICT (user_id, priority, category, completed) DO UPDATE SET n = task_counts.n + excluded.n;
INSERT INTO task_due_days (user_id, due_day, n) SELECT user_id, floor(extract(epoch FROM due_date) / 86400)::bigint, CASE WHEN completed THEN -1 ELSE 1 END FROM tasks WHERE user_id = 'bench-' || :u AND id = (:u - 1) * :tasks + :k AND due_date IS NOT NULL ON CONFLICT (user_id, due_day) DO UPDATE SET n = task_due_days.n + excluded.n;
COMMIT;
