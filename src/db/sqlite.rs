//! The SQLite driver: WAL, foreign keys and a busy timeout, so concurrent
//! writers wait instead of failing with "database is locked".

use sqlx::sqlite::SqliteConnection;
use sqlx::sqlite::{SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Arguments, Connection, Sqlite};

use super::pool::Pool;
use super::sql::{Arg, Dialect, Statement};
use super::{
    AfterInsert, Driver, KeyRow, MigrateCommand, MigrationState, PoolOptions, PoolState, StatsRow,
    StoreError, TaskRow,
};

pub struct SqliteDriver {
    pool: Pool<SqliteConnection>,
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
        if in_memory {
            // Every connection to `:memory:` is its own database: keep one,
            // for good (the pool drops only broken or idle connections).
            let only = PoolOptions {
                max_connections: 1,
                ..pool.clone()
            };
            let pool = Pool::unreaped(opts, &only);
            drop(pool.get().await?);
            return Ok(Self { pool });
        }
        // As for PostgreSQL: fail fast on a path that cannot be opened.
        SqliteConnection::connect_with(&opts).await?.close().await?;
        Ok(Self {
            pool: Pool::new(opts, pool),
        })
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
