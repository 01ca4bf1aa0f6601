//! Storage: the [`Driver`] seam with a SQLite and a PostgreSQL implementation,
//! and the [`Store`] every handler talks to.
//!
//! Every `Store` method takes the user id first and filters by it; another
//! user's task and a missing task are the same `None`, so isolation is a
//! property of these signatures rather than of each handler's care.

pub mod changes;
mod gate;
mod migrate;
mod pipeline;
mod pool;
mod postgres;
pub mod sql;
mod sqlite;
mod sqlx_driver;
pub mod url;
mod users;

pub use users::SeenUsers;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::tasks::list::ListQuery;
use crate::tasks::model::{Category, Priority, Task, TaskInput, TaskPatch, now, stored_tags};
use sql::{Dialect, Statement, Target};
use url::DatabaseUrl;

/// A database failure. Callers only need to know whether it is worth retrying.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    /// From a pipelined read connection (`pipeline`).
    #[error(transparent)]
    Postgres(#[from] tokio_postgres::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error("timed out connecting to the database")]
    ConnectTimeout,
    #[error("no database connection became free in time")]
    PoolTimedOut,
    /// The user already has `USER_DB_CONCURRENCY` operations running, and
    /// none finished in time.
    #[error("too many concurrent database operations for this user")]
    UserBusy,
    /// A statement ran well past the statement timeout and was abandoned.
    #[error("a statement ran past the statement timeout")]
    StatementTimedOut,
    /// The user has `MAX_TASKS_PER_USER` tasks.
    #[error("the user has the most tasks allowed")]
    TaskLimit,
    /// An administrative operation this database cannot do.
    #[error("{0}")]
    Refused(&'static str),
    /// A change named a user whose row does not exist (any more).
    #[error("the user's row is missing")]
    MissingUser,
}

impl StoreError {
    /// The database could not be reached or the pool is exhausted: a 503.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Sqlx(e) => {
                matches!(
                    e,
                    sqlx::Error::PoolTimedOut
                        | sqlx::Error::PoolClosed
                        | sqlx::Error::Io(_)
                        | sqlx::Error::Tls(_)
                        | sqlx::Error::WorkerCrashed
                ) || e.as_database_error().is_some_and(|d| {
                    let code = d.code().unwrap_or_default();
                    if d.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                        // SQLITE_BUSY / SQLITE_LOCKED and their extended
                        // codes; SQLITE_INTERRUPT: the statement timeout.
                        code.parse::<i32>()
                            .is_ok_and(|c| matches!(c & 0xff, 5 | 6 | 9))
                    } else {
                        // PostgreSQL class 08 (connection), 57P (shutdown),
                        // 53300 (too many connections), 57014 (cancelled:
                        // the statement timeout).
                        unavailable_code(&code)
                    }
                })
            }
            StoreError::Postgres(e) => {
                e.is_closed()
                    || e.code().is_some_and(|c| unavailable_code(c.code()))
                    // No answer from the database: connecting, I/O, TLS.
                    || (e.as_db_error().is_none()
                        && std::error::Error::source(e).is_some_and(|s| {
                            s.is::<std::io::Error>() || s.is::<rustls::Error>()
                        }))
                    || e.to_string().starts_with("error connecting")
                    || e.to_string().starts_with("timeout")
            }
            StoreError::ConnectTimeout
            | StoreError::PoolTimedOut
            | StoreError::StatementTimedOut => true,
            _ => false,
        }
    }

    /// A task insert named a user row that does not exist (any more).
    pub fn is_missing_user(&self) -> bool {
        match self {
            StoreError::MissingUser => true,
            StoreError::Sqlx(e) => e
                .as_database_error()
                .and_then(|d| d.code())
                // PostgreSQL foreign_key_violation; SQLITE_CONSTRAINT_FOREIGNKEY.
                .is_some_and(|c| c == "23503" || c == "787"),
            _ => false,
        }
    }
}

/// PostgreSQL class 08 (connection), 57P (shutdown), 53300 (too many
/// connections), 57014 (cancelled: the statement timeout).
fn unavailable_code(code: &str) -> bool {
    code.starts_with("08") || code.starts_with("57P") || code == "53300" || code == "57014"
}

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
    /// The number of the task's last change (SPEC 15).
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

/// One change of a user's data, run in one transaction (SPEC 15): the
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
    async fn fetch_tag_counts(&self, stmt: Statement) -> Result<Vec<TagCount>, StoreError>;
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

/// Pool settings shared by both drivers.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    pub max_connections: u32,
    pub acquire_timeout: std::time::Duration,
    /// Longest one statement may run (then it is cancelled: a 503).
    pub statement_timeout: std::time::Duration,
    /// PostgreSQL: shared connections reads are pipelined on
    /// (`DB_PIPELINE_CONNECTIONS`; 0: reads use the pool too).
    pub pipeline_connections: u32,
}

/// What one user may cost the database.
#[derive(Debug, Clone, Copy)]
pub struct UserLimits {
    /// Operations of one user running at once; more wait their turn.
    pub concurrency: u32,
    /// Tasks one user may have.
    pub max_tasks: u32,
    /// Longest an operation waits for its turn.
    pub wait: std::time::Duration,
    /// Tombstones kept per user (`MAX_TOMBSTONES_PER_USER`).
    pub max_tombstones: u32,
}

impl Default for UserLimits {
    fn default() -> Self {
        Self {
            concurrency: 4,
            max_tasks: 100_000,
            max_tombstones: 10_000,
            wait: std::time::Duration::from_secs(5),
        }
    }
}

/// Event streams (SPEC 15) an instance holds open.
#[derive(Debug, Clone, Copy)]
pub struct StreamLimits {
    /// `EVENTS_MAX_PER_USER`.
    pub per_user: usize,
    /// `EVENTS_MAX_STREAMS`.
    pub per_instance: usize,
}

impl Default for StreamLimits {
    fn default() -> Self {
        Self {
            per_user: 10,
            per_instance: 10_000,
        }
    }
}

/// How long an Idempotency-Key holds its first response (SPEC 7).
pub const IDEMPOTENCY_TTL: std::time::Duration = std::time::Duration::from_secs(24 * 3600);
/// A first request still unfinished after this long was abandoned (its task
/// was not written; the task and the record commit together).
pub const ABANDONED_AFTER: std::time::Duration = std::time::Duration::from_secs(60);

/// What an Idempotency-Key holds for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Ours: run the request.
    Claimed,
    /// Done before with this body: answer with the first response.
    Replay {
        task_id: i64,
        version: i64,
        body: String,
    },
    /// The first request with this key is still running.
    InFlight,
    /// Used before with another body.
    Mismatch,
}

/// What a write of one task came to.
#[derive(Debug)]
pub enum Write<T> {
    Done(T),
    /// No such task for this user (another user's is the same).
    Missing,
    /// The task exists but not at a version `If-Match` named.
    Stale,
}

/// Open a pool for `url` and check that the database answers.
pub async fn connect(
    url: &DatabaseUrl,
    pool: &PoolOptions,
    limits: UserLimits,
    streams: StreamLimits,
) -> Result<Store, StoreError> {
    let driver: Arc<dyn Driver> = match url {
        DatabaseUrl::Sqlite(opts) => Arc::new(sqlite::SqliteDriver::connect(opts, pool).await?),
        DatabaseUrl::Postgres(opts, pipelined) => {
            let pg = postgres::PgDriver::connect(opts, pool).await?;
            let through_pooler = Driver::through_pooler(&pg);
            let writes: Arc<dyn Driver> = Arc::new(pg);
            match pipelined {
                // A transaction pooler may hand each pipelined statement to
                // another server connection (and prepared statements with
                // it): reads use the pool there.
                Some(config) if pool.pipeline_connections > 0 && !through_pooler => {
                    let reads = pipeline::Pipeline::new(
                        config,
                        pool.pipeline_connections as usize,
                        pool.statement_timeout,
                        pool.acquire_timeout,
                    );
                    match reads.open().await {
                        Ok(()) => {
                            tracing::info!(
                                connections = pool.pipeline_connections,
                                "reads are pipelined on shared connections"
                            );
                            Arc::new(pipeline::Pipelined::new(writes, reads))
                        }
                        Err(e) => {
                            tracing::warn!(
                                error = %e,
                                "the pipelined read connections could not be opened \
                                 (the pool's could): reads use the pool"
                            );
                            writes
                        }
                    }
                }
                _ => writes,
            }
        }
    };
    Ok(Store::new(driver, limits, streams))
}

/// Counts of a user's tasks (SPEC 5.3).
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Stats {
    pub total: i64,
    pub completed: i64,
    pub pending: i64,
    /// Pending tasks past due.
    pub overdue: i64,
    /// `completed / total`, 0 to 1 (0 without tasks).
    pub completion_rate: f64,
    /// Every priority, with 0 for none.
    #[schema(value_type = BTreeMap<String, i64>)]
    pub by_priority: BTreeMap<&'static str, i64>,
    /// Every category, with 0 for none.
    #[schema(value_type = BTreeMap<String, i64>)]
    pub by_category: BTreeMap<&'static str, i64>,
}

/// One of a user's tags and how many of their tasks carry it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct TagCount {
    /// As first written, on the user's oldest task that carries it.
    #[schema(example = "errand")]
    pub name: String,
    #[schema(example = 3)]
    pub count: i64,
}

/// One entry of the changes feed (SPEC 15): a task's latest state, or
/// its tombstone (`task` is `None`).
#[derive(Debug, Clone)]
pub struct Change {
    pub seq: i64,
    pub id: i64,
    pub task: Option<Task>,
}

/// A page of the changes feed: the entries after the cursor asked for,
/// and the cursor to ask with next.
#[derive(Debug)]
pub struct Feed {
    pub changes: Vec<Change>,
    pub cursor: i64,
    pub has_more: bool,
    /// The user's last change number when the page was read.
    pub last: i64,
}

/// What a cursor of the changes feed comes to.
#[derive(Debug)]
pub enum FeedRead {
    Page(Feed),
    /// Tombstones after it were forgotten (older than the retention), or
    /// it is ahead of the user's sequence (another database's): the
    /// client drops its copy and starts from 0.
    Gone,
}

/// A page of a user's tasks and the total of the filtered list.
#[derive(Debug)]
pub struct Page {
    pub tasks: Vec<Task>,
    pub total: i64,
}

/// The task store every handler uses. Every method that touches a user's
/// rows first waits for one of that user's turns ([`gate`]).
#[derive(Clone)]
pub struct Store {
    driver: Arc<dyn Driver>,
    dialect: Dialect,
    gate: Arc<gate::UserGate>,
    max_tasks: u32,
    /// Tombstones kept per user (`MAX_TOMBSTONES_PER_USER`).
    max_tombstones: u32,
    /// This instance's event streams, told of every change committed here
    /// (and, through `changes::listen`, elsewhere).
    hub: Arc<changes::Hub>,
    /// PostgreSQL: tells the other instances (`NOTIFY`).
    notifier: Option<changes::Notifier>,
    /// [`Driver::changes_at_once`].
    changes_at_once: bool,
}

/// Expired Idempotency-Key records are swept this many at a time.
const SWEEP_BATCH: i64 = 1000;

/// A change of a task whose user has no row (erased since this instance
/// saw them): there is no such task.
fn missing_user_has_no_task(
    changed: Result<Option<TaskRow>, StoreError>,
) -> Result<Option<TaskRow>, StoreError> {
    match changed {
        Err(StoreError::MissingUser) => Ok(None),
        other => other,
    }
}

/// How a change moves its task in the user's counts (`sql::recount`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recount {
    /// It does not (a PATCH of title, description or tags).
    Not,
    Created,
    Deleted,
    /// Only `completed`, to the other value.
    Toggled,
    /// It may: the task as it was is read (and locked) first.
    Read,
}

/// The counts' statements of a change, made from the row it wrote (a
/// delete: the row deleted) and the task as it was.
fn recount(d: Dialect, user: &str, how: Recount) -> AfterRow {
    let user = user.to_owned();
    Box::new(move |before: Option<&TaskRow>, row: &TaskRow| {
        let now = sql::Counted::of(row);
        Ok(match how {
            Recount::Not => Vec::new(),
            Recount::Created => sql::recount(d, &user, None, Some(&now)),
            Recount::Deleted => sql::recount(d, &user, Some(&now), None),
            Recount::Toggled => sql::recount(d, &user, Some(&now.toggled()), Some(&now)),
            Recount::Read => {
                let was = before.map(sql::Counted::of);
                sql::recount(d, &user, was.as_ref(), Some(&now))
            }
        })
    })
}

fn first(rows: Vec<TaskRow>) -> Result<Option<Task>, StoreError> {
    rows.into_iter().next().map(Task::try_from).transpose()
}

impl Store {
    pub fn new(driver: Arc<dyn Driver>, limits: UserLimits, streams: StreamLimits) -> Self {
        let dialect = driver.dialect();
        let notifier = (dialect == Dialect::Postgres).then(|| {
            let driver = Arc::clone(&driver);
            changes::Notifier::start(move |stmt| {
                let driver = Arc::clone(&driver);
                async move { driver.execute(stmt).await }
            })
        });
        Self {
            dialect,
            gate: gate::UserGate::new(limits.concurrency, limits.wait),
            max_tasks: limits.max_tasks,
            max_tombstones: limits.max_tombstones,
            hub: Arc::new(changes::Hub::new(streams.per_user, streams.per_instance)),
            notifier,
            changes_at_once: driver.changes_at_once(),
            driver,
        }
    }

    /// This instance's event streams.
    pub fn hub(&self) -> &Arc<changes::Hub> {
        &self.hub
    }

    /// Run one change of `user`'s data in its transaction (SPEC 15): the
    /// user's next number, `write`, `after_row`, `then`; once committed,
    /// wake this instance's streams of the user and (PostgreSQL) notify the
    /// other instances.
    /// `tasks`: how the change moves the user's task total (+1, -1 or 0).
    async fn change(
        &self,
        user: &str,
        tasks: i64,
        before: Option<Statement>,
        write: Statement,
        after_row: Option<AfterRow>,
        then: Vec<Statement>,
    ) -> Result<Option<TaskRow>, StoreError> {
        let change = ChangeTx {
            next_seq: sql::next_seq(self.dialect, user, tasks),
            before,
            write,
            after_row,
            then,
        };
        Ok(self.driver.change(change).await?.map(|(seq, row)| {
            self.announce(user, seq);
            row
        }))
    }

    /// `user`'s change `seq` committed: wake this instance's streams of the
    /// user and (PostgreSQL) notify the other instances.
    fn announce(&self, user: &str, seq: i64) {
        self.hub.publish(user, seq);
        if let Some(notifier) = &self.notifier {
            notifier.notify(user, seq);
        }
    }

    /// Delete every user's Idempotency-Key records older than their 24 hours,
    /// in batches; how many were deleted.
    pub async fn sweep_expired_keys(&self) -> Result<u64, StoreError> {
        let before = now() - chrono::Duration::from_std(IDEMPOTENCY_TTL).expect("small");
        let mut deleted = 0;
        loop {
            let stmt = sql::sweep_keys(self.dialect, before, SWEEP_BATCH);
            let n = self.driver.execute(stmt).await?;
            deleted += n;
            if n < SWEEP_BATCH as u64 {
                return Ok(deleted);
            }
        }
    }

    pub fn pool_state(&self) -> PoolState {
        self.driver.pool_state()
    }

    /// The database is reached through a transaction pooler.
    pub fn through_pooler(&self) -> bool {
        self.driver.through_pooler()
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        self.driver.ping().await
    }

    pub async fn migrate(&self, cmd: MigrateCommand) -> Result<Vec<MigrationState>, StoreError> {
        self.driver.migrate(cmd).await
    }

    /// Send the notifications still queued, then close the pool.
    pub async fn close(&self) {
        if let Some(notifier) = &self.notifier {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), notifier.flush()).await;
        }
        self.driver.close().await
    }

    /// On a Citus coordinator, each table and whether it is distributed.
    pub async fn distribution(&self) -> Result<Option<Vec<(&'static str, bool)>>, StoreError> {
        self.driver.distribution().await
    }

    /// Record that a user was seen (first and last seen, email and name).
    pub async fn upsert_user(
        &self,
        user: &str,
        email: Option<&str>,
        name: Option<&str>,
    ) -> Result<(), StoreError> {
        let _turn = self.gate.enter(user).await?;
        let stmt = sql::upsert_user(self.dialect, user, email, name, now());
        self.driver.execute(stmt).await.map(drop)
    }

    /// Create a task; [`StoreError::TaskLimit`] when the user has the most
    /// tasks allowed.
    pub async fn create_task(&self, user: &str, input: &TaskInput) -> Result<Task, StoreError> {
        let _turn = self.gate.enter(user).await?;
        if self.changes_at_once {
            return self.create_at_once(user, input).await;
        }
        let stmt = sql::insert_task(self.dialect, user, input, now(), self.max_tasks);
        let counts = recount(self.dialect, user, Recount::Created);
        match self
            .change(user, 1, None, stmt, Some(counts), Vec::new())
            .await?
        {
            Some(row) => Task::try_from(row),
            None => Err(StoreError::TaskLimit),
        }
    }

    /// A create in one statement (`sql::create_task_at_once`); no row is
    /// the task limit, or a missing users row (told apart by reading it).
    async fn create_at_once(&self, user: &str, input: &TaskInput) -> Result<Task, StoreError> {
        let stmt = sql::create_task_at_once(user, input, now(), self.max_tasks);
        match self.driver.fetch_tasks(stmt).await?.into_iter().next() {
            Some(row) => {
                self.announce(user, row.seq);
                Task::try_from(row)
            }
            None => match self
                .driver
                .fetch_count(sql::user_count(self.dialect, user))
                .await?
            {
                0 => Err(StoreError::MissingUser),
                _ => Err(StoreError::TaskLimit),
            },
        }
    }

    /// Claim an Idempotency-Key for a first request, or say what it already
    /// holds. `hash` fingerprints the request body.
    pub async fn claim_key(&self, user: &str, key: &str, hash: &str) -> Result<Claim, StoreError> {
        let _turn = self.gate.enter(user).await?;
        let now = now();
        let expired = now - chrono::Duration::from_std(IDEMPOTENCY_TTL).expect("small");
        let abandoned = now - chrono::Duration::from_std(ABANDONED_AFTER).expect("small");
        let forget = sql::forget_stale_keys(self.dialect, user, key, expired, abandoned);
        self.driver.execute(forget).await?;
        let claim = sql::claim_key(self.dialect, user, key, hash, now);
        if self.driver.execute(claim).await? == 1 {
            return Ok(Claim::Claimed);
        }
        let row = self
            .driver
            .fetch_key(sql::get_key(self.dialect, user, key))
            .await?;
        Ok(match row {
            // Released by a failed first request just now: busy, try again.
            None => Claim::InFlight,
            Some(r) if r.request_hash != hash => Claim::Mismatch,
            Some(KeyRow {
                task_id: Some(task_id),
                task_version: Some(version),
                response_body: Some(body),
                ..
            }) => Claim::Replay {
                task_id,
                version,
                body,
            },
            Some(_) => Claim::InFlight,
        })
    }

    /// Create a task under a claimed Idempotency-Key: the task and the record
    /// of the response commit together, so a crash leaves neither.
    /// `response` renders the body a replay will answer (the web layer's
    /// business: the Store stores it as given).
    pub async fn create_task_keyed(
        &self,
        user: &str,
        key: &str,
        input: &TaskInput,
        response: fn(&Task) -> Result<String, String>,
    ) -> Result<Task, StoreError> {
        let _turn = self.gate.enter(user).await?;
        let insert = sql::insert_task(self.dialect, user, input, now(), self.max_tasks);
        let (dialect, user_, key_) = (self.dialect, user.to_owned(), key.to_owned());
        let counts = recount(self.dialect, user, Recount::Created);
        let record: AfterRow = Box::new(move |before, row: &TaskRow| {
            let mut then = counts(before, row)?;
            let task = Task::try_from(row.clone())?;
            let body = response(&task).map_err(StoreError::Corrupt)?;
            then.push(sql::record_key(
                dialect,
                &user_,
                &key_,
                task.id,
                task.version,
                body,
            ));
            Ok(then)
        });
        match self
            .change(user, 1, None, insert, Some(record), Vec::new())
            .await?
        {
            Some(row) => Task::try_from(row),
            None => Err(StoreError::TaskLimit),
        }
    }

    /// Give up a claim whose request failed, so that a retry runs afresh.
    pub async fn release_key(&self, user: &str, key: &str) -> Result<(), StoreError> {
        let _turn = self.gate.enter(user).await?;
        let stmt = sql::release_key(self.dialect, user, key);
        self.driver.execute(stmt).await.map(drop)
    }

    pub async fn get_task(&self, user: &str, id: i64) -> Result<Option<Task>, StoreError> {
        let _turn = self.gate.enter(user).await?;
        self.read_task(user, id).await
    }

    /// [`get_task`](Self::get_task) within a turn already taken.
    async fn read_task(&self, user: &str, id: i64) -> Result<Option<Task>, StoreError> {
        first(
            self.driver
                .fetch_tasks(sql::get_task(self.dialect, user, id))
                .await?,
        )
    }

    /// PUT. With `versions` (`If-Match`) the task must be at one of them.
    pub async fn replace_task(
        &self,
        user: &str,
        id: i64,
        versions: Option<&[i64]>,
        input: &TaskInput,
    ) -> Result<Write<Task>, StoreError> {
        let _turn = self.gate.enter(user).await?;
        let t = Target { user, id, versions };
        self.write_task(t, Recount::Read, |d| sql::replace_task(d, t, input, now()))
            .await
    }

    /// PATCH; `{}` changes nothing (but `If-Match` is still checked).
    pub async fn patch_task(
        &self,
        user: &str,
        id: i64,
        versions: Option<&[i64]>,
        patch: &TaskPatch,
    ) -> Result<Write<Task>, StoreError> {
        let _turn = self.gate.enter(user).await?;
        let t = Target { user, id, versions };
        if patch.is_empty() {
            return Ok(match self.read_task(user, id).await? {
                None => Write::Missing,
                Some(task) if versions.is_some_and(|v| !v.contains(&task.version)) => Write::Stale,
                Some(task) => Write::Done(task),
            });
        }
        // Only a change of these moves the task in its user's counts.
        let moves = patch.completed.is_some()
            || patch.priority.is_some()
            || patch.category.is_some()
            || patch.due_date.is_some();
        let counts = if moves { Recount::Read } else { Recount::Not };
        self.write_task(t, counts, |d| sql::patch_task(d, t, patch, now()))
            .await
    }

    pub async fn toggle_task(
        &self,
        user: &str,
        id: i64,
        versions: Option<&[i64]>,
    ) -> Result<Write<Task>, StoreError> {
        let _turn = self.gate.enter(user).await?;
        let t = Target { user, id, versions };
        if !self.changes_at_once {
            return self
                .write_task(t, Recount::Toggled, |d| sql::toggle_task(d, t, now()))
                .await;
        }
        // One statement (`sql::toggle_task_at_once`); no row: no such task
        // (or, under `If-Match`, at another version), or no users row.
        let row = if versions.is_some_and(<[i64]>::is_empty) {
            None
        } else {
            let stmt = sql::toggle_task_at_once(t, now());
            let row = self.driver.fetch_tasks(stmt).await?.into_iter().next();
            if let Some(row) = &row {
                self.announce(user, row.seq);
            }
            row.map(Task::try_from).transpose()?
        };
        self.settle(t, row).await
    }

    pub async fn delete_task(
        &self,
        user: &str,
        id: i64,
        versions: Option<&[i64]>,
    ) -> Result<Write<()>, StoreError> {
        let _turn = self.gate.enter(user).await?;
        let t = Target { user, id, versions };
        let deleted = if versions.is_some_and(<[i64]>::is_empty) {
            None
        } else {
            let stmt = sql::delete_task(self.dialect, user, id, versions);
            let d = self.dialect;
            let keep = i64::from(self.max_tombstones.max(1));
            let then = vec![
                sql::insert_tombstone(d, user, id, now()),
                sql::compact_tombstones(d, user, keep),
                sql::purge_compacted(d, user),
            ];
            let counts = recount(d, user, Recount::Deleted);
            let deleted = self.change(user, -1, None, stmt, Some(counts), then).await;
            missing_user_has_no_task(deleted)?
        };
        self.settle(t, deleted.map(drop)).await
    }

    /// Run one `UPDATE … RETURNING` and say what became of it.
    async fn write_task(
        &self,
        t: Target<'_>,
        counts: Recount,
        stmt: impl FnOnce(Dialect) -> Statement,
    ) -> Result<Write<Task>, StoreError> {
        // An `If-Match` naming no version of ours cannot match: skip the write.
        let row = if t.versions.is_some_and(<[i64]>::is_empty) {
            None
        } else {
            let d = self.dialect;
            let write = stmt(d);
            let before = (counts == Recount::Read).then(|| sql::lock_task(d, t.user, t.id));
            let after = (counts != Recount::Not).then(|| recount(d, t.user, counts));
            let changed = self
                .change(t.user, 0, before, write, after, Vec::new())
                .await;
            missing_user_has_no_task(changed)?
                .map(Task::try_from)
                .transpose()?
        };
        self.settle(t, row).await
    }

    /// A write that touched no row: missing (or another user's), or, under
    /// `If-Match`, present at another version. Only that case costs a read.
    async fn settle<T>(&self, t: Target<'_>, row: Option<T>) -> Result<Write<T>, StoreError> {
        Ok(match row {
            Some(done) => Write::Done(done),
            None if t.versions.is_some() && self.read_task(t.user, t.id).await?.is_some() => {
                Write::Stale
            }
            None => Write::Missing,
        })
    }

    /// The user's last change number and the newest forgotten tombstone's
    /// (0 and 0 for a user never seen).
    pub async fn seqs(&self, user: &str) -> Result<(i64, i64), StoreError> {
        let _turn = self.gate.enter(user).await?;
        self.read_seqs(user).await
    }

    async fn read_seqs(&self, user: &str) -> Result<(i64, i64), StoreError> {
        let rows = self
            .driver
            .fetch_ints(sql::user_seqs(self.dialect, user))
            .await?;
        Ok(match rows.first().map(Vec::as_slice) {
            Some([last, purged]) => (*last, *purged),
            _ => (0, 0),
        })
    }

    /// The changes feed (SPEC 15): the user's tasks changed after `since`
    /// (their latest state) and tombstones of those deleted after it, in
    /// order of their last change, at most `limit`; `since` 0: every live
    /// task, no tombstones. [`FeedRead::Gone`] when tombstones after
    /// `since` were forgotten, or `since` is ahead of the user's sequence.
    ///
    /// The user's last number `L` is read first and both reads stop at it:
    /// every change up to `L` had committed then (numbers are taken in
    /// commit order), so the two reads (each with a snapshot of its own)
    /// see all of them, and a change after `L` is left for the next page.
    pub async fn changes(
        &self,
        user: &str,
        since: i64,
        limit: i64,
    ) -> Result<FeedRead, StoreError> {
        let _turn = self.gate.enter(user).await?;
        let (last, purged) = self.read_seqs(user).await?;
        if since > last || (since > 0 && since < purged) {
            return Ok(FeedRead::Gone);
        }
        if since == last {
            // Nothing after the cursor (a stream's periodic read, mostly).
            return Ok(FeedRead::Page(Feed {
                changes: Vec::new(),
                cursor: last,
                has_more: false,
                last,
            }));
        }
        let d = self.dialect;
        let more = limit.saturating_add(1);
        let mut changes: Vec<Change> = self
            .driver
            .fetch_tasks(sql::changed_tasks(d, user, since, last, more))
            .await?
            .into_iter()
            .map(|row| {
                let (seq, id) = (row.seq, row.id);
                Task::try_from(row).map(|t| Change {
                    seq,
                    id,
                    task: Some(t),
                })
            })
            .collect::<Result<_, _>>()?;
        if since > 0 {
            let tombstones = self
                .driver
                .fetch_ints(sql::tombstones(d, user, since, last, more))
                .await?;
            for row in tombstones {
                if let [seq, id] = row[..] {
                    changes.push(Change {
                        seq,
                        id,
                        task: None,
                    });
                }
            }
            changes.sort_by_key(|c| c.seq);
        }
        let has_more = changes.len() as i64 > limit;
        changes.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let cursor = match changes.last() {
            Some(c) if has_more => c.seq,
            _ => last,
        };
        Ok(FeedRead::Page(Feed {
            changes,
            cursor,
            has_more,
            last,
        }))
    }

    /// Store an event ticket's hash for `user`, valid until `expires_at`
    /// (unix seconds); the stream it opens ends at `token_expires_at`.
    /// The user keeps at most `max_live` live tickets: their oldest beyond
    /// that (and their expired ones) go in the same transaction.
    pub async fn create_ticket(
        &self,
        user: &str,
        hash: &str,
        expires_at: i64,
        token_expires_at: i64,
        max_live: i64,
    ) -> Result<(), StoreError> {
        let _turn = self.gate.enter(user).await?;
        let d = self.dialect;
        let trim = sql::trim_tickets(d, user, now().timestamp(), (max_live - 1).max(0));
        let insert = sql::insert_ticket(d, user, hash, expires_at, token_expires_at);
        self.driver.execute_all(vec![trim, insert]).await
    }

    /// Take (use up) a ticket: its token's expiry, or `None` when there is
    /// no such unexpired ticket of `user` (used, expired, never issued).
    pub async fn take_ticket(&self, user: &str, hash: &str) -> Result<Option<i64>, StoreError> {
        let _turn = self.gate.enter(user).await?;
        let stmt = sql::take_ticket(self.dialect, user, hash, now().timestamp());
        // A write that returns a row: run as one.
        let rows = self.driver.fetch_ints(stmt).await?;
        Ok(rows.first().and_then(|r| r.first().copied()))
    }

    /// Forget tombstones older than `retention` (recording, per user, the
    /// newest forgotten in `purged_seq` in the same transaction) and
    /// expired tickets, in batches; how many tombstones went. Each batch
    /// is one user's rows: writers of other users never wait for it.
    pub async fn sweep_changes(&self, retention: std::time::Duration) -> Result<u64, StoreError> {
        let before = now() - chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
        let d = self.dialect;
        let mut purged = 0;
        loop {
            let users = self
                .driver
                .fetch_texts(sql::users_with_old_tombstones(d, before, SWEEP_BATCH))
                .await?;
            for user in &users {
                let _turn = self.gate.enter(user).await?;
                self.driver
                    .execute_all(vec![
                        sql::mark_purged(d, user, before, SWEEP_BATCH),
                        sql::purge_tombstones(d, user, before, SWEEP_BATCH),
                        sql::recount_tombstones(d, user),
                    ])
                    .await?;
                purged += 1;
            }
            if users.is_empty() {
                break;
            }
        }
        loop {
            let stmt = sql::sweep_tickets(d, now().timestamp(), SWEEP_BATCH);
            if self.driver.execute(stmt).await? < SWEEP_BATCH as u64 {
                break;
            }
        }
        Ok(purged)
    }

    pub async fn list_tasks(&self, user: &str, q: &ListQuery) -> Result<Page, StoreError> {
        let _turn = self.gate.enter(user).await?;
        let now = now();
        let limit = q.page_size();
        let stmt = sql::list_tasks(self.dialect, user, &q.filter, limit, q.offset, now);
        let tasks = self
            .driver
            .fetch_tasks(stmt)
            .await?
            .into_iter()
            .map(Task::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        let returned = tasks.len() as i64;
        // A short, non-empty page (or a short first page) already tells the
        // total; only a full or past-the-end page needs the count query.
        let total = if returned < limit && (returned > 0 || q.offset == 0) {
            q.offset.saturating_add(returned)
        } else {
            self.count(user, &q.filter, now).await?
        };
        Ok(Page { tasks, total })
    }

    /// How many tasks a filter matches: from the user's counts when it is
    /// only status, priority and category, else counted.
    async fn count(
        &self,
        user: &str,
        f: &crate::tasks::list::ListFilter,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let stmt = sql::counted_total(self.dialect, user, f)
            .unwrap_or_else(|| sql::count_tasks(self.dialect, user, f, now));
        self.driver.fetch_count(stmt).await
    }

    /// How many tasks of the filtered list are completed (an envelope shows
    /// it beside the total).
    pub async fn count_completed(&self, user: &str, q: &ListQuery) -> Result<i64, StoreError> {
        let _turn = self.gate.enter(user).await?;
        let mut filter = q.filter.clone();
        filter.status = match filter.status {
            crate::tasks::list::StatusFilter::Pending => return Ok(0),
            _ => crate::tasks::list::StatusFilter::Completed,
        };
        self.count(user, &filter, now()).await
    }

    /// The user's tags with the number of tasks carrying each, by name
    /// (compared case-insensitively).
    /// The user's tags with their counts, by name, at most
    /// [`sql::TAGS_LISTED`]: counted by the database, so the server holds
    /// the answer only, whatever the number of tagged tasks.
    pub async fn tags(&self, user: &str) -> Result<Vec<TagCount>, StoreError> {
        let _turn = self.gate.enter(user).await?;
        self.driver
            .fetch_tag_counts(sql::tag_counts(self.dialect, user, sql::TAGS_LISTED))
            .await
    }

    pub async fn stats(&self, user: &str) -> Result<Stats, StoreError> {
        let _turn = self.gate.enter(user).await?;
        let d = self.dialect;
        let rows = self
            .driver
            .fetch_stats(sql::counted_groups(d, user))
            .await?;
        let overdue = self
            .driver
            .fetch_count(sql::overdue(d, user, now()))
            .await?;
        let mut s = Stats {
            total: 0,
            completed: 0,
            pending: 0,
            overdue: 0,
            completion_rate: 0.0,
            by_priority: Priority::ALL.iter().map(|p| (p.as_str(), 0)).collect(),
            by_category: Category::ALL.iter().map(|c| (c.as_str(), 0)).collect(),
        };
        s.overdue = overdue;
        for r in rows {
            s.total += r.n;
            if r.completed {
                s.completed += r.n;
            } else {
                s.pending += r.n;
            }
            if let Some(p) = Priority::from_rank(r.priority) {
                *s.by_priority.entry(p.as_str()).or_default() += r.n;
            }
            if let Some(c) = Category::parse(&r.category) {
                *s.by_category.entry(c.as_str()).or_default() += r.n;
            }
        }
        if s.total > 0 {
            s.completion_rate = s.completed as f64 / s.total as f64;
        }
        Ok(s)
    }
}
