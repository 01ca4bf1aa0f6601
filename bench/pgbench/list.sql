-- GET /api/tasks: a user's whole list (the API's default page), newest first.
\set u random(1, :users)
SELECT id, user_id, title, description, completed, priority, category, due_date, version, created_at, updated_at FROM tasks WHERE user_id = 'bench-' || :u ORDER BY created_at DESC, id DESC LIMIT 1000 OFFSET 0;
