-- The per-user counts and task totals of the tasks as they are, as migrations
-- 0008 and 0009 fill them in: after seeding tasks directly, and after
-- bench/run.sh deletes what a workload created (the twin: counts_sqlite.sql).
DELETE FROM task_counts;
DELETE FROM task_due_days;
INSERT INTO task_counts (user_id, priority, category, completed, n)
SELECT user_id, priority, category, completed, COUNT(*)
FROM tasks GROUP BY user_id, priority, category, completed;
INSERT INTO task_due_days (user_id, due_day, n)
SELECT user_id, floor(extract(epoch FROM due_date) / 86400)::bigint AS due_day, COUNT(*)
FROM tasks WHERE NOT completed AND due_date IS NOT NULL
GROUP BY user_id, due_day;
UPDATE users SET task_total = COALESCE(
  (SELECT SUM(n) FROM task_counts c WHERE c.user_id = users.id), 0);
