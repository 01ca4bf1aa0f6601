//! The [`Driver`](super::Driver) implementation shared by the sqlx-backed
//! drivers: only the database type and its argument buffer differ.

/// Run one statement on a connection of the pool it belongs to (by
/// `read_only`), under the statement timeout, and pass its result on (a
/// connection that broke or ran out of time is dropped). `$query` is the
/// sqlx future, made from the SQL text, the arguments and the connection.
macro_rules! run_statement {
    ($self:ident, $stmt:ident, $conn:ty, |$sql:ident, $args:ident, $exec:ident| $query:expr) => {{
        let $args = arguments($stmt.args)?;
        let $sql = $stmt.sql.as_str();
        let pool = $self.pool_for($stmt.read_only);
        let mut conn = pool.get().await?;
        let Conn {
            inner: $exec,
            deadline,
        } = &mut *conn;
        let result = pool.bounded(deadline, $query).await;
        Pool::<$conn>::checked(conn, result)
    }};
}

pub(super) use run_statement;

/// Implement `Driver` for `$driver`, which has `pool_for(read_only) ->
/// &Pool<$conn>` (the pool a statement runs on), `pool_state_all()` and
/// `close_all()`. Every statement runs bounded by the statement timeout
/// ([`Pool::bounded`](super::pool::Pool::bounded)).
macro_rules! sqlx_driver {
    ($driver:ident, $db:ty, $conn:ty, $args:ty, $dialect:expr, $migrate:path, $distribution:path) => {
        fn arguments(args: Vec<Arg>) -> Result<$args, StoreError> {
            let mut out = <$args>::default();
            for arg in args {
                let added = match arg {
                    Arg::Int(v) => out.add(v),
                    Arg::SmallInt(v) => out.add(v),
                    Arg::Bool(v) => out.add(v),
                    Arg::Text(v) => out.add(v),
                    Arg::OptText(v) => out.add(v),
                    Arg::Time(v) => out.add(v),
                    Arg::OptTime(v) => out.add(v),
                };
                added.map_err(sqlx::Error::Encode)?;
            }
            Ok(out)
        }

        #[async_trait::async_trait]
        impl Driver for $driver {
            fn dialect(&self) -> Dialect {
                $dialect
            }

            async fn fetch_tasks(&self, stmt: Statement) -> Result<Vec<TaskRow>, StoreError> {
                super::sqlx_driver::run_statement!(self, stmt, $conn, |sql, args, c| {
                    sqlx::query_as_with::<$db, TaskRow, _>(sql, args).fetch_all(&mut *c)
                })
            }

            async fn fetch_stats(&self, stmt: Statement) -> Result<Vec<StatsRow>, StoreError> {
                super::sqlx_driver::run_statement!(self, stmt, $conn, |sql, args, c| {
                    sqlx::query_as_with::<$db, StatsRow, _>(sql, args).fetch_all(&mut *c)
                })
            }

            async fn fetch_count(&self, stmt: Statement) -> Result<i64, StoreError> {
                super::sqlx_driver::run_statement!(self, stmt, $conn, |sql, args, c| {
                    sqlx::query_scalar_with::<$db, i64, _>(sql, args).fetch_one(&mut *c)
                })
            }

            async fn fetch_texts(&self, stmt: Statement) -> Result<Vec<String>, StoreError> {
                super::sqlx_driver::run_statement!(self, stmt, $conn, |sql, args, c| {
                    sqlx::query_scalar_with::<$db, String, _>(sql, args).fetch_all(&mut *c)
                })
            }

            async fn fetch_key(&self, stmt: Statement) -> Result<Option<KeyRow>, StoreError> {
                super::sqlx_driver::run_statement!(self, stmt, $conn, |sql, args, c| {
                    sqlx::query_as_with::<$db, KeyRow, _>(sql, args).fetch_optional(&mut *c)
                })
            }

            async fn insert_task_then(
                &self,
                insert: Statement,
                then: AfterInsert,
            ) -> Result<Option<TaskRow>, StoreError> {
                let pool = self.pool_for(false);
                let mut conn = pool.get().await?;
                let Conn { inner, deadline } = &mut *conn;
                let work = async {
                    // The insert writes first, so SQLite takes its write lock
                    // at once (no read-then-upgrade "database is locked").
                    let mut tx = inner.begin().await?;
                    let args = arguments(insert.args)?;
                    let Some(row) = sqlx::query_as_with::<$db, TaskRow, _>(&insert.sql, args)
                        .fetch_optional(&mut *tx)
                        .await?
                    else {
                        return Ok(None);
                    };
                    let next = then(&row)?;
                    let args = arguments(next.args)?;
                    sqlx::query_with::<$db, _>(&next.sql, args)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok::<_, StoreError>(Some(row))
                };
                let result = pool.bounded(deadline, work).await;
                Pool::<$conn>::checked(conn, result)
            }

            async fn execute(&self, stmt: Statement) -> Result<u64, StoreError> {
                let done =
                    super::sqlx_driver::run_statement!(self, stmt, $conn, |sql, args, c| {
                        sqlx::query_with::<$db, _>(sql, args).execute(&mut *c)
                    })?;
                Ok(done.rows_affected())
            }

            fn pool_state(&self) -> PoolState {
                self.pool_state_all()
            }

            async fn ping(&self) -> Result<(), StoreError> {
                let mut conn = self.pool_for(true).get().await?;
                let result = sqlx::query::<$db>("SELECT 1")
                    .execute(&mut conn.inner)
                    .await;
                Pool::<$conn>::checked(conn, result.map(drop))
            }

            async fn migrate(
                &self,
                cmd: MigrateCommand,
            ) -> Result<Vec<MigrationState>, StoreError> {
                // Unarmed: a migration may take as long as it needs.
                let mut conn = self.pool_for(false).get().await?;
                let result = $migrate(&mut conn.inner, cmd).await;
                Pool::<$conn>::checked(conn, result)
            }

            async fn distribution(&self) -> Result<Option<Vec<(&'static str, bool)>>, StoreError> {
                let mut conn = self.pool_for(false).get().await?;
                let result = $distribution(&mut conn.inner).await;
                Pool::<$conn>::checked(conn, result)
            }

            async fn close(&self) {
                self.close_all();
            }
        }
    };
}

pub(super) use sqlx_driver;
