ALTER TABLE users DROP COLUMN task_total;
