-- Per-user counts (issue 17), kept in the transaction of every change, so
-- that a total, the stats and the task limit cost the same for a user with
-- 100,000 tasks as for one with 100. `task_counts`: the user's tasks by
-- priority, category and completion. `task_due_days`: the user's pending
-- tasks with a due date, by UTC day of it (days since 1970-01-01): the
-- overdue count sums the days before today and counts today's tasks.
CREATE TABLE task_counts (
    user_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    priority  SMALLINT NOT NULL,
    category  TEXT NOT NULL,
    completed BOOLEAN NOT NULL,
    n         BIGINT NOT NULL,
    PRIMARY KEY (user_id, priority, category, completed)
);

CREATE TABLE task_due_days (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    due_day BIGINT NOT NULL,
    n       BIGINT NOT NULL,
    PRIMARY KEY (user_id, due_day)
);

INSERT INTO task_counts (user_id, priority, category, completed, n)
SELECT user_id, priority, category, completed, COUNT(*)
FROM tasks GROUP BY user_id, priority, category, completed;

INSERT INTO task_due_days (user_id, due_day, n)
SELECT user_id, floor(extract(epoch FROM due_date) / 86400)::bigint AS due_day, COUNT(*)
FROM tasks WHERE NOT completed AND due_date IS NOT NULL
GROUP BY user_id, due_day;
