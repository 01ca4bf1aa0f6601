ALTER TABLE event_tickets DROP COLUMN issued_at;
ALTER TABLE users DROP COLUMN tombstone_count;
