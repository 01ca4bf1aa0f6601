-- PATCH /api/tasks/{id}/complete: one change (docs/live-updates.md) in one statement, as
-- the API sends it on plain PostgreSQL (sql::toggle_task_at_once): the
-- user's next change number while the task is there, the flip numbered
-- with it, then the user's counts (migration 0008): the task leaves one
-- group for the other, and a task with a due date enters or leaves its due
-- day.
\set u random(1, :users)
\set k random(1, :tasks)
WITH numbered AS (UPDATE users SET last_seq = last_seq + 1 WHERE id = 'bench-' || :u AND EXISTS (SELECT 1 FROM tasks WHERE user_id = 'bench-' || :u AND id = (:u - 1) * :tasks + :k) RETURNING last_seq), flipped AS (UPDATE tasks SET version = version + 1, updated_at = now(), seq = numbered.last_seq, completed = NOT completed FROM numbered WHERE user_id = 'bench-' || :u AND id = (:u - 1) * :tasks + :k RETURNING id, user_id, title, description, completed, priority, category, due_date, version, created_at, updated_at, tags, seq), counted AS (INSERT INTO task_counts (user_id, priority, category, completed, n) SELECT user_id, priority, category, v.done, CASE WHEN v.done = completed THEN 1 ELSE -1 END FROM flipped, (VALUES (true), (false)) AS v (done) ON CONFLICT (user_id, priority, category, completed) DO UPDATE SET n = task_counts.n + excluded.n), dated AS (INSERT INTO task_due_days (user_id, due_day, n) SELECT user_id, CAST(floor(extract(epoch FROM due_date) / 86400) AS BIGINT), CASE WHEN completed THEN -1 ELSE 1 END FROM flipped WHERE due_date IS NOT NULL ON CONFLICT (user_id, due_day) DO UPDATE SET n = task_due_days.n + excluded.n) SELECT id, user_id, title, description, completed, priority, category, due_date, version, created_at, updated_at, tags, seq FROM flipped;
