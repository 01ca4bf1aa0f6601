//! The SQL of every store operation, written once for both databases.
//!
//! Statements are built as text plus a list of [`Arg`]s; the dialect only
//! decides how a placeholder is spelled (`?` or `$n`). Every statement that
//! touches `tasks` is keyed by `user_id` first.

use std::fmt::Write;

use chrono::{DateTime, Utc};

use crate::tasks::list::{ListFilter, Order, SortKey, StatusFilter};
use crate::tasks::model::{TAG_SEPARATOR, Tags, TaskInput, TaskPatch, search_key};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// A value bound to a placeholder.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Int(i64),
    SmallInt(i16),
    Bool(bool),
    Text(String),
    OptText(Option<String>),
    Time(DateTime<Utc>),
    OptTime(Option<DateTime<Utc>>),
    /// The number of the change the statement is part of (docs/live-updates.md), known
    /// only inside its transaction: [`Statement::numbered`] fills it in.
    Seq,
}

/// SQL text and its arguments, in placeholder order.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sql: String,
    pub args: Vec<Arg>,
    /// It only reads (SQLite runs it on a reading connection).
    pub read_only: bool,
    /// A read whose cost a page bounds, whatever the user's data (an
    /// index range, a key): it may queue on a shared pipelined connection
    /// (PostgreSQL, `db::pipeline`). A scan (a text search, counting a
    /// filter) runs on a connection of its own, so that it holds up no one
    /// else's reads.
    pub light: bool,
}

impl Statement {
    /// The statement with its change number in place of every [`Arg::Seq`].
    pub fn numbered(mut self, seq: i64) -> Self {
        for arg in &mut self.args {
            if *arg == Arg::Seq {
                *arg = Arg::Int(seq);
            }
        }
        self
    }
}

struct Builder {
    dialect: Dialect,
    sql: String,
    args: Vec<Arg>,
    read_only: bool,
    light: bool,
}

impl Builder {
    /// A statement that writes.
    fn new(dialect: Dialect, sql: &str) -> Self {
        Self {
            dialect,
            sql: sql.to_owned(),
            args: Vec::new(),
            read_only: false,
            light: false,
        }
    }

    /// A statement that only reads, at a cost a page bounds.
    fn query(dialect: Dialect, sql: &str) -> Self {
        Self {
            read_only: true,
            light: true,
            ..Self::new(dialect, sql)
        }
    }

    /// A statement that only reads, and may scan many rows.
    fn scan(dialect: Dialect, sql: &str) -> Self {
        Self {
            light: false,
            ..Self::query(dialect, sql)
        }
    }

    fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    fn bind(&mut self, arg: Arg) -> &mut Self {
        self.args.push(arg);
        match self.dialect {
            Dialect::Sqlite => self.sql.push('?'),
            Dialect::Postgres => {
                let _ = write!(self.sql, "${}", self.args.len());
            }
        }
        self
    }

    fn finish(self) -> Statement {
        Statement {
            sql: self.sql,
            args: self.args,
            read_only: self.read_only,
            light: self.light,
        }
    }
}

/// The columns of a task, in the order `TaskRow` decodes them by position.
pub(super) const TASK_COLUMNS: &str = "id, user_id, title, description, completed, priority, category, \
                            due_date, version, created_at, updated_at, tags, seq";

fn text(s: &str) -> Arg {
    Arg::Text(s.to_owned())
}

/// `%key%` for `LIKE … ESCAPE '\'`, with `%`, `_` and the escape character
/// of the key matched literally.
fn like_contains(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 2);
    out.push('%');
    for c in key.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

pub fn upsert_user(
    d: Dialect,
    id: &str,
    email: Option<&str>,
    name: Option<&str>,
    now: DateTime<Utc>,
) -> Statement {
    let mut b = Builder::new(
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
    let mut b = Builder::new(
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
fn task_insert(d: Dialect, user: &str, t: &TaskInput, now: DateTime<Utc>) -> Builder {
    let mut b = Builder::new(d, "");
    push_task_insert(&mut b, user, t, now);
    b.bind(Arg::Seq);
    b
}

/// [`task_insert`]'s text and values but the last, the change number, which
/// the caller adds.
fn push_task_insert(b: &mut Builder, user: &str, t: &TaskInput, now: DateTime<Utc>) {
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

/// Forget up to `batch` Idempotency-Key records created before `before`,
/// whichever user they belong to (the periodic sweep).
pub fn sweep_keys(d: Dialect, before: DateTime<Utc>, batch: i64) -> Statement {
    let mut b = Builder::new(
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
    let mut b = Builder::new(d, "DELETE FROM idempotency_keys WHERE user_id = ");
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
    let mut b = Builder::new(
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
    let mut b = Builder::new(d, "UPDATE idempotency_keys SET task_id = ");
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
    let mut b = Builder::new(d, "DELETE FROM idempotency_keys WHERE user_id = ");
    b.bind(text(user)).push(" AND key = ").bind(text(key));
    b.push(" AND task_id IS NULL");
    b.finish()
}

fn where_task(b: &mut Builder, user: &str, id: i64) {
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
fn where_task_at(b: &mut Builder, user: &str, id: i64, versions: Option<&[i64]>) {
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
    let mut b = Builder::new(d, "DELETE FROM tasks");
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
fn update(
    d: Dialect,
    t: Target<'_>,
    now: DateTime<Utc>,
    set: impl FnOnce(&mut Builder),
) -> Statement {
    let mut b = Builder::new(d, "UPDATE tasks SET version = version + 1, updated_at = ");
    b.bind(Arg::Time(now));
    b.push(", seq = ").bind(Arg::Seq);
    set(&mut b);
    where_task_at(&mut b, t.user, t.id, t.versions);
    b.push(" RETURNING ").push(TASK_COLUMNS);
    b.finish()
}

fn set_title(b: &mut Builder, title: &str) {
    b.push(", title = ").bind(text(title));
    b.push(", title_search = ")
        .bind(Arg::Text(search_key(title)));
}

fn set_tags(b: &mut Builder, tags: &Tags) {
    b.push(", tags = ").bind(Arg::Text(tags.stored()));
    b.push(", tag_keys = ").bind(Arg::Text(tags.stored_keys()));
}

fn set_description(b: &mut Builder, description: Option<&str>) {
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
    let mut b = Builder::new(
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

/// [`due_day`] in PostgreSQL's SQL, of a row's `due_date` (as migration
/// 0008 fills the due days in); the counts tests toggle tasks due today
/// and before, which a day apart from `due_day` would miscount as overdue.
const PG_DUE_DAY: &str = "CAST(floor(extract(epoch FROM due_date) / 86400) AS BIGINT)";

/// The filter's status, priority and category: columns of both `tasks`
/// and `task_counts`.
fn push_group_filter(b: &mut Builder, f: &ListFilter) {
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

fn push_filter(b: &mut Builder, user: &str, f: &ListFilter, now: DateTime<Utc>) {
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
fn order_by(f: &ListFilter) -> &'static str {
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
const DEEP_OFFSET: i64 = 1000;

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

/// The most tags `GET /api/tags` lists: the first by name.
pub const TAGS_LISTED: i64 = 1000;

/// The user's tags with how many tasks carry each (`GET /api/tags`),
/// counted by the database: each tagged task's stored tags and keys split
/// side by side into rows, grouped by key, at most `limit` groups in key
/// order (bytewise, as the API compares). A tag's name is its spelling on
/// the oldest task carrying it: the least of `<id, 20 digits><US><name>`,
/// so each group keeps one short string, never a list.
pub fn tag_counts(d: Dialect, user: &str, limit: i64) -> Statement {
    let sep = TAG_SEPARATOR as u32;
    let mut b = match d {
        Dialect::Postgres => {
            let mut b = Builder::scan(
                d,
                &format!(
                    "SELECT substr(min((lpad(t.id::text, 20, '0') || chr({sep}) || k.name) \
                     COLLATE \"C\"), 22) AS name, COUNT(*) AS count \
                     FROM tasks t CROSS JOIN LATERAL unnest(\
                     string_to_array(t.tags, chr({sep})), \
                     string_to_array(substr(t.tag_keys, 2), chr({sep}))) AS k(name, key) \
                     WHERE t.user_id = "
                ),
            );
            b.bind(text(user));
            b.push(
                " AND t.tag_keys <> '' AND k.key <> '' GROUP BY k.key ORDER BY k.key COLLATE \"C\"",
            );
            b
        }
        Dialect::Sqlite => {
            // No array functions: a recursive CTE takes one tag off the
            // front of both lists per step.
            let mut b = Builder::scan(
                d,
                "WITH RECURSIVE split(id, names, keys, name, key) AS (\
                 SELECT id, tags, substr(tag_keys, 2), NULL, NULL FROM tasks \
                 WHERE user_id = ",
            );
            b.bind(text(user));
            b.push(&format!(
                " AND tag_keys <> '' UNION ALL \
                 SELECT id, substr(names, instr(names, char({sep})) + 1), \
                 substr(keys, instr(keys, char({sep})) + 1), \
                 substr(names, 1, instr(names, char({sep})) - 1), \
                 substr(keys, 1, instr(keys, char({sep})) - 1) \
                 FROM split WHERE keys <> '') \
                 SELECT substr(min(printf('%020d', id) || char({sep}) || name), 22) AS name, \
                 COUNT(*) AS count FROM split WHERE key <> '' GROUP BY key ORDER BY key"
            ));
            b
        }
    };
    b.push(" LIMIT ").bind(Arg::Int(limit));
    b.finish()
}

/// Take the user's next change number (docs/live-updates.md): the users row stays
/// locked until the change's transaction ends, so numbers are handed out
/// in commit order, and moves the user's task total by `tasks` (a create
/// +1, a delete -1; a delete also counts its tombstone). No row when the
/// user's row is missing.
pub fn next_seq(d: Dialect, user: &str, tasks: i64) -> Statement {
    let mut b = Builder::new(d, "UPDATE users SET last_seq = last_seq + 1");
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
    let mut b = Builder::new(Dialect::Postgres, "SELECT pg_notify('");
    b.push(super::changes::CHANNEL)
        .push("', p) FROM json_array_elements_text(CAST(");
    b.bind(Arg::Text(payloads)).push(" AS json)) AS p");
    b.finish()
}

/// A deleted task's tombstone.
pub fn insert_tombstone(d: Dialect, user: &str, task_id: i64, now: DateTime<Utc>) -> Statement {
    let mut b = Builder::new(
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
fn old_tombstones(b: &mut Builder, user: &str, before: DateTime<Utc>, batch: i64) {
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
    let mut b = Builder::new(d, "UPDATE users SET purged_seq = ");
    b.push(greatest)
        .push("(purged_seq, COALESCE((SELECT MAX(seq) FROM (");
    old_tombstones(&mut b, user, before, batch);
    b.push(") AS old), 0)) WHERE id = ").bind(text(user));
    b.finish()
}

/// Forget the batch [`mark_purged`] named.
pub fn purge_tombstones(d: Dialect, user: &str, before: DateTime<Utc>, batch: i64) -> Statement {
    let mut b = Builder::new(d, "DELETE FROM task_tombstones WHERE user_id = ");
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
    let mut b = Builder::new(d, "UPDATE users SET purged_seq = ");
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
    let mut b = Builder::new(d, "DELETE FROM task_tombstones WHERE user_id = ");
    b.bind(text(user));
    b.push(" AND seq <= (SELECT purged_seq FROM users WHERE id = ")
        .bind(text(user))
        .push(")");
    b.finish()
}

/// Count the user's tombstones again (after the retention sweep).
pub fn recount_tombstones(d: Dialect, user: &str) -> Statement {
    let mut b = Builder::new(
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
    let mut b = Builder::new(
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
    let mut b = Builder::new(d, "DELETE FROM event_tickets WHERE user_id = ");
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
    let mut b = Builder::new(d, "DELETE FROM event_tickets WHERE user_id = ");
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
    let mut b = Builder::new(
        d,
        "DELETE FROM event_tickets WHERE (user_id, ticket_hash) IN \
         (SELECT user_id, ticket_hash FROM event_tickets WHERE expires_at <= ",
    );
    b.bind(Arg::Int(now));
    b.push(" LIMIT ").bind(Arg::Int(batch)).push(")");
    b.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_columns_are_in_task_row_order() {
        let names: Vec<&str> = TASK_COLUMNS.split(',').map(str::trim).collect();
        assert_eq!(
            names,
            [
                "id",
                "user_id",
                "title",
                "description",
                "completed",
                "priority",
                "category",
                "due_date",
                "version",
                "created_at",
                "updated_at",
                "tags",
                "seq"
            ]
        );
    }

    #[test]
    fn guarded_writes_are_one_statement_whatever_the_tag_count() {
        for d in [Dialect::Sqlite, Dialect::Postgres] {
            let at = |versions: &[i64]| {
                let t = Target {
                    user: "u",
                    id: 1,
                    versions: Some(versions),
                };
                (
                    toggle_task(d, t, Utc::now()),
                    delete_task(d, "u", 1, Some(versions)),
                )
            };
            let (one, one_del) = at(&[3]);
            let all: Vec<i64> = (1..=MAX_VERSIONS as i64).collect();
            let (many, many_del) = at(&all);
            assert_eq!(one.sql, many.sql);
            assert_eq!(one_del.sql, many_del.sql);
            assert_eq!(one.args.len(), many.args.len());
            assert!(many.args.contains(&Arg::Int(MAX_VERSIONS as i64)));
        }
    }

    #[test]
    fn search_patterns_match_the_key_literally() {
        assert_eq!(like_contains("50%_off\\"), "%50\\%\\_off\\\\%");
        assert_eq!(like_contains("café"), "%café%");
    }

    #[test]
    fn placeholders_follow_the_dialect() {
        let pg = get_task(Dialect::Postgres, "u", 7);
        assert!(
            pg.sql.ends_with("WHERE user_id = $1 AND id = $2"),
            "{}",
            pg.sql
        );
        let lite = get_task(Dialect::Sqlite, "u", 7);
        assert!(
            lite.sql.ends_with("WHERE user_id = ? AND id = ?"),
            "{}",
            lite.sql
        );
        assert_eq!(pg.args, vec![Arg::Text("u".into()), Arg::Int(7)]);
    }

    #[test]
    fn every_list_is_keyed_by_user_first() {
        let f = ListFilter {
            q: Some("%x%".into()),
            overdue: Some(false),
            ..Default::default()
        };
        let s = list_tasks(Dialect::Postgres, "u", &f, 10, 0, Utc::now());
        assert!(
            s.sql.contains("FROM tasks WHERE user_id = $1 AND"),
            "{}",
            s.sql
        );
        assert_eq!(s.args.len(), s.sql.matches('$').count());
    }
}

/// Where a task stands in its user's counts (migration 0008): its group
/// in `task_counts`, and while pending, the UTC day it is due
/// (`task_due_days`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counted {
    pub priority: i16,
    pub category: String,
    pub completed: bool,
    pub due_day: Option<i64>,
}

/// Days since 1970-01-01 of `t`'s UTC date.
pub fn due_day(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(86_400)
}

impl Counted {
    pub fn of(row: &super::TaskRow) -> Self {
        Self {
            priority: row.priority,
            category: row.category.clone(),
            completed: row.completed,
            due_day: row.due_date.map(due_day),
        }
    }

    /// The same task with `completed` the other way.
    pub fn toggled(&self) -> Self {
        Self {
            completed: !self.completed,
            ..self.clone()
        }
    }

    fn pending_due_day(&self) -> Option<i64> {
        self.due_day.filter(|_| !self.completed)
    }
}

/// Add `delta` to `key`'s entry, one entry per key.
fn tally<K: PartialEq>(into: &mut Vec<(K, i64)>, key: K, delta: i64) {
    match into.iter_mut().find(|(k, _)| *k == key) {
        Some((_, n)) => *n += delta,
        None => into.push((key, delta)),
    }
}

/// The statements that move one task from `before` to `after` in its
/// user's counts (`None`: no task: a create, a delete); none when both
/// stand in the same place. Each table gets one upsert of every row it
/// changes (a row not there yet starts at 0).
pub fn recount(
    d: Dialect,
    user: &str,
    before: Option<&Counted>,
    after: Option<&Counted>,
) -> Vec<Statement> {
    let mut groups: Vec<((i16, &str, bool), i64)> = Vec::new();
    let mut days: Vec<(i64, i64)> = Vec::new();
    for (c, delta) in [(before, -1), (after, 1)] {
        let Some(c) = c else { continue };
        tally(
            &mut groups,
            (c.priority, c.category.as_str(), c.completed),
            delta,
        );
        if let Some(day) = c.pending_due_day() {
            tally(&mut days, day, delta);
        }
    }
    groups.retain(|(_, n)| *n != 0);
    days.retain(|(_, n)| *n != 0);
    let mut out = Vec::new();
    if !groups.is_empty() {
        let mut b = Builder::new(
            d,
            "INSERT INTO task_counts (user_id, priority, category, completed, n) VALUES ",
        );
        for (i, ((priority, category, completed), n)) in groups.into_iter().enumerate() {
            b.push(if i == 0 { "(" } else { ", (" });
            b.bind(text(user)).push(", ");
            b.bind(Arg::SmallInt(priority)).push(", ");
            b.bind(text(category)).push(", ");
            b.bind(Arg::Bool(completed)).push(", ");
            b.bind(Arg::Int(n)).push(")");
        }
        b.push(
            " ON CONFLICT (user_id, priority, category, completed) \
             DO UPDATE SET n = task_counts.n + excluded.n",
        );
        out.push(b.finish());
    }
    if !days.is_empty() {
        let mut b = Builder::new(d, "INSERT INTO task_due_days (user_id, due_day, n) VALUES ");
        for (i, (day, n)) in days.into_iter().enumerate() {
            b.push(if i == 0 { "(" } else { ", (" });
            b.bind(text(user)).push(", ");
            b.bind(Arg::Int(day)).push(", ");
            b.bind(Arg::Int(n)).push(")");
        }
        b.push(" ON CONFLICT (user_id, due_day) DO UPDATE SET n = task_due_days.n + excluded.n");
        out.push(b.finish());
    }
    out
}

/// The user's counted groups (the stats).
pub fn counted_groups(d: Dialect, user: &str) -> Statement {
    let mut b = Builder::query(
        d,
        "SELECT priority, category, completed, n FROM task_counts \
         WHERE user_id = ",
    );
    b.bind(text(user)).push(" AND n <> 0");
    b.finish()
}

/// The user's pending tasks due before `now`: the counted days before
/// today's, and today's tasks due before `now` (one day's index range).
pub fn overdue(d: Dialect, user: &str, now: DateTime<Utc>) -> Statement {
    let today = due_day(now);
    let midnight = DateTime::<Utc>::from_timestamp(today * 86_400, 0).unwrap_or(now);
    let mut b = Builder::query(
        d,
        "SELECT CAST((SELECT COALESCE(SUM(n), 0) FROM task_due_days WHERE user_id = ",
    );
    b.bind(text(user))
        .push(" AND due_day < ")
        .bind(Arg::Int(today));
    b.push(") + (SELECT COUNT(*) FROM tasks WHERE user_id = ")
        .bind(text(user));
    b.push(" AND due_date >= ").bind(Arg::Time(midnight));
    b.push(" AND due_date < ").bind(Arg::Time(now));
    b.push(" AND completed = ").bind(Arg::Bool(false));
    // PostgreSQL sums a BIGINT as a NUMERIC.
    b.push(") AS BIGINT)");
    b.finish()
}

/// The total of a list whose filter is only status, priority and
/// category, from the counts; `None` for any other filter (it counts).
pub fn counted_total(d: Dialect, user: &str, f: &ListFilter) -> Option<Statement> {
    if f.due_before.is_some() || f.due_after.is_some() || f.overdue.is_some() {
        return None;
    }
    if f.q.is_some() || !f.tags.is_empty() {
        return None;
    }
    let mut b = Builder::query(
        d,
        "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM task_counts WHERE user_id = ",
    );
    b.bind(text(user));
    push_group_filter(&mut b, f);
    Some(b.finish())
}

/// A task's row, locked until its change commits (PostgreSQL): what a
/// write that may move it in the counts read first.
pub fn lock_task(d: Dialect, user: &str, id: i64) -> Statement {
    let mut b = Builder::new(d, "SELECT ");
    b.push(TASK_COLUMNS).push(" FROM tasks");
    where_task(&mut b, user, id);
    if d == Dialect::Postgres {
        b.push(" FOR UPDATE");
    }
    b.finish()
}
