-- Not on a Citus cluster with the tables distributed (a distributed table's
-- primary key must include user_id).
ALTER TABLE tasks DROP CONSTRAINT tasks_pkey;
ALTER TABLE tasks ADD CONSTRAINT tasks_pkey PRIMARY KEY (id);
