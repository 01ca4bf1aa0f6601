DROP TABLE task_due_days;
DROP TABLE task_counts;
