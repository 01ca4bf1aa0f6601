-- GET /api/tasks/{id}: one of the user's tasks.
\set u random(1, :users)
\set k random(1, :tasks)
SELECT id, user_id, title, description, completed, priority, category, due_date, version, created_at, updated_at FROM tasks WHERE user_id = 'bench-' || :u AND id = (:u - 1) * :tasks + :k;
