//! The SQLite driver: WAL, foreign keys and a busy timeout, so concurrent
//! writers wait instead of failing with "database is locked".

use sqlx::sqlite::SqliteConnection;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Arguments, Connection, Sqlite};

use super::sql::{Arg, Dialect, Statement};
use super::{
    AfterInsert, Driver, KeyRow, MigrateCommand, MigrationState, PoolOptions, PoolState, StatsRow,
    StoreError, TaskRow,
};

pub struct SqliteDriver {
    pool: SqlitePool,
}

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
        let mut options = SqlitePoolOptions::new()
            .max_connections(pool.max_connections)
            .min_connections(pool.min_connections)
            .acquire_timeout(pool.acquire_timeout)
            // A SQLite connection cannot go stale; the default ping before
            // every use is a wasted round trip to its worker thread.
            .test_before_acquire(false);
        if in_memory {
            // Every connection to `:memory:` would otherwise be its own database.
            options = options
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
        }
        // As for PostgreSQL: fail fast on a path that cannot be opened.
        SqliteConnection::connect_with(&opts).await?.close().await?;
        let pool = options.connect_lazy_with(opts);
        Ok(Self { pool })
    }
}

super::sqlx_driver::sqlx_driver!(
    SqliteDriver,
    Sqlite,
    SqliteArguments<'static>,
    Dialect::Sqlite,
    super::migrate::sqlite
);
