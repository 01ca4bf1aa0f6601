ALTER TABLE users DROP COLUMN tombstone_count;
