//! The SQLite driver: WAL, foreign keys and a busy timeout, so concurrent
//! writers wait instead of failing with "database is locked"; changes
//! committed in batches (group commit), one WAL sync for many.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sqlx::sqlite::SqliteConnection;
use sqlx::sqlite::{SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Arguments, Connection, Sqlite};
use tokio::sync::{mpsc, oneshot};

use super::pool::{Conn, Deadline, Pool, Setup, Transacting};
use super::sql::{Arg, Dialect, Statement};
use super::{
    ChangeTx, ConversationRow, Driver, KeyRow, MessageRow, MigrateCommand, MigrationState,
    PoolOptions, PoolState, StatsRow, StoreError, TagRow, TaskRow,
};

pub struct SqliteDriver {
    /// Statements that only read.
    readers: Pool<SqliteConnection>,
    /// Everything else, on one connection: writers queue for it in arrival
    /// order (at most the acquire timeout). SQLite writes one at a time
    /// anyway; without the queue, concurrent writers poll its busy handler
    /// (sleeping up to 100 ms between tries) and the unlucky ones wait
    /// seconds. Other processes on the same file still meet the busy
    /// timeout. `None` for an in-memory database, whose one connection
    /// does everything.
    writer: Option<Arc<Pool<SqliteConnection>>>,
    /// Where changes queue for the writer's next batch ([`write_batches`]);
    /// `None` with `writer`.
    batches: Option<mpsc::Sender<Queued>>,
}

/// What a change came to.
type Outcome = Result<Option<(i64, TaskRow)>, StoreError>;

/// A change waiting for the writer's next batch.
struct Queued {
    change: ChangeTx,
    since: Instant,
    reply: oneshot::Sender<Outcome>,
}

/// Most changes committed in one transaction. A change waits for the batch
/// before it and for its own: at 0.3–0.7 ms a change under load here
/// (docs/benchmarks.md), 64 take 20–45 ms, one WAL sync for all.
const MAX_BATCH: usize = 64;

/// More reading connections do not make SQLite faster (reads are CPU-bound
/// on this process's cores), and each holds its own page cache (2 MB) and
/// statement cache: 8 at most, whatever `DB_POOL_SIZE` and
/// `DB_MAX_OVERFLOW` allow. Measured: list and get 15-20% faster and peak
/// RSS 47 MB instead of 100 MB with 8 rather than 30 (docs/benchmarks.md).
const MAX_READERS: u32 = 8;

impl SqliteDriver {
    pub async fn connect(
        opts: &SqliteConnectOptions,
        pool: &PoolOptions,
    ) -> Result<Self, StoreError> {
        let opts = opts
            .clone()
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            // FULL: an acknowledged write survives a power cut, not just a crash.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(std::time::Duration::from_secs(5));
        // sqlx names `sqlite::memory:` databases `file:sqlx-in-memory-N`.
        let in_memory = opts
            .get_filename()
            .to_string_lossy()
            .starts_with("file:sqlx-in-memory");
        let one = PoolOptions {
            max_connections: 1,
            ..pool.clone()
        };
        if in_memory {
            // Every connection to `:memory:` is its own database: keep one,
            // for good (the pool drops only broken or idle connections).
            let readers = Pool::unreaped(opts, &one);
            drop(readers.get().await?);
            return Ok(Self {
                readers,
                writer: None,
                batches: None,
            });
        }
        // As for PostgreSQL: fail fast on a path that cannot be opened.
        SqliteConnection::connect_with(&opts).await?.close().await?;
        let readers = PoolOptions {
            max_connections: pool.max_connections.clamp(1, MAX_READERS),
            ..pool.clone()
        };
        let writer = Arc::new(Pool::new(opts.clone(), &one));
        // 16 batches' worth; when it is full a request waits for a place
        // (until its deadline), and one that waited in it longer than a
        // request may wait for a connection is answered 503 unrun.
        let (batches, queue) = mpsc::channel(MAX_BATCH * 16);
        tokio::spawn(write_batches(
            Arc::clone(&writer),
            queue,
            pool.acquire_timeout,
        ));
        Ok(Self {
            readers: Pool::new(opts, &readers),
            writer: Some(writer),
            batches: Some(batches),
        })
    }

    /// A change joins the writer's next batch (an in-memory database runs
    /// it alone). Its request gone before the batch starts, it is not run.
    async fn run_change(&self, change: ChangeTx) -> Outcome {
        let Some(batches) = &self.batches else {
            return change_alone(&self.readers, &change).await;
        };
        let (reply, answer) = oneshot::channel();
        let queued = Queued {
            change,
            since: Instant::now(),
            reply,
        };
        // The writer's task ends only with the driver.
        batches
            .send(queued)
            .await
            .map_err(|_| StoreError::PoolTimedOut)?;
        answer.await.unwrap_or(Err(StoreError::PoolTimedOut))
    }

    fn pool_for(&self, read_only: bool) -> &Pool<SqliteConnection> {
        match &self.writer {
            Some(writer) if !read_only => writer,
            _ => &self.readers,
        }
    }

    fn pool_state_all(&self) -> PoolState {
        let mut state = self.readers.state();
        if let Some(writer) = &self.writer {
            let w = writer.state();
            state.open += w.open;
            state.idle += w.idle;
        }
        state
    }

    fn through_pooler(&self) -> bool {
        false
    }

    /// No: SQLite has no `INSERT` in a `WITH`, and its writer commits
    /// changes in batches anyway.
    fn changes_at_once(&self) -> bool {
        false
    }

    fn close_all(&self) {
        self.readers.close();
        if let Some(writer) = &self.writer {
            writer.close();
        }
    }
}

/// The writer's loop: take what has queued (at most [`MAX_BATCH`]), commit
/// it together, answer each change, again. While one batch runs the next
/// gathers, so a lone change waits for nothing and a busy writer syncs the
/// WAL once for many changes. Each change runs in a savepoint of its own:
/// one that writes nothing, or fails, is rolled back alone. If the batch as
/// a whole fails (a statement that ends the transaction, the statement
/// timeout, a commit SQLite refuses), nothing of it was written: the change
/// that failed is answered with its error, the others run again, each on
/// its own. A commit that does not answer is not retried (it may be done).
async fn write_batches(
    pool: Arc<Pool<SqliteConnection>>,
    mut queue: mpsc::Receiver<Queued>,
    max_wait: Duration,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let mut ready = Vec::with_capacity(batch.len());
        for queued in batch.drain(..) {
            if queued.reply.is_closed() {
                continue;
            }
            if queued.since.elapsed() > max_wait {
                // As a writer waiting for the connection that long would.
                let _ = queued.reply.send(Err(StoreError::PoolTimedOut));
                continue;
            }
            ready.push(queued);
        }
        if ready.is_empty() {
            continue;
        }
        // A task of its own, so that a panic fails one batch (its requests
        // are answered 503) rather than every write after it.
        let pool = Arc::clone(&pool);
        let ran = tokio::spawn(async move {
            if ready.len() == 1 {
                let queued = ready.pop().expect("one");
                let outcome = change_alone(&pool, &queued.change).await;
                if outcome.is_ok() {
                    crate::telemetry::write_batch(1, "committed");
                }
                let _ = queued.reply.send(outcome);
            } else {
                run_batch(&pool, ready).await;
            }
        });
        if let Err(e) = ran.await {
            tracing::error!(error = %e, "a batch of changes failed");
        }
    }
}

/// Commit `batch` in one transaction and answer each of its changes.
async fn run_batch(pool: &Pool<SqliteConnection>, batch: Vec<Queued>) {
    match commit_together(pool, &batch).await {
        Ok(outcomes) => {
            crate::telemetry::write_batch(batch.len(), "committed");
            for (queued, outcome) in batch.into_iter().zip(outcomes) {
                let _ = queued.reply.send(outcome);
            }
        }
        // SQLite refused the commit: nothing was written. Anything else
        // (the statement timeout, a crashed connection) may have come after
        // the commit was done: the changes are not run again (that could
        // write them twice) but answered 503, as a lone change would be.
        Err((COMMITTING, error)) if !refused(&error) => {
            tracing::warn!(
                changes = batch.len(),
                error = %error,
                "a batch's commit did not answer; its changes are answered 503"
            );
            crate::telemetry::write_batch(batch.len(), "unanswered");
            for queued in batch {
                let _ = queued.reply.send(Err(StoreError::StatementTimedOut));
            }
        }
        Err((failing, error)) => {
            tracing::debug!(
                changes = batch.len(),
                error = %error,
                "a batch of changes was rolled back; they run alone"
            );
            crate::telemetry::write_batch(batch.len(), "rolled_back");
            let mut error = Some(error);
            for (i, queued) in batch.into_iter().enumerate() {
                let outcome = match error.take_if(|_| i == failing) {
                    Some(e) => Err(e),
                    None if queued.reply.is_closed() => continue,
                    None => change_alone(pool, &queued.change).await,
                };
                let _ = queued.reply.send(outcome);
            }
        }
    }
}

/// The database answered, refusing (so a commit it refused did not happen).
fn refused(e: &StoreError) -> bool {
    matches!(e, StoreError::Sqlx(sqlx::Error::Database(_)))
}

/// Where [`commit_together`] failed: in its `COMMIT`.
const COMMITTING: usize = usize::MAX;

/// Run `batch` in one transaction, each change in a savepoint, and commit:
/// each change's outcome; or, not committed, which change failed it (the
/// batch's length: none of them; [`COMMITTING`]: the commit) and how.
async fn commit_together(
    pool: &Pool<SqliteConnection>,
    batch: &[Queued],
) -> Result<Vec<Outcome>, (usize, StoreError)> {
    let none = batch.len();
    // The change running: to blame it when the statement timeout abandons
    // the batch.
    let at = AtomicUsize::new(none);
    let mut held = Transacting::new(pool.get().await.map_err(|e| (none, e))?);
    let Conn { inner, deadline } = held.conn();
    let work = async {
        let mut tx = inner.begin().await?;
        let done = async {
            let mut outcomes = Vec::with_capacity(batch.len());
            for (i, queued) in batch.iter().enumerate() {
                if queued.reply.is_closed() {
                    // Its request is gone (a deadline, a client that hung
                    // up): not run, as it would not have been alone.
                    outcomes.push(Err(StoreError::PoolTimedOut));
                    continue;
                }
                at.store(i, Ordering::Relaxed);
                let mut savepoint = Connection::begin(&mut *tx).await?;
                let outcome = apply_change(&mut savepoint, &queued.change).await;
                match outcome {
                    Ok(Some(_)) => savepoint.commit().await?,
                    // Busy, interrupted, I/O: SQLite may have ended the
                    // whole transaction.
                    Err(e) if e.is_unavailable() => return Err(e),
                    // Nothing written, or a statement failed: undone alone
                    // (unless the failure ended the transaction after all).
                    Ok(None) | Err(_) => {
                        if let Err(e) = savepoint.rollback().await {
                            return Err(outcome.err().unwrap_or(e.into()));
                        }
                    }
                }
                outcomes.push(outcome);
            }
            at.store(none, Ordering::Relaxed);
            Ok::<_, StoreError>(outcomes)
        }
        .await;
        match done {
            Ok(outcomes) => {
                at.store(COMMITTING, Ordering::Relaxed);
                tx.commit().await?;
                Ok(outcomes)
            }
            Err(e) => {
                let _ = tx.rollback().await;
                Err(e)
            }
        }
    };
    let result = pool.bounded(deadline, work).await;
    Pool::<SqliteConnection>::checked(held.finish(), result)
        .map_err(|e| (at.load(Ordering::Relaxed), e))
}

/// SQLite calls this back every this many virtual-machine steps of a
/// statement, to check the statement's clock. A step can be long (one LIKE
/// over a task's text is one step), so the check is frequent: reading the
/// clock costs tens of nanoseconds, a thousand steps at least microseconds.
const PROGRESS_STEPS: i32 = 1_000;

/// SQLite has no statement timeout: a progress handler interrupts a
/// statement past its connection's deadline (`SQLITE_INTERRUPT`), so a
/// search over a huge user cannot hold a connection (and a core) for long.
impl Setup for SqliteConnection {
    async fn setup(
        &mut self,
        deadline: &Deadline,
        _statement_timeout: std::time::Duration,
    ) -> Result<(), sqlx::Error> {
        let deadline = deadline.clone();
        let mut handle = self.lock_handle().await?;
        handle.set_progress_handler(PROGRESS_STEPS, move || !deadline.passed());
        Ok(())
    }
}

super::sqlx_driver::sqlx_driver!(
    SqliteDriver,
    Sqlite,
    SqliteConnection,
    SqliteArguments<'static>,
    Dialect::Sqlite,
    super::migrate::sqlite,
    super::migrate::no_distribution
);

#[cfg(test)]
mod tests {
    use sqlx::Connection;

    /// `.cargo/config.toml` compiles SQLite without memory statistics (its
    /// global allocation mutex); a build that lost the flag fails here.
    #[tokio::test]
    async fn sqlite_is_built_without_memory_statistics() {
        let mut conn = sqlx::SqliteConnection::connect("sqlite::memory:")
            .await
            .unwrap();
        let options: Vec<String> = sqlx::query_scalar("PRAGMA compile_options")
            .fetch_all(&mut conn)
            .await
            .unwrap();
        assert!(
            options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"),
            "compiled with {options:?}"
        );
    }
}
