DROP TABLE event_tickets;
DROP TABLE task_tombstones;
DROP INDEX tasks_user_seq;
ALTER TABLE tasks DROP COLUMN seq;
ALTER TABLE users DROP COLUMN purged_seq;
ALTER TABLE users DROP COLUMN last_seq;
