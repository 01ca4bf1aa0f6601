-- POST /api/tasks as a transaction of statements: what the API sends on
-- Citus, and with an Idempotency-Key, and what it sent everywhere before
-- the one-statement create (create.sql; docs/benchmarks.md compares the
-- two ceilings): the user's next change number, the insert with it (unless
-- the user's counted tasks reach MAX_TASKS_PER_USER), then the user's
-- counts (migration 0008).
\set u random(1, :users)
BEGIN;
UPDATE users SET last_seq = last_seq + 1, task_total = task_total + 1 WHERE id = 'bench-' || :u RETURNING last_seq \gset
INSERT INTO tasks (user_id, title, title_search, description, description_search, completed, priority, category, due_date, created_at, updated_at, tags, tag_keys, seq) SELECT 'bench-' || :u, 'Benchmark task', 'benchmark task', 'Created by the benchmark', 'created by the benchmark', false, 2, 'work', NULL, now(), now(), '', '', :last_seq WHERE (SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM task_counts WHERE user_id = 'bench-' || :u) < 100000 RETURNING id, user_id, title, description, completed, priority, category, due_date, version, created_at, updated_at, tags, seq;
INSERT INTO task_counts (user_id, priority, category, completed, n) VALUES ('bench-' || :u, 2, 'work', false, 1) ON CONFLICT (user_id, priority, category, completed) DO UPDATE SET n = task_counts.n + excluded.n;
COMMIT;
