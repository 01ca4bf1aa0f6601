-- On PostgreSQL the task's primary key has been (user_id, id) since 0005;
-- this version is SQLite's rebuild of its table to the same key, and it is
-- here (doing nothing) so that both databases list the same migrations.
SELECT 1;
