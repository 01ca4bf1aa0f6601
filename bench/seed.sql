-- Seed for the benchmark: users bench-1 .. bench-:users with :tasks tasks
-- each; user u owns task ids (u-1)*:tasks+1 .. u*:tasks (wrk.lua relies on it).
INSERT INTO users (id, email, name, first_seen_at, last_seen_at)
SELECT 'bench-' || u, 'bench-' || u || '@example.com', 'Bench ' || u, now(), now()
FROM generate_series(1, :users) u;

INSERT INTO tasks (id, user_id, title, title_search, description, description_search,
                   completed, priority, category, due_date, created_at, updated_at)
SELECT (u - 1) * :tasks + k, 'bench-' || u, 'Task ' || k, 'task ' || k,
       'Details of task ' || k, 'details of task ' || k,
       k % 3 = 0, (k % 3)::smallint, (ARRAY['work', 'personal', 'home', 'other'])[k % 4 + 1],
       CASE WHEN k % 2 = 0 THEN now() + (k - 10) * interval '1 day' END,
       now() - k * interval '1 minute', now() - k * interval '1 minute'
FROM generate_series(1, :users) u, generate_series(1, :tasks) k;

SELECT setval(pg_get_serial_sequence('tasks', 'id'), :users * :tasks);
-- The per-user counts and task totals (migrations 0008, 0009).
\ir counts.sql
VACUUM ANALYZE;
