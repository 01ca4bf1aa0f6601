//! The statements of a user's counts: the per-user totals and due days
//! each change moves (`task_counts`, `task_due_days`), stats, and tag counts.

use chrono::{DateTime, Utc};

use super::*;
use crate::tasks::list::ListFilter;
use crate::tasks::model::TAG_SEPARATOR;

/// [`due_day`] in PostgreSQL's SQL, of a row's `due_date` (as migration
/// 0008 fills the due days in); the counts tests toggle tasks due today
/// and before, which a day apart from `due_day` would miscount as overdue.
pub(super) const PG_DUE_DAY: &str = "CAST(floor(extract(epoch FROM due_date) / 86400) AS BIGINT)";

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
    pub fn of(row: &crate::db::TaskRow) -> Self {
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
pub(super) fn tally<K: PartialEq>(into: &mut Vec<(K, i64)>, key: K, delta: i64) {
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
        let mut b = Builder::write(
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
        let mut b = Builder::write(d, "INSERT INTO task_due_days (user_id, due_day, n) VALUES ");
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
