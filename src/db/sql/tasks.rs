//! The statements of a user's tasks: create, read, replace, patch, toggle,
//! delete, list and count, and the filters they share.

use chrono::{DateTime, Utc};

use super::*;
use crate::tasks::list::{ListFilter, Order, SortKey, StatusFilter};
use crate::tasks::model::{Tags, TaskInput, TaskPatch, search_key};

pub fn upsert_user(
    d: Dialect,
    id: &str,
    email: Option<&str>,
    name: Option<&str>,
    now: DateTime<Utc>,
) -> Statement {
    let mut b = Builder::write(
        d,
        "INSERT INTO users (id, email, name, first_seen_at, last_seen_at) VALUES (",
    );
    b.bind(text(id)).push(", ");
    b.bind(Arg::OptText(email.map(str::to_owned))).push(", ");
    b.bind(Arg::OptText(name.map(str::to_owned))).push(", ");
    b.bind(Arg::Time(now)).push(", ");
    b.bind(Arg::Time(now));
    b.push(
        ") ON CONFLICT (id) DO UPDATE SET email = COALESCE(excluded.email, users.email), \
         name = COALESCE(excluded.name, users.name), last_seen_at = excluded.last_seen_at",
    );
    b.finish()
}

/// Insert a task unless the user has `max_tasks` already: then no row is
/// returned. The user's tasks are read from their counts (`task_counts`,
/// a few rows whatever their number; the change's lock on the users row
/// makes it exact). On Citus this one statement touches one shard but is pulled
/// through the coordinator (an `INSERT … SELECT` that takes an identity
/// value is never pushed down); the routed alternative, a capped count
/// then `INSERT … VALUES`, lost an acknowledged write during a shard move
/// in the rebalance test, so this form stays (docs/scale.md).
pub fn insert_task(
    d: Dialect,
    user: &str,
    t: &TaskInput,
    now: DateTime<Utc>,
    max_tasks: u32,
) -> Statement {
    let mut b = task_insert(d, user, t, now);
    b.push(" WHERE (SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM task_counts WHERE user_id = ")
        .bind(text(user));
    b.push(") < ").bind(Arg::Int(i64::from(max_tasks)));
    b.push(" RETURNING ").push(TASK_COLUMNS);
    b.finish()
}

/// PostgreSQL: a whole create (docs/live-updates.md) in one statement, so in one round
/// trip and its own transaction: the user's next change number and task
/// total, unless the user has `max_tasks` already; the task numbered with
/// it; its counts (as [`recount`] of a new task, read from the inserted
/// row). No row when the user has `max_tasks` tasks or no row. The limit is
/// read from the users row the statement updates, so it holds under
/// concurrent creates: an update that waited for another's lock re-checks
/// the row as that one committed it (the counts, read in a subquery, would
/// be read as they were when the statement began). Not on Citus, which
/// pulls an `INSERT … SELECT` that takes an identity value through the
/// coordinator ([`insert_task`]), nor through a transaction pooler
/// (`PgDriver::changes_at_once`): those keep the transaction of statements.
pub fn create_task_at_once(
    user: &str,
    t: &TaskInput,
    now: DateTime<Utc>,
    max_tasks: u32,
) -> Statement {
    let mut b = Builder::write(
        Dialect::Postgres,
        "WITH numbered AS (UPDATE users SET last_seq = last_seq + 1, task_total = task_total + 1 \
         WHERE id = ",
    );
    b.bind(text(user)).push(" AND task_total < ");
    b.bind(Arg::Int(i64::from(max_tasks)));
    b.push(" RETURNING last_seq), created AS (");
    push_task_insert(&mut b, user, t, now);
    b.push("numbered.last_seq FROM numbered RETURNING ")
        .push(TASK_COLUMNS);
    b.push(
        "), counted AS (INSERT INTO task_counts (user_id, priority, category, completed, n) \
         SELECT user_id, priority, category, completed, 1 FROM created \
         ON CONFLICT (user_id, priority, category, completed) \
         DO UPDATE SET n = task_counts.n + excluded.n)",
    );
    let pending_day = t.due_date.filter(|_| !t.completed.unwrap_or(false));
    if let Some(day) = pending_day.map(due_day) {
        b.push(", dated AS (INSERT INTO task_due_days (user_id, due_day, n) SELECT user_id, ");
        b.bind(Arg::Int(day)).push(
            ", 1 FROM created ON CONFLICT (user_id, due_day) \
             DO UPDATE SET n = task_due_days.n + excluded.n)",
        );
    }
    b.push(" SELECT ");
    b.push(TASK_COLUMNS).push(" FROM created");
    b.finish()
}

/// `INSERT INTO tasks (…) SELECT` and the new task's values.
/// PostgreSQL's id is the column's identity; SQLite's the next of
/// `task_ids` (its migration 0006: the primary key is `(user_id, id)`, so
/// `id` is not the rowid).
pub(super) fn task_insert(d: Dialect, user: &str, t: &TaskInput, now: DateTime<Utc>) -> Builder {
    let mut b = Builder::write(d, "");
    push_task_insert(&mut b, user, t, now);
    b.bind(Arg::Seq);
    b
}

/// [`task_insert`]'s text and values but the last, the change number, which
/// the caller adds.
pub(super) fn push_task_insert(b: &mut Builder, user: &str, t: &TaskInput, now: DateTime<Utc>) {
    let d = b.dialect;
    let (id_column, id_value) = match d {
        Dialect::Sqlite => ("id, ", "(SELECT last + 1 FROM task_ids), "),
        Dialect::Postgres => ("", ""),
    };
    b.push("INSERT INTO tasks (");
    b.push(id_column).push(
        "user_id, title, title_search, description, description_search, \
         completed, priority, category, due_date, created_at, updated_at, tags, tag_keys, seq)",
    );
    b.push(" SELECT ").push(id_value);
    b.bind(text(user)).push(", ");
    b.bind(text(t.title.as_str())).push(", ");
    b.bind(Arg::Text(search_key(t.title.as_str()))).push(", ");
    b.bind(Arg::OptText(t.description.clone())).push(", ");
    b.bind(Arg::OptText(t.description.as_deref().map(search_key)))
        .push(", ");
    b.bind(Arg::Bool(t.completed.unwrap_or(false))).push(", ");
    b.bind(Arg::SmallInt(t.priority.rank())).push(", ");
    b.bind(text(t.category.as_str())).push(", ");
    b.bind(Arg::OptTime(t.due_date)).push(", ");
    b.bind(Arg::Time(now)).push(", ");
    b.bind(Arg::Time(now)).push(", ");
    let tags = t.tags.clone().unwrap_or_default();
    b.bind(Arg::Text(tags.stored())).push(", ");
    b.bind(Arg::Text(tags.stored_keys())).push(", ");
}

pub(super) fn where_task(b: &mut Builder, user: &str, id: i64) {
    b.push(" WHERE user_id = ").bind(text(user));
    b.push(" AND id = ").bind(Arg::Int(id));
}

/// Most versions a guarded write may name (`If-Match` tags): the HTTP layer
/// refuses more.
pub const MAX_VERSIONS: usize = 16;

/// [`where_task`], and when `versions` is given (`If-Match`), only at one of
/// them. Callers pass 1 to [`MAX_VERSIONS`] of them. The list is always
/// spelled with `MAX_VERSIONS` placeholders (the last version repeated), so
/// the statement's text does not depend on how many were sent: each length
/// would otherwise be a statement of its own, prepared and cached by both
/// the driver and the database.
pub(super) fn where_task_at(b: &mut Builder, user: &str, id: i64, versions: Option<&[i64]>) {
    where_task(b, user, id);
    if let Some(versions) = versions {
        let last = versions.last().copied().unwrap_or(-1);
        b.push(" AND version IN (");
        for i in 0..MAX_VERSIONS {
            if i > 0 {
                b.push(", ");
            }
            b.bind(Arg::Int(versions.get(i).copied().unwrap_or(last)));
        }
        b.push(")");
    }
}

pub fn get_task(d: Dialect, user: &str, id: i64) -> Statement {
    let mut b = Builder::query(d, "SELECT ");
    b.push(TASK_COLUMNS).push(" FROM tasks");
    where_task(&mut b, user, id);
    b.finish()
}

/// Delete a task; the deleted row is returned.
pub fn delete_task(d: Dialect, user: &str, id: i64, versions: Option<&[i64]>) -> Statement {
    let mut b = Builder::write(d, "DELETE FROM tasks");
    where_task_at(&mut b, user, id, versions);
    b.push(" RETURNING ").push(TASK_COLUMNS);
    b.finish()
}

/// Which task a write is for: the user's task `id`, at one of `versions`
/// when the request said `If-Match`.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub user: &'a str,
    pub id: i64,
    pub versions: Option<&'a [i64]>,
}

/// An `UPDATE … RETURNING` of one task that bumps `version` and
/// `updated_at` and records the change's number; `set` adds the changed
/// columns.
pub(super) fn update(
    d: Dialect,
    t: Target<'_>,
    now: DateTime<Utc>,
    set: impl FnOnce(&mut Builder),
) -> Statement {
    let mut b = Builder::write(d, "UPDATE tasks SET version = version + 1, updated_at = ");
    b.bind(Arg::Time(now));
    b.push(", seq = ").bind(Arg::Seq);
    set(&mut b);
    where_task_at(&mut b, t.user, t.id, t.versions);
    b.push(" RETURNING ").push(TASK_COLUMNS);
    b.finish()
}

pub(super) fn set_title(b: &mut Builder, title: &str) {
    b.push(", title = ").bind(text(title));
    b.push(", title_search = ")
        .bind(Arg::Text(search_key(title)));
}

pub(super) fn set_tags(b: &mut Builder, tags: &Tags) {
    b.push(", tags = ").bind(Arg::Text(tags.stored()));
    b.push(", tag_keys = ").bind(Arg::Text(tags.stored_keys()));
}

pub(super) fn set_description(b: &mut Builder, description: Option<&str>) {
    b.push(", description = ")
        .bind(Arg::OptText(description.map(str::to_owned)));
    b.push(", description_search = ")
        .bind(Arg::OptText(description.map(search_key)));
}

/// PUT: replace every editable field; `completed` and `tags` only when given.
pub fn replace_task(
    d: Dialect,
    target: Target<'_>,
    t: &TaskInput,
    now: DateTime<Utc>,
) -> Statement {
    update(d, target, now, |b| {
        set_title(b, t.title.as_str());
        set_description(b, t.description.as_deref());
        if let Some(c) = t.completed {
            b.push(", completed = ").bind(Arg::Bool(c));
        }
        b.push(", priority = ")
            .bind(Arg::SmallInt(t.priority.rank()));
        b.push(", category = ").bind(text(t.category.as_str()));
        b.push(", due_date = ").bind(Arg::OptTime(t.due_date));
        if let Some(tags) = &t.tags {
            set_tags(b, tags);
        }
    })
}

/// PATCH: change only the fields present. Callers handle the empty patch.
pub fn patch_task(d: Dialect, target: Target<'_>, p: &TaskPatch, now: DateTime<Utc>) -> Statement {
    update(d, target, now, |b| {
        if let Some(title) = &p.title {
            set_title(b, title.as_str());
        }
        if let Some(description) = &p.description {
            set_description(b, description.as_deref());
        }
        if let Some(c) = p.completed {
            b.push(", completed = ").bind(Arg::Bool(c));
        }
        if let Some(pr) = p.priority {
            b.push(", priority = ").bind(Arg::SmallInt(pr.rank()));
        }
        if let Some(c) = p.category {
            b.push(", category = ").bind(text(c.as_str()));
        }
        if let Some(due) = p.due_date {
            b.push(", due_date = ").bind(Arg::OptTime(due));
        }
        if let Some(tags) = &p.tags {
            set_tags(b, tags);
        }
    })
}

/// The toggle: one atomic statement, so concurrent toggles never lose one.
pub fn toggle_task(d: Dialect, target: Target<'_>, now: DateTime<Utc>) -> Statement {
    update(d, target, now, |b| {
        b.push(", completed = NOT completed");
    })
}

/// PostgreSQL: a whole toggle (docs/live-updates.md) in one statement, as
/// [`create_task_at_once`] is a create: the user's next change number
/// (only while the task is there, at one of `versions`), the flip numbered
/// with it, and its counts: the task leaves its group for the other, and a
/// task with a due date enters or leaves its due day (as [`recount`] of a
/// toggle, read from the flipped row). No row when there is no such task
/// (or not at those versions) or no users row. Under concurrent changes
/// of the task it flips the task as the one before it committed it (an
/// update that waited re-reads the row); a task deleted meanwhile (or,
/// under `If-Match`, changed to another version) leaves its change number
/// unused, a gap that never fills in (docs/live-updates.md).
pub fn toggle_task_at_once(t: Target<'_>, now: DateTime<Utc>) -> Statement {
    let mut b = Builder::write(
        Dialect::Postgres,
        "WITH numbered AS (UPDATE users SET last_seq = last_seq + 1 WHERE id = ",
    );
    b.bind(text(t.user))
        .push(" AND EXISTS (SELECT 1 FROM tasks");
    where_task_at(&mut b, t.user, t.id, t.versions);
    b.push(") RETURNING last_seq), flipped AS (");
    b.push("UPDATE tasks SET version = version + 1, updated_at = ");
    b.bind(Arg::Time(now));
    b.push(", seq = numbered.last_seq, completed = NOT completed FROM numbered");
    where_task_at(&mut b, t.user, t.id, t.versions);
    b.push(" RETURNING ").push(TASK_COLUMNS);
    b.push(
        "), counted AS (INSERT INTO task_counts (user_id, priority, category, completed, n) \
         SELECT user_id, priority, category, v.done, CASE WHEN v.done = completed THEN 1 ELSE -1 END \
         FROM flipped, (VALUES (true), (false)) AS v (done) \
         ON CONFLICT (user_id, priority, category, completed) \
         DO UPDATE SET n = task_counts.n + excluded.n), \
         dated AS (INSERT INTO task_due_days (user_id, due_day, n) \
         SELECT user_id, ",
    );
    b.push(PG_DUE_DAY).push(
        ", CASE WHEN completed THEN -1 ELSE 1 END FROM flipped WHERE due_date IS NOT NULL \
         ON CONFLICT (user_id, due_day) DO UPDATE SET n = task_due_days.n + excluded.n) \
         SELECT ",
    );
    b.push(TASK_COLUMNS).push(" FROM flipped");
    b.finish()
}

/// The filter's status, priority and category: columns of both `tasks`
/// and `task_counts`.
pub(super) fn push_group_filter(b: &mut Builder, f: &ListFilter) {
    match f.status {
        StatusFilter::All => {}
        StatusFilter::Pending => {
            b.push(" AND completed = ").bind(Arg::Bool(false));
        }
        StatusFilter::Completed => {
            b.push(" AND completed = ").bind(Arg::Bool(true));
        }
    }
    if let Some(p) = f.priority {
        b.push(" AND priority = ").bind(Arg::SmallInt(p.rank()));
    }
    if let Some(c) = f.category {
        b.push(" AND category = ").bind(text(c.as_str()));
    }
}

pub(super) fn push_filter(b: &mut Builder, user: &str, f: &ListFilter, now: DateTime<Utc>) {
    b.push(" FROM tasks WHERE user_id = ").bind(text(user));
    push_group_filter(b, f);
    if let Some(t) = f.due_before {
        b.push(" AND due_date <= ").bind(Arg::Time(t));
    }
    if let Some(t) = f.due_after {
        b.push(" AND due_date >= ").bind(Arg::Time(t));
    }
    match f.overdue {
        None => {}
        Some(true) => {
            b.push(" AND completed = ").bind(Arg::Bool(false));
            b.push(" AND due_date < ").bind(Arg::Time(now));
        }
        Some(false) => {
            b.push(" AND (completed = ").bind(Arg::Bool(true));
            b.push(" OR due_date IS NULL OR due_date >= ")
                .bind(Arg::Time(now))
                .push(")");
        }
    }
    if let Some(key) = &f.q {
        let pattern = like_contains(key);
        b.push(" AND (title_search LIKE ").bind(text(&pattern));
        b.push(" ESCAPE '\\' OR description_search LIKE ")
            .bind(Arg::Text(pattern))
            .push(" ESCAPE '\\')");
    }
    // Each tag asked for, as a whole stored key: `%\x1fkey\x1f%`.
    for key in &f.tags {
        let pattern = like_contains(&format!("{TAG_SEPARATOR}{key}{TAG_SEPARATOR}"));
        b.push(" AND tag_keys LIKE ")
            .bind(Arg::Text(pattern))
            .push(" ESCAPE '\\'");
    }
}

/// The `ORDER BY` of a list: total (ties broken by id in the same
/// direction), tasks without a due date last either way.
pub(super) fn order_by(f: &ListFilter) -> &'static str {
    use Order::{Asc, Desc};
    match (f.sort, f.order) {
        (SortKey::CreatedAt, Asc) => " ORDER BY created_at ASC, id ASC",
        (SortKey::CreatedAt, Desc) => " ORDER BY created_at DESC, id DESC",
        (SortKey::UpdatedAt, Asc) => " ORDER BY updated_at ASC, id ASC",
        (SortKey::UpdatedAt, Desc) => " ORDER BY updated_at DESC, id DESC",
        (SortKey::DueDate, Asc) => " ORDER BY due_date ASC NULLS LAST, id ASC",
        (SortKey::DueDate, Desc) => " ORDER BY due_date DESC NULLS LAST, id DESC",
        (SortKey::Priority, Asc) => " ORDER BY priority ASC, id ASC",
        (SortKey::Priority, Desc) => " ORDER BY priority DESC, id DESC",
        (SortKey::Title, Asc) => " ORDER BY title ASC, id ASC",
        (SortKey::Title, Desc) => " ORDER BY title DESC, id DESC",
    }
}

/// A list page past this many tasks is a scan ([`Statement::light`]).
pub(super) const DEEP_OFFSET: i64 = 1000;

pub fn list_tasks(
    d: Dialect,
    user: &str,
    f: &ListFilter,
    limit: i64,
    offset: i64,
    now: DateTime<Utc>,
) -> Statement {
    // A text or tag filter scans the user's tasks; a deep page walks past
    // every task before it.
    let scans = f.q.is_some() || !f.tags.is_empty() || offset > DEEP_OFFSET;
    let mut b = if scans {
        Builder::scan(d, "SELECT ")
    } else {
        Builder::query(d, "SELECT ")
    };
    b.push(TASK_COLUMNS);
    push_filter(&mut b, user, f, now);
    b.push(order_by(f));
    b.push(" LIMIT ").bind(Arg::Int(limit));
    b.push(" OFFSET ").bind(Arg::Int(offset));
    b.finish()
}

pub fn count_tasks(d: Dialect, user: &str, f: &ListFilter, now: DateTime<Utc>) -> Statement {
    let mut b = Builder::scan(d, "SELECT COUNT(*)");
    push_filter(&mut b, user, f, now);
    b.finish()
}

/// A task's row, locked until its change commits (PostgreSQL): what a
/// write that may move it in the counts read first.
pub fn lock_task(d: Dialect, user: &str, id: i64) -> Statement {
    let mut b = Builder::write(d, "SELECT ");
    b.push(TASK_COLUMNS).push(" FROM tasks");
    where_task(&mut b, user, id);
    if d == Dialect::Postgres {
        b.push(" FOR UPDATE");
    }
    b.finish()
}
