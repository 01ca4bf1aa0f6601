//! Storage: the [`Driver`] seam with a SQLite and a PostgreSQL implementation,
//! and the [`Store`] every handler talks to.
//!
//! Every `Store` method takes the user id first and filters by it; another
//! user's task and a missing task are the same `None`, so isolation is a
//! property of these signatures rather than of each handler's care.

pub mod changes;
mod driver;
mod error;
mod gate;
mod migrate;
mod pipeline;
mod pool;
mod postgres;
pub mod sql;
mod sqlite;
mod sqlx_driver;
mod store_chat;
mod store_feed;
mod store_keys;
mod store_reads;
mod store_tasks;
pub mod url;
mod users;

pub use driver::{
    AfterRow, ChangeTx, ConversationRow, Driver, KeyRow, MessageRow, MigrateCommand,
    MigrationState, PoolState, StatsRow, TagRow, TaskRow,
};
pub use error::StoreError;
pub use store_chat::{Turn, TurnTarget};
pub use users::SeenUsers;

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::tasks::list::ListQuery;
use crate::tasks::model::{Category, Priority, Task, TaskInput, TaskPatch, now};
use sql::{Dialect, Statement, Target};
use url::DatabaseUrl;

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

/// Event streams (docs/live-updates.md) an instance holds open.
#[derive(Debug, Clone, Copy)]
pub struct StreamLimits {
    /// `EVENTS_MAX_PER_USER`.
    pub per_user: usize,
    /// `EVENTS_MAX_STREAMS`.
    pub per_instance: usize,
}

/// How long an Idempotency-Key holds its first response (docs/api.md#safe-concurrent-edits-etag-if-match-if-none-match).
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

/// One entry of the changes feed (docs/live-updates.md): a task's latest state, or
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

    /// Run one change of `user`'s data in its transaction (docs/live-updates.md): the
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
}
