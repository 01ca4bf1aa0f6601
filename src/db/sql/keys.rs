//! The statements of Idempotency-Key records (docs/api.md#safe-retries-idempotency-key).

use chrono::{DateTime, Utc};

use super::*;

/// Forget up to `batch` Idempotency-Key records created before `before`,
/// whichever user they belong to (the periodic sweep).
pub fn sweep_keys(d: Dialect, before: DateTime<Utc>, batch: i64) -> Statement {
    let mut b = Builder::write(
        d,
        "DELETE FROM idempotency_keys WHERE (user_id, key) IN \
         (SELECT user_id, key FROM idempotency_keys WHERE created_at < ",
    );
    b.bind(Arg::Time(before));
    b.push(" LIMIT ").bind(Arg::Int(batch)).push(")");
    b.finish()
}

/// Idempotency-Key records (docs/api.md#safe-concurrent-edits-etag-if-match-if-none-match). Forget this user's expired records,
/// and `key` if its first request was abandoned in flight (its task was never
/// written: the task and the record commit together). Keyed by user, like
/// every statement, so records are purged at the user's next keyed request.
pub fn forget_stale_keys(
    d: Dialect,
    user: &str,
    key: &str,
    expired_before: DateTime<Utc>,
    abandoned_before: DateTime<Utc>,
) -> Statement {
    let mut b = Builder::write(d, "DELETE FROM idempotency_keys WHERE user_id = ");
    b.bind(text(user));
    b.push(" AND (created_at < ")
        .bind(Arg::Time(expired_before));
    b.push(" OR (key = ").bind(text(key));
    b.push(" AND task_id IS NULL AND created_at < ")
        .bind(Arg::Time(abandoned_before))
        .push("))");
    b.finish()
}

/// Claim `key` for a first request; affects no row when it is taken.
pub fn claim_key(d: Dialect, user: &str, key: &str, hash: &str, now: DateTime<Utc>) -> Statement {
    let mut b = Builder::write(
        d,
        "INSERT INTO idempotency_keys (user_id, key, request_hash, created_at) VALUES (",
    );
    b.bind(text(user)).push(", ").bind(text(key)).push(", ");
    b.bind(text(hash)).push(", ").bind(Arg::Time(now));
    b.push(") ON CONFLICT (user_id, key) DO NOTHING");
    b.finish()
}

pub fn get_key(d: Dialect, user: &str, key: &str) -> Statement {
    let mut b = Builder::query(
        d,
        "SELECT request_hash, task_id, task_version, response_body FROM idempotency_keys \
         WHERE user_id = ",
    );
    b.bind(text(user)).push(" AND key = ").bind(text(key));
    b.finish()
}

/// Store the first response; run in the transaction that inserts the task.
pub fn record_key(
    d: Dialect,
    user: &str,
    key: &str,
    task_id: i64,
    version: i64,
    body: String,
) -> Statement {
    let mut b = Builder::write(d, "UPDATE idempotency_keys SET task_id = ");
    b.bind(Arg::Int(task_id))
        .push(", task_version = ")
        .bind(Arg::Int(version));
    b.push(", response_body = ").bind(Arg::Text(body));
    b.push(" WHERE user_id = ")
        .bind(text(user))
        .push(" AND key = ")
        .bind(text(key));
    b.finish()
}

/// Give up a claim whose request failed, so that a retry can run.
pub fn release_key(d: Dialect, user: &str, key: &str) -> Statement {
    let mut b = Builder::write(d, "DELETE FROM idempotency_keys WHERE user_id = ");
    b.bind(text(user)).push(" AND key = ").bind(text(key));
    b.push(" AND task_id IS NULL");
    b.finish()
}
