//! Embedded, reversible migrations.
//!
//! Every change runs in one transaction that first takes a lock, so
//! instances starting together queue up and find the work done: on
//! PostgreSQL a transaction-scoped advisory lock, on SQLite the write lock
//! (`BEGIN IMMEDIATE`). sqlx's own PostgreSQL lock is session-scoped: through
//! a transaction-pooling proxy (PgBouncer, Neon's pooled endpoint) its lock
//! and unlock land on different server connections and the lock leaks,
//! hanging every later start.

use sqlx::migrate::{Migrate, Migrator};
use sqlx::postgres::PgConnection;
use sqlx::sqlite::SqliteConnection;

use super::{MigrateCommand, MigrationState, StoreError};

static SQLITE: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("./migrations/postgres");

/// The advisory lock key for migrations (any constant shared by instances).
const PG_MIGRATION_LOCK: i64 = 0x746f_646f_6170_6931;

pub(super) async fn sqlite(
    conn: &mut SqliteConnection,
    cmd: MigrateCommand,
) -> Result<Vec<MigrationState>, StoreError> {
    if cmd != MigrateCommand::Status {
        // The write lock for the whole run: a second instance waits for it
        // (busy timeout), then finds the work done.
        let mut tx = sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE").await?;
        change(&SQLITE, &mut tx, cmd).await?;
        tx.commit().await?;
    }
    states(&SQLITE, conn).await
}

pub(super) async fn postgres(
    conn: &mut PgConnection,
    cmd: MigrateCommand,
) -> Result<Vec<MigrationState>, StoreError> {
    if cmd != MigrateCommand::Status {
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        // A migration may take longer than a request's statement may.
        sqlx::query("SET LOCAL statement_timeout = 0")
            .execute(&mut *tx)
            .await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(PG_MIGRATION_LOCK)
            .execute(&mut *tx)
            .await?;
        if cmd == MigrateCommand::Down {
            refuse_down_when_distributed(&mut tx).await?;
        }
        change(&POSTGRES, &mut tx, cmd).await?;
        if cmd == MigrateCommand::Up {
            distribute(&mut tx).await?;
        }
        tx.commit().await?;
    }
    states(&POSTGRES, conn).await
}

/// The tables Citus shards, each by its user column, all co-located with
/// `users` (so a user's rows, and every statement about them, are on one
/// worker). `users` first: the others' foreign keys point at it.
pub const DISTRIBUTED: [(&str, &str); 10] = [
    ("users", "id"),
    ("tasks", "user_id"),
    ("idempotency_keys", "user_id"),
    ("task_tombstones", "user_id"),
    ("event_tickets", "user_id"),
    ("task_counts", "user_id"),
    ("task_due_days", "user_id"),
    ("conversations", "user_id"),
    ("chat_messages", "user_id"),
    ("chat_usage", "user_id"),
];

pub(super) async fn citus_installed(conn: &mut PgConnection) -> Result<bool, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')")
            .fetch_one(conn)
            .await?,
    )
}

/// On a Citus coordinator (the extension installed in the database),
/// distribute the tables not yet distributed; on plain PostgreSQL nothing.
/// Runs in the migration's transaction, under its advisory lock: one
/// instance does it, the others wait and find it done.
async fn distribute(conn: &mut PgConnection) -> Result<(), StoreError> {
    if !citus_installed(&mut *conn).await? {
        return Ok(());
    }
    for (table, column) in DISTRIBUTED {
        if is_distributed(&mut *conn, table).await? {
            continue;
        }
        tracing::info!(table, column, "distributing the table on Citus");
        let colocate = if table == "users" { "default" } else { "users" };
        sqlx::query("SELECT create_distributed_table($1::regclass, $2, colocate_with => $3)")
            .bind(table)
            .bind(column)
            .bind(colocate)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Before a migration is undone on Citus: refuse once the tables are
/// distributed. An older schema may not be distributable (the task's
/// primary key without `user_id`), and Citus cannot make the tables local
/// again (`undistribute_table` refuses tables with an identity column).
async fn refuse_down_when_distributed(conn: &mut PgConnection) -> Result<(), StoreError> {
    if citus_installed(&mut *conn).await? && is_distributed(&mut *conn, "users").await? {
        return Err(StoreError::Refused(
            "migrate down is not supported once the tables are distributed on Citus \
             (they cannot be made local again); restore a backup instead",
        ));
    }
    Ok(())
}

/// Each table of [`DISTRIBUTED`] and whether Citus distributes it; `None`
/// on plain PostgreSQL.
pub(super) async fn distribution(
    conn: &mut PgConnection,
) -> Result<Option<Vec<(&'static str, bool)>>, StoreError> {
    if !citus_installed(&mut *conn).await? {
        return Ok(None);
    }
    let mut out = Vec::new();
    for (table, _) in DISTRIBUTED {
        out.push((table, is_distributed(&mut *conn, table).await?));
    }
    Ok(Some(out))
}

/// SQLite: never distributed.
pub(super) async fn no_distribution(
    _conn: &mut SqliteConnection,
) -> Result<Option<Vec<(&'static str, bool)>>, StoreError> {
    Ok(None)
}

async fn is_distributed(conn: &mut PgConnection, table: &str) -> Result<bool, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = $1::regclass)",
    )
    .bind(table)
    .fetch_one(conn)
    .await?)
}

/// Apply every pending migration, or undo the latest, on a connection that
/// is inside the caller's transaction (each migration runs in a savepoint).
async fn change<C>(migrator: &Migrator, conn: &mut C, cmd: MigrateCommand) -> Result<(), StoreError>
where
    C: std::ops::DerefMut,
    C::Target: Migrate + Sized,
{
    match cmd {
        // `run_direct` skips sqlx's own lock when `locking` is off; the
        // caller's transaction is the lock. SQLite's lock is a no-op anyway.
        MigrateCommand::Up => {
            let mut unlocked = Migrator {
                migrations: migrator.migrations.clone(),
                ..Migrator::DEFAULT
            };
            unlocked.set_locking(false);
            unlocked.run_direct(&mut **conn).await?;
        }
        MigrateCommand::Down => {
            let applied = applied_in(conn).await?;
            if let Some(&latest) = applied.last() {
                tracing::info!(version = latest, "reverting migration");
                let down = migrator
                    .iter()
                    .find(|m| m.version == latest && m.migration_type.is_down_migration())
                    .ok_or(sqlx::migrate::MigrateError::VersionMissing(latest))?;
                conn.revert(down).await?;
            }
        }
        MigrateCommand::Status => {}
    }
    Ok(())
}

/// Every migration and whether it is applied.
async fn states<C: Migrate>(
    migrator: &Migrator,
    conn: &mut C,
) -> Result<Vec<MigrationState>, StoreError> {
    let mut conn = conn;
    let applied = applied_in(&mut conn).await?;
    Ok(migrator
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .map(|m| MigrationState {
            version: m.version,
            description: m.description.to_string(),
            applied: applied.contains(&m.version),
        })
        .collect())
}

/// Applied versions, ascending, as seen by `conn`.
async fn applied_in<C>(conn: &mut C) -> Result<Vec<i64>, StoreError>
where
    C: std::ops::DerefMut,
    C::Target: Migrate,
{
    conn.ensure_migrations_table().await?;
    let mut versions: Vec<i64> = conn
        .list_applied_migrations()
        .await?
        .into_iter()
        .map(|m| m.version)
        .collect();
    versions.sort_unstable();
    Ok(versions)
}
