-- The periodic sweep of expired Idempotency-Key records (every user's at
-- once) finds them without reading the live ones.
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
