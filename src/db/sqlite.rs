//! The SQLite driver: WAL, foreign keys and a busy timeout, so concurrent
//! writers wait instead of failing with "database is locked".

use sqlx::sqlite::SqliteConnection;
use sqlx::sqlite::{SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Arguments, Connection, Sqlite};

use super::pool::{Pool, WriterLane, WriterTurn};
use super::sql::{Arg, Dialect, Statement};
use super::{
    AfterInsert, Driver, KeyRow, MigrateCommand, MigrationState, PoolOptions, PoolState, StatsRow,
    StoreError, TaskRow,
};

pub struct SqliteDriver {
    pool: Pool<SqliteConnection>,
    writers: WriterLane,
}

/// More connections do not make SQLite faster (one writer at a time; reads
/// are CPU-bound on this process's cores), and each holds its own page
/// cache (2 MB) and statement cache: 8 at most, whatever `DB_POOL_SIZE` and
/// `DB_MAX_OVERFLOW` allow. Measured: list and get 15-20% faster and peak
/// RSS 47 MB instead of 100 MB with 8 rather than 30 (docs/benchmarks.md).
const MAX_CONNECTIONS: u32 = 8;

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
        if in_memory {
            // Every connection to `:memory:` is its own database: keep one,
            // for good (the pool drops only broken or idle connections).
            let only = PoolOptions {
                max_connections: 1,
                ..pool.clone()
            };
            let pool = Pool::unreaped(opts, &only);
            drop(pool.get().await?);
            return Ok(Self {
                pool,
                writers: WriterLane::new(only.acquire_timeout),
            });
        }
        // As for PostgreSQL: fail fast on a path that cannot be opened.
        SqliteConnection::connect_with(&opts).await?.close().await?;
        let capped = PoolOptions {
            max_connections: pool.max_connections.min(MAX_CONNECTIONS),
            ..pool.clone()
        };
        Ok(Self {
            pool: Pool::new(opts, &capped),
            writers: WriterLane::new(pool.acquire_timeout),
        })
    }

    /// Writers take turns in arrival order before they take a connection.
    /// SQLite lets one write at a time; without the lane, writers poll its
    /// busy handler (sleeping up to 100 ms between tries) and the unlucky
    /// ones wait seconds. Other processes on the same file still meet the
    /// busy timeout.
    async fn lane(&self, sql: &str) -> Result<Option<WriterTurn<'_>>, StoreError> {
        if sql.trim_start().starts_with("SELECT") {
            return Ok(None);
        }
        self.writers.turn().await.map(Some)
    }
}

super::sqlx_driver::sqlx_driver!(
    SqliteDriver,
    Sqlite,
    SqliteConnection,
    SqliteArguments<'static>,
    Dialect::Sqlite,
    super::migrate::sqlite
);
