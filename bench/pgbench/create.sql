-- POST /api/tasks: insert and return the new task.
\set u random(1, :users)
INSERT INTO tasks (user_id, title, title_search, description, description_search, completed, priority, category, due_date, created_at, updated_at) VALUES ('bench-' || :u, 'Benchmark task', 'benchmark task', 'Created by the benchmark', 'created by the benchmark', false, 2, 'work', NULL, now(), now()) RETURNING id, user_id, title, description, completed, priority, category, due_date, version, created_at, updated_at;
