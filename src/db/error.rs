//! The one error of the storage layer: what a caller needs to know of a
//! database failure (whether to retry, whether the user's row is missing).

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
    /// A row with the same key exists (a unique or primary key violation).
    pub fn is_duplicate(&self) -> bool {
        match self {
            StoreError::Sqlx(e) => e
                .as_database_error()
                .is_some_and(|d| d.is_unique_violation()),
            StoreError::Postgres(e) => {
                e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
            }
            _ => false,
        }
    }

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
