-- PATCH /api/tasks/{id}/complete: one change (SPEC 15) in one transaction:
-- the user's next change number, the flip with it. (The API notifies
-- other instances after the commit, one NOTIFY per batch of changes.)
\set u random(1, :users)
\set k random(1, :tasks)
BEGIN;
UPDATE users SET last_seq = last_seq + 1 WHERE id = 'bench-' || :u RETURNING last_seq \gset
UPDATE tasks SET version = version + 1, updated_at = now(), seq = :last_seq, completed = NOT completed WHERE user_id = 'bench-' || :u AND id = (:u - 1) * :tasks + :k RETURNING id, user_id, title, description, completed, priority, category, due_date, version, created_at, updated_at, tags, seq;
COMMIT;
