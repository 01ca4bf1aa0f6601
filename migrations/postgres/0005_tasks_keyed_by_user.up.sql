-- Every table keyed by user (Citus shards by user_id, and every unique
-- constraint of a distributed table must include it): the task's primary
-- key becomes (user_id, id). Ids keep coming from the identity sequence, so
-- they stay unique per deployment and ids already handed out keep their
-- meaning. Lookups are `user_id = $1 AND id = $2`: this is their index.
ALTER TABLE tasks DROP CONSTRAINT tasks_pkey;
ALTER TABLE tasks ADD CONSTRAINT tasks_pkey PRIMARY KEY (user_id, id);
