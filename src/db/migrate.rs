//! Embedded, reversible migrations, run the same way on both databases.

use sqlx::migrate::{Migrate, Migrator};
use sqlx::{Database, Pool};

use super::{MigrateCommand, MigrationState, StoreError};

pub(super) static SQLITE: Migrator = sqlx::migrate!("./migrations/sqlite");
pub(super) static POSTGRES: Migrator = sqlx::migrate!("./migrations/postgres");

/// Apply, undo one, or report. On PostgreSQL sqlx holds an advisory lock
/// while applying, so instances starting together do not race; a loser of a
/// race on SQLite finds the work done when it retries once.
pub(super) async fn run<DB>(
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
