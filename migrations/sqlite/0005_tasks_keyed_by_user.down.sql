DROP INDEX tasks_user_id;
