-- Seed for bench/scale.sh: user 'whale' with :whale tasks, and :others other
-- users with :each tasks each.
INSERT INTO users (id, first_seen_at, last_seen_at)
SELECT 'whale', now(), now()
UNION ALL
SELECT 'user-' || u, now(), now() FROM generate_series(1, :others) u;

INSERT INTO tasks (user_id, title, title_search, description, description_search, completed,
                   priority, category, due_date, created_at, updated_at)
SELECT owner, 'Task ' || i, 'task ' || i, 'Details of task ' || i, 'details of task ' || i,
       i % 3 = 0, (i % 3)::smallint, (ARRAY['work', 'personal', 'home', 'other'])[i % 4 + 1],
       CASE WHEN i % 5 = 0 THEN NULL ELSE now() + ((i % 90) - 45) * interval '1 day' END,
       now() - i * interval '1 second', now() - i * interval '1 second'
FROM (
  SELECT 'whale' AS owner, i FROM generate_series(1, :whale) i
  UNION ALL
  SELECT 'user-' || (i % :others + 1), i FROM generate_series(1, :others * :each) i
) seed;
-- The per-user counts, as migration 0008 fills them in.
INSERT INTO task_counts (user_id, priority, category, completed, n)
SELECT user_id, priority, category, completed, COUNT(*)
FROM tasks GROUP BY user_id, priority, category, completed;
INSERT INTO task_due_days (user_id, due_day, n)
SELECT user_id, floor(extract(epoch FROM due_date) / 86400)::bigint AS due_day, COUNT(*)
FROM tasks WHERE NOT completed AND due_date IS NOT NULL
GROUP BY user_id, due_day;
-- Each user's task total, as migration 0009 fills it in.
UPDATE users SET task_total = c.n
FROM (SELECT user_id, SUM(n) AS n FROM task_counts GROUP BY user_id) AS c
WHERE c.user_id = users.id;
VACUUM ANALYZE;
