//! The SQL of every store operation, written once for both databases.
//!
//! Statements are built as text plus a list of [`Arg`]s; the dialect only
//! decides how a placeholder is spelled (`?` or `$n`). Every statement that
//! touches `tasks` is keyed by `user_id` first.

use std::fmt::Write;

use chrono::{DateTime, Utc};

use crate::tasks::model::TAG_SEPARATOR;

mod chat;
mod counts;
mod feed;
mod keys;
mod tasks;

pub use chat::*;
pub use counts::*;
pub use feed::*;
pub use keys::*;
pub use tasks::*;

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
    pub page_bounded: bool,
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
    page_bounded: bool,
}

impl Builder {
    /// A statement that writes.
    fn write(dialect: Dialect, sql: &str) -> Self {
        Self {
            dialect,
            sql: sql.to_owned(),
            args: Vec::new(),
            read_only: false,
            page_bounded: false,
        }
    }

    /// A statement that only reads, at a cost a page bounds.
    fn query(dialect: Dialect, sql: &str) -> Self {
        Self {
            read_only: true,
            page_bounded: true,
            ..Self::write(dialect, sql)
        }
    }

    /// A statement that only reads, and may scan many rows.
    fn scan(dialect: Dialect, sql: &str) -> Self {
        Self {
            page_bounded: false,
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
            page_bounded: self.page_bounded,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::list::ListFilter;

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
