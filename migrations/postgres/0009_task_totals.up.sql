-- Each user's number of tasks on their row (issue 17), kept by every change
-- that adds or removes a task, in the same statement that takes the user's
-- change number. A create on PostgreSQL (connected directly, not Citus) is
-- then one statement (the task limit checked on the row it locks, exact
-- under concurrent creates: a waiting update re-reads the row it waited
-- for) instead of a transaction of three statements and its BEGIN and
-- COMMIT.
ALTER TABLE users ADD COLUMN task_total BIGINT NOT NULL DEFAULT 0;

UPDATE users SET task_total = c.n
FROM (SELECT user_id, SUM(n) AS n FROM task_counts GROUP BY user_id) AS c
WHERE c.user_id = users.id;
