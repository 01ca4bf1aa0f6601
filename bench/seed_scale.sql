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
-- The per-user counts and task totals (migrations 0008, 0009).
\ir counts.sql
VACUUM ANALYZE;
