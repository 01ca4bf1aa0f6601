-- Idempotency-Key records (SPEC 7): the first response to a POST, per user
-- and key, kept 24 hours. task_id is NULL while the first request is in
-- flight; it is set in the same transaction that inserts the task. A user's
-- expired records are deleted at their next keyed request, and all of them
-- with the user.
CREATE TABLE idempotency_keys (
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key           TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    task_id       BIGINT,
    task_version  BIGINT,
    response_body TEXT,
    PRIMARY KEY (user_id, key)
);

-- A user's expired records, found without reading the rest.
CREATE INDEX idempotency_keys_user_created ON idempotency_keys (user_id, created_at);
