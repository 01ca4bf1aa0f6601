-- POST /api/tasks: one change (SPEC 15) in one transaction: the user's next
-- change number, then the insert with it. (The API notifies other
-- instances after the commit, one NOTIFY per batch of changes.)
\set u random(1, :users)
BEGIN;
UPDATE users SET last_seq = last_seq + 1 WHERE id = 'bench-' || :u RETURNING last_seq \gset
INSERT INTO tasks (user_id, title, title_search, description, description_search, completed, priority, category, due_date, created_at, updated_at, seq) VALUES ('bench-' || :u, 'Benchmark task', 'benchmark task', 'Created by the benchmark', 'created by the benchmark', false, 2, 'work', NULL, now(), now(), :last_seq) RETURNING id, user_id, title, description, completed, priority, category, due_date, version, created_at, updated_at, tags, seq;
COMMIT;
