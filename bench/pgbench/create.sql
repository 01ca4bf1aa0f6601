-- POST /api/tasks: one change (docs/live-updates.md) in one statement, as the API sends
-- it on plain PostgreSQL (sql::create_task_at_once): the user's next change
-- number and task total (unless the user has MAX_TASKS_PER_USER tasks), the
-- insert numbered with it, then the user's counts (migration 0008). The
-- benchmark's task has no due date, so the API sends no due-day upsert
-- either. (The API notifies other instances after the commit, one NOTIFY
-- per batch.)
\set u random(1, :users)
WITH s AS (UPDATE users SET last_seq = last_seq + 1, task_total = task_total + 1 WHERE id = 'bench-' || :u AND task_total < 100000 RETURNING last_seq), t AS (INSERT INTO tasks (user_id, title, title_search, description, description_search, completed, priority, category, due_date, created_at, updated_at, tags, tag_keys, seq) SELECT 'bench-' || :u, 'Benchmark task', 'benchmark task', 'Created by the benchmark', 'created by the benchmark', false, 2, 'work', NULL, now(), now(), '', '', s.last_seq FROM s RETURNING id, user_id, title, description, completed, priority, category, due_date, version, created_at, updated_at, tags, seq), c AS (INSERT INTO task_counts (user_id, priority, category, completed, n) SELECT user_id, priority, category, completed, 1 FROM t ON CONFLICT (user_id, priority, category, completed) DO UPDATE SET n = task_counts.n + excluded.n) SELECT id, user_id, title, description, completed, priority, category, due_date, version, created_at, updated_at, tags, seq FROM t;
