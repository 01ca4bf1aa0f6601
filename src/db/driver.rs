//! The seam between the [`Store`](super::Store) and a database driver: the
//! [`Driver`] trait, the rows it decodes, a change as one transaction
//! ([`ChangeTx`]), and the pool's state.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use super::sql::{Dialect, Statement};
use crate::tasks::model::{Category, Priority, Task, stored_tags};

/// A task as stored; decoded the same way from either database, by column
/// position: every statement returning tasks selects `sql::TASK_COLUMNS`,
/// in this order (looking 11 columns up by name in every row of a list
/// showed in profiles as a few percent of a list request).
#[derive(Debug, Clone)]
pub struct TaskRow {
    pub id: i64,
    pub user_id: String,
    pub title: String,
    pub description: Option<String>,
    pub completed: bool,
    pub priority: i16,
    pub category: String,
    pub due_date: Option<DateTime<Utc>>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// As [`Tags::stored`](crate::tasks::model::Tags::stored) writes them.
    pub tags: String,
    /// The number of the task's last change (docs/live-updates.md).
    pub seq: i64,
}

impl<'r, R> sqlx::FromRow<'r, R> for TaskRow
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i16: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    bool: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    DateTime<Utc>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
        Ok(TaskRow {
            id: row.try_get(0)?,
            user_id: row.try_get(1)?,
            title: row.try_get(2)?,
            description: row.try_get(3)?,
            completed: row.try_get(4)?,
            priority: row.try_get(5)?,
            category: row.try_get(6)?,
            due_date: row.try_get(7)?,
            version: row.try_get(8)?,
            created_at: row.try_get(9)?,
            updated_at: row.try_get(10)?,
            tags: row.try_get(11)?,
            seq: row.try_get(12)?,
        })
    }
}

impl TryFrom<TaskRow> for Task {
    type Error = StoreError;

    fn try_from(r: TaskRow) -> Result<Self, StoreError> {
        let priority = Priority::from_rank(r.priority)
            .ok_or_else(|| StoreError::Corrupt(format!("priority {}", r.priority)))?;
        let category = Category::parse(&r.category)
            .ok_or_else(|| StoreError::Corrupt(format!("category {:?}", r.category)))?;
        Ok(Task {
            id: r.id,
            user_id: r.user_id,
            title: r.title,
            description: r.description,
            completed: r.completed,
            status: if r.completed { "completed" } else { "pending" },
            priority,
            category,
            due_date: r.due_date,
            created_at: r.created_at,
            updated_at: r.updated_at,
            tags: stored_tags(&r.tags),
            version: r.version,
        })
    }
}

/// A connection pool's size and how much of it is idle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolState {
    pub open: u32,
    pub idle: u32,
}

/// An Idempotency-Key record; `task_id` is `None` while in flight.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KeyRow {
    pub request_hash: String,
    pub task_id: Option<i64>,
    pub task_version: Option<i64>,
    pub response_body: Option<String>,
}

/// Makes statements from the row a change wrote (and the task as it was,
/// when the change read it first), to run in its transaction. `Fn`: a
/// change whose SQLite batch failed is run again on its own.
pub type AfterRow =
    Box<dyn Fn(Option<&TaskRow>, &TaskRow) -> Result<Vec<Statement>, StoreError> + Send + Sync>;

/// One change of a user's data, run in one transaction (docs/live-updates.md): the
/// user's next number, then the write and what commits with it, each
/// [`numbered`](Statement::numbered) with it.
pub struct ChangeTx {
    /// Takes the user's next number ([`sql::next_seq`]); no row: the user's
    /// row is missing ([`StoreError::MissingUser`]).
    pub next_seq: Statement,
    /// Read next ([`sql::lock_task`]): the task as it was, for `after_row`;
    /// no row: there is no such task, and nothing is written.
    pub before: Option<Statement>,
    /// The write, returning the task's row; no row: nothing changed, the
    /// transaction is rolled back and the number is not used.
    pub write: Statement,
    /// Made from the written row (the counts, an Idempotency-Key record),
    /// run next.
    pub after_row: Option<AfterRow>,
    /// Run last: a tombstone, the notification.
    pub then: Vec<Statement>,
}

/// One group of the stats query.
#[derive(Debug, sqlx::FromRow)]
pub struct StatsRow {
    pub priority: i16,
    pub category: String,
    pub completed: bool,
    pub n: i64,
}

/// A tag and how many of a user's tasks carry it (`sql::tag_counts`).
#[derive(Debug, sqlx::FromRow)]
pub struct TagRow {
    pub name: String,
    pub count: i64,
}

/// A chat conversation as stored (docs/chat.md).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConversationRow {
    pub id: i64,
    pub title: String,
    pub message_count: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A chat message as stored; `tool_calls` is JSON text, or empty.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MessageRow {
    pub position: i64,
    pub role: String,
    pub content: String,
    pub tool_calls: String,
    pub created_at: DateTime<Utc>,
}

/// What `migrate` is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MigrateCommand {
    Up,
    /// Undo the most recent migration.
    Down,
    Status,
}

/// One migration and whether it is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationState {
    pub version: i64,
    pub description: String,
    pub applied: bool,
}

/// The seam between the store and a database driver: run a statement, decode
/// the rows. A faster PostgreSQL driver only has to implement this.
#[async_trait]
pub trait Driver: Send + Sync + 'static {
    fn dialect(&self) -> Dialect;
    async fn fetch_tasks(&self, stmt: Statement) -> Result<Vec<TaskRow>, StoreError>;
    async fn fetch_stats(&self, stmt: Statement) -> Result<Vec<StatsRow>, StoreError>;
    async fn fetch_tag_counts(&self, stmt: Statement) -> Result<Vec<TagRow>, StoreError>;
    async fn fetch_count(&self, stmt: Statement) -> Result<i64, StoreError>;
    /// The first column of every row, as text.
    async fn fetch_texts(&self, stmt: Statement) -> Result<Vec<String>, StoreError>;
    async fn fetch_key(&self, stmt: Statement) -> Result<Option<KeyRow>, StoreError>;
    /// Run a statement; the number of rows it affected.
    async fn execute(&self, stmt: Statement) -> Result<u64, StoreError>;
    /// Run a change in one transaction; its number and row, or `None` (and
    /// nothing written) when the write touched no row.
    async fn change(&self, change: ChangeTx) -> Result<Option<(i64, TaskRow)>, StoreError>;
    /// Run statements in one transaction.
    async fn execute_all(&self, stmts: Vec<Statement>) -> Result<(), StoreError>;
    /// Run statements in one transaction, each of which must affect a row:
    /// when one affects none, nothing is written (`false`).
    async fn execute_all_or_none(&self, stmts: Vec<Statement>) -> Result<bool, StoreError>;
    /// Rows of `sql::CONVERSATION_COLUMNS`.
    async fn fetch_conversations(
        &self,
        stmt: Statement,
    ) -> Result<Vec<ConversationRow>, StoreError>;
    /// Rows of `sql::MESSAGE_COLUMNS`.
    async fn fetch_messages(&self, stmt: Statement) -> Result<Vec<MessageRow>, StoreError>;
    /// Every row, each column as an integer.
    async fn fetch_ints(&self, stmt: Statement) -> Result<Vec<Vec<i64>>, StoreError>;
    async fn ping(&self) -> Result<(), StoreError>;
    /// Connections open and idle, for `/metrics`.
    fn pool_state(&self) -> PoolState;
    /// The connections go through a transaction pooler (PostgreSQL only:
    /// it refused a startup option), which cannot hold a `LISTEN`.
    fn through_pooler(&self) -> bool;
    /// A create and a toggle run as one statement each
    /// (`sql::create_task_at_once`, `sql::toggle_task_at_once`): plain
    /// PostgreSQL, not through a transaction pooler.
    fn changes_at_once(&self) -> bool;
    async fn migrate(&self, cmd: MigrateCommand) -> Result<Vec<MigrationState>, StoreError>;
    /// On a Citus coordinator, each table and whether it is distributed;
    /// `None` on plain PostgreSQL and SQLite.
    async fn distribution(&self) -> Result<Option<Vec<(&'static str, bool)>>, StoreError>;
    async fn close(&self);
}
