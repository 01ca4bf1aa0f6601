//! Embedded, reversible migrations.
//!
//! PostgreSQL: every change runs in one transaction that first takes a
//! transaction-scoped advisory lock, so instances starting together queue up
//! and each migration is all or nothing. sqlx's own lock is session-scoped:
//! through a transaction-pooling proxy (PgBouncer, Neon's pooled endpoint)
//! its lock and unlock land on different server connections and the lock
//! leaks, hanging every later start. SQLite: a loser of a race finds the work
//! done when it retries once.

use sqlx::migrate::{Migrate, Migrator};
use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;
use sqlx::{Database, Pool};

use super::{MigrateCommand, MigrationState, StoreError};

static SQLITE: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("./migrations/postgres");

/// The advisory lock key for migrations (any constant shared by instances).
const PG_MIGRATION_LOCK: i64 = 0x746f_646f_6170_6931;

pub(super) async fn sqlite(
    pool: &SqlitePool,
    cmd: MigrateCommand,
) -> Result<Vec<MigrationState>, StoreError> {
    run(&SQLITE, pool, cmd).await
}

pub(super) async fn postgres(
    pool: &PgPool,
    cmd: MigrateCommand,
) -> Result<Vec<MigrationState>, StoreError> {
    if cmd != MigrateCommand::Status {
        let mut migrator = Migrator {
            migrations: POSTGRES.migrations.clone(),
            ..Migrator::DEFAULT
        };
        // Our transaction-scoped lock below replaces sqlx's session lock.
        migrator.set_locking(false);
        let mut tx = pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(PG_MIGRATION_LOCK)
            .execute(&mut *tx)
            .await?;
        // Each migration runs in a savepoint of this transaction.
        match cmd {
            MigrateCommand::Up => migrator.run_direct(&mut *tx).await?,
            MigrateCommand::Down => {
                let applied = applied_in(&mut tx).await?;
                if let Some(&latest) = applied.last() {
                    tracing::info!(version = latest, "reverting migration");
                    let down = migrator
                        .iter()
                        .find(|m| m.version == latest && m.migration_type.is_down_migration());
                    match down {
                        Some(m) => tx.revert(m).await?,
                        None => {
                            return Err(sqlx::migrate::MigrateError::VersionMissing(latest).into());
                        }
                    };
                }
            }
            MigrateCommand::Status => {}
        }
        tx.commit().await?;
    }
    states(&POSTGRES, pool).await
}

/// Apply, undo one, or report.
async fn run<DB>(
    migrator: &Migrator,
    pool: &Pool<DB>,
    cmd: MigrateCommand,
) -> Result<Vec<MigrationState>, StoreError>
where
    DB: Database,
    DB::Connection: Migrate,
{
    match cmd {
        MigrateCommand::Up => {
            if let Err(first) = migrator.run(pool).await {
                tracing::warn!(error = %first, "migration failed; retrying once");
                migrator.run(pool).await?;
            }
        }
        MigrateCommand::Down => {
            let applied = applied_versions(pool).await?;
            if let Some(&latest) = applied.last() {
                let target = applied.iter().rev().nth(1).copied().unwrap_or(0);
                tracing::info!(version = latest, "reverting migration");
                migrator.undo(pool, target).await?;
            }
        }
        MigrateCommand::Status => {}
    }
    states(migrator, pool).await
}

/// Every migration and whether it is applied.
async fn states<DB>(migrator: &Migrator, pool: &Pool<DB>) -> Result<Vec<MigrationState>, StoreError>
where
    DB: Database,
    DB::Connection: Migrate,
{
    let applied = applied_versions(pool).await?;
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

async fn applied_versions<DB>(pool: &Pool<DB>) -> Result<Vec<i64>, StoreError>
where
    DB: Database,
    DB::Connection: Migrate,
{
    let mut conn = pool.acquire().await?;
    applied_in(&mut conn).await
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
