-- Tasks keyed by user, as on PostgreSQL (where the primary key becomes
-- (user_id, id) for Citus). SQLite's task id stays the rowid (AUTOINCREMENT:
-- an id is never reused), so here (user_id, id) is a unique index: the key
-- every task lookup uses.
CREATE UNIQUE INDEX tasks_user_id ON tasks (user_id, id);
