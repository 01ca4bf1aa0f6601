//! The statements of the changes feed (docs/live-updates.md): the user's
//! sequence, tombstones and their bounds, event tickets.

use chrono::{DateTime, Utc};

use super::*;

/// Take the user's next change number (docs/live-updates.md): the users row stays
/// locked until the change's transaction ends, so numbers are handed out
/// in commit order, and moves the user's task total by `tasks` (a create
/// +1, a delete -1; a delete also counts its tombstone). No row when the
/// user's row is missing.
pub fn next_seq(d: Dialect, user: &str, tasks: i64) -> Statement {
    let mut b = Builder::write(d, "UPDATE users SET last_seq = last_seq + 1");
    if tasks != 0 {
        b.push(", task_total = task_total + ").bind(Arg::Int(tasks));
    }
    if tasks < 0 {
        b.push(", tombstone_count = tombstone_count + 1");
    }
    b.push(" WHERE id = ")
        .bind(text(user))
        .push(" RETURNING last_seq");
    b.finish()
}

/// 1 when the user has a row, else 0.
pub fn user_count(d: Dialect, user: &str) -> Statement {
    let mut b = Builder::query(d, "SELECT COUNT(*) FROM users WHERE id = ");
    b.bind(text(user));
    b.finish()
}

/// The user's last change number and the newest forgotten tombstone's.
pub fn user_seqs(d: Dialect, user: &str) -> Statement {
    let mut b = Builder::query(d, "SELECT last_seq, purged_seq FROM users WHERE id = ");
    b.bind(text(user));
    b.finish()
}

/// The PostgreSQL notifications of changes already committed, one per
/// payload (`payloads`: a JSON array of `<seq>:<user id>` strings), in one
/// statement: `NOTIFY` takes a lock that serialises the commits of the
/// transactions that notify, so changes do not notify in their own
/// transaction; a batch does, after them (`changes::Notifier`). It names no
/// table: on Citus the coordinator runs it, where instances listen.
pub fn notify_changes(payloads: String) -> Statement {
    let mut b = Builder::write(Dialect::Postgres, "SELECT pg_notify('");
    b.push(crate::db::changes::CHANNEL)
        .push("', p) FROM json_array_elements_text(CAST(");
    b.bind(Arg::Text(payloads)).push(" AS json)) AS p");
    b.finish()
}

/// A deleted task's tombstone.
pub fn insert_tombstone(d: Dialect, user: &str, task_id: i64, now: DateTime<Utc>) -> Statement {
    let mut b = Builder::write(
        d,
        "INSERT INTO task_tombstones (user_id, seq, task_id, deleted_at) VALUES (",
    );
    b.bind(text(user)).push(", ").bind(Arg::Seq).push(", ");
    b.bind(Arg::Int(task_id)).push(", ").bind(Arg::Time(now));
    b.push(")");
    b.finish()
}

/// The user's live tasks changed after `since` up to `upto`, oldest
/// change first, at most `limit`.
pub fn changed_tasks(d: Dialect, user: &str, since: i64, upto: i64, limit: i64) -> Statement {
    let mut b = Builder::query(d, "SELECT ");
    b.push(TASK_COLUMNS)
        .push(" FROM tasks WHERE user_id = ")
        .bind(text(user));
    b.push(" AND seq > ").bind(Arg::Int(since));
    b.push(" AND seq <= ").bind(Arg::Int(upto));
    b.push(" ORDER BY seq LIMIT ").bind(Arg::Int(limit));
    b.finish()
}

/// The user's tombstones after `since` up to `upto` as `(seq, task id)`,
/// oldest first, at most `limit`.
pub fn tombstones(d: Dialect, user: &str, since: i64, upto: i64, limit: i64) -> Statement {
    let mut b = Builder::query(
        d,
        "SELECT seq, task_id FROM task_tombstones WHERE user_id = ",
    );
    b.bind(text(user));
    b.push(" AND seq > ").bind(Arg::Int(since));
    b.push(" AND seq <= ").bind(Arg::Int(upto));
    b.push(" ORDER BY seq LIMIT ").bind(Arg::Int(limit));
    b.finish()
}

/// Users with tombstones deleted before `before` (the periodic cleanup),
/// at most `batch` of them.
pub fn users_with_old_tombstones(d: Dialect, before: DateTime<Utc>, batch: i64) -> Statement {
    let mut b = Builder::scan(
        d,
        "SELECT DISTINCT user_id FROM task_tombstones WHERE deleted_at < ",
    );
    b.bind(Arg::Time(before));
    b.push(" LIMIT ").bind(Arg::Int(batch));
    b.finish()
}

/// The oldest `batch` of one user's tombstones deleted before `before`.
pub(super) fn old_tombstones(b: &mut Builder, user: &str, before: DateTime<Utc>, batch: i64) {
    b.push("SELECT seq FROM task_tombstones WHERE user_id = ")
        .bind(text(user));
    b.push(" AND deleted_at < ").bind(Arg::Time(before));
    b.push(" ORDER BY seq LIMIT ").bind(Arg::Int(batch));
}

/// Before forgetting a batch of a user's old tombstones: remember the
/// newest of them in `users.purged_seq` (a cursor before it is 410).
pub fn mark_purged(d: Dialect, user: &str, before: DateTime<Utc>, batch: i64) -> Statement {
    let greatest = match d {
        Dialect::Sqlite => "MAX",
        Dialect::Postgres => "GREATEST",
    };
    let mut b = Builder::write(d, "UPDATE users SET purged_seq = ");
    b.push(greatest)
        .push("(purged_seq, COALESCE((SELECT MAX(seq) FROM (");
    old_tombstones(&mut b, user, before, batch);
    b.push(") AS old), 0)) WHERE id = ").bind(text(user));
    b.finish()
}

/// Forget the batch [`mark_purged`] named.
pub fn purge_tombstones(d: Dialect, user: &str, before: DateTime<Utc>, batch: i64) -> Statement {
    let mut b = Builder::write(d, "DELETE FROM task_tombstones WHERE user_id = ");
    b.bind(text(user)).push(" AND seq IN (");
    old_tombstones(&mut b, user, before, batch);
    b.push(")");
    b.finish()
}

/// After a delete: when the user has more than `keep` tombstones and a
/// tenth more, remember the newest of those past the newest `keep` in
/// `purged_seq` (a cursor before it is 410) and count `keep`. Below the
/// bound the count on the row skips the walk over the tombstones.
pub fn compact_tombstones(d: Dialect, user: &str, keep: i64) -> Statement {
    let greatest = match d {
        Dialect::Sqlite => "MAX",
        Dialect::Postgres => "GREATEST",
    };
    let mut b = Builder::write(d, "UPDATE users SET purged_seq = ");
    b.push(greatest)
        .push("(purged_seq, COALESCE((SELECT seq FROM task_tombstones WHERE user_id = ")
        .bind(text(user));
    b.push(" ORDER BY seq DESC LIMIT 1 OFFSET ")
        .bind(Arg::Int(keep))
        .push("), 0)), tombstone_count = ")
        .bind(Arg::Int(keep));
    b.push(" WHERE id = ").bind(text(user));
    b.push(" AND tombstone_count > ")
        .bind(Arg::Int(keep.saturating_add(keep / 10)));
    b.finish()
}

/// Forget the user's tombstones up to `purged_seq` (those
/// [`compact_tombstones`] gave up; none, usually: one index probe).
pub fn purge_compacted(d: Dialect, user: &str) -> Statement {
    let mut b = Builder::write(d, "DELETE FROM task_tombstones WHERE user_id = ");
    b.bind(text(user));
    b.push(" AND seq <= (SELECT purged_seq FROM users WHERE id = ")
        .bind(text(user))
        .push(")");
    b.finish()
}

/// Count the user's tombstones again (after the retention sweep).
pub fn recount_tombstones(d: Dialect, user: &str) -> Statement {
    let mut b = Builder::write(
        d,
        "UPDATE users SET tombstone_count = (SELECT COUNT(*) FROM task_tombstones WHERE user_id = ",
    );
    b.bind(text(user)).push(") WHERE id = ").bind(text(user));
    b.finish()
}

/// Store a ticket (its hash) for `GET /api/events?ticket=`.
pub fn insert_ticket(
    d: Dialect,
    user: &str,
    hash: &str,
    expires_at: i64,
    token_expires_at: i64,
) -> Statement {
    let mut b = Builder::write(
        d,
        "INSERT INTO event_tickets (user_id, ticket_hash, expires_at, token_expires_at, issued_at) VALUES (",
    );
    b.bind(text(user)).push(", ").bind(text(hash)).push(", ");
    b.bind(Arg::Int(expires_at)).push(", ");
    b.bind(Arg::Int(token_expires_at)).push(", ");
    b.bind(Arg::Int(Utc::now().timestamp_micros())).push(")");
    b.finish()
}

/// Before a new ticket of `user`: forget their expired tickets, and those
/// issued before their newest `keep` (so at most `keep + 1` are ever live).
pub fn trim_tickets(d: Dialect, user: &str, now: i64, keep: i64) -> Statement {
    let mut b = Builder::write(d, "DELETE FROM event_tickets WHERE user_id = ");
    b.bind(text(user));
    b.push(" AND (expires_at <= ").bind(Arg::Int(now));
    b.push(" OR ticket_hash NOT IN (SELECT ticket_hash FROM event_tickets WHERE user_id = ")
        .bind(text(user));
    b.push(" ORDER BY issued_at DESC LIMIT ")
        .bind(Arg::Int(keep))
        .push("))");
    b.finish()
}

/// Take a ticket: delete it if neither it nor its token has expired; its
/// token's expiry is returned.
pub fn take_ticket(d: Dialect, user: &str, hash: &str, now: i64) -> Statement {
    let mut b = Builder::write(d, "DELETE FROM event_tickets WHERE user_id = ");
    b.bind(text(user))
        .push(" AND ticket_hash = ")
        .bind(text(hash));
    b.push(" AND expires_at > ").bind(Arg::Int(now));
    b.push(" AND token_expires_at > ").bind(Arg::Int(now));
    b.push(" RETURNING token_expires_at");
    b.finish()
}

/// Forget up to `batch` expired tickets, whoever they belong to.
pub fn sweep_tickets(d: Dialect, now: i64, batch: i64) -> Statement {
    let mut b = Builder::write(
        d,
        "DELETE FROM event_tickets WHERE (user_id, ticket_hash) IN \
         (SELECT user_id, ticket_hash FROM event_tickets WHERE expires_at <= ",
    );
    b.bind(Arg::Int(now));
    b.push(" LIMIT ").bind(Arg::Int(batch)).push(")");
    b.finish()
}
