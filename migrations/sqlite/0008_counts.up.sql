-- Per-user counts (issue 17); as PostgreSQL's 0008. A due day is the UTC
-- day of the due date, in days since 1970-01-01 (julianday 2440587.5),
-- rounded down (the offset makes the cast round down before 1970 too).
CREATE TABLE task_counts (
    user_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    priority  INTEGER NOT NULL,
    category  TEXT NOT NULL,
    completed INTEGER NOT NULL,
    n         INTEGER NOT NULL,
    PRIMARY KEY (user_id, priority, category, completed)
) WITHOUT ROWID;

CREATE TABLE task_due_days (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    due_day INTEGER NOT NULL,
    n       INTEGER NOT NULL,
    PRIMARY KEY (user_id, due_day)
) WITHOUT ROWID;

INSERT INTO task_counts (user_id, priority, category, completed, n)
SELECT user_id, priority, category, completed, COUNT(*)
FROM tasks GROUP BY user_id, priority, category, completed;

INSERT INTO task_due_days (user_id, due_day, n)
SELECT user_id,
       CAST(julianday(due_date) - 2440587.5 + 10000000 AS INTEGER) - 10000000 AS due_day,
       COUNT(*)
FROM tasks WHERE NOT completed AND due_date IS NOT NULL
GROUP BY user_id, due_day;
