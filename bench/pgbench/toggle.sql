-- PATCH /api/tasks/{id}/complete: flip one task in one statement.
\set u random(1, :users)
\set k random(1, :tasks)
UPDATE tasks SET version = version + 1, updated_at = now(), completed = NOT completed WHERE user_id = 'bench-' || :u AND id = (:u - 1) * :tasks + :k RETURNING id, user_id, title, description, completed, priority, category, due_date, version, created_at, updated_at;
