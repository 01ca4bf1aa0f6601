//! The SQLite driver: WAL, foreign keys and a busy timeout, so concurrent
//! writers wait instead of failing with "database is locked".

use sqlx::sqlite::SqliteConnection;
use sqlx::sqlite::{SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Arguments, Connection, Sqlite};

use super::pool::{Conn, Deadline, Pool, Setup};
use super::sql::{Arg, Dialect, Statement};
use super::{
    ChangeTx, Driver, KeyRow, MigrateCommand, MigrationState, PoolOptions, PoolState, StatsRow,
    StoreError, TaskRow,
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
    writer: Option<Pool<SqliteConnection>>,
}

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
            });
        }
        // As for PostgreSQL: fail fast on a path that cannot be opened.
        SqliteConnection::connect_with(&opts).await?.close().await?;
        let readers = PoolOptions {
            max_connections: pool.max_connections.clamp(1, MAX_READERS),
            ..pool.clone()
        };
        Ok(Self {
            readers: Pool::new(opts.clone(), &readers),
            writer: Some(Pool::new(opts, &one)),
        })
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

    fn close_all(&self) {
        self.readers.close();
        if let Some(writer) = &self.writer {
            writer.close();
        }
    }
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
