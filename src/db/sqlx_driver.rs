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
/// `close_all()`, `changes_at_once()` and `run_change(change)` (each change in a transaction of
/// its own with the `change_alone` this defines, or SQLite's batches).
/// Every statement runs bounded by the statement timeout
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
                    Arg::Seq => {
                        return Err(StoreError::Corrupt(
                            "a change number outside its change".into(),
                        ));
                    }
                };
                added.map_err(sqlx::Error::Encode)?;
            }
            Ok(out)
        }

        /// Run `change`'s statements on `c`, inside a transaction (or a
        /// savepoint) the caller opened and ends: `Some` to commit, `None`
        /// (no such task, or nothing changed) to roll back.
        async fn apply_change(
            c: &mut $conn,
            change: &ChangeTx,
        ) -> Result<Option<(i64, TaskRow)>, StoreError> {
            let args = arguments(change.next_seq.args.clone())?;
            let Some(seq) = sqlx::query_scalar_with::<$db, i64, _>(&change.next_seq.sql, args)
                .fetch_optional(&mut *c)
                .await?
            else {
                return Err(StoreError::MissingUser);
            };
            let before = match &change.before {
                Some(read) => {
                    let args = arguments(read.args.clone())?;
                    let was = sqlx::query_as_with::<$db, TaskRow, _>(&read.sql, args)
                        .fetch_optional(&mut *c)
                        .await?;
                    if was.is_none() {
                        return Ok(None);
                    }
                    was
                }
                None => None,
            };
            let write = change.write.clone().numbered(seq);
            let args = arguments(write.args)?;
            let Some(row) = sqlx::query_as_with::<$db, TaskRow, _>(&write.sql, args)
                .fetch_optional(&mut *c)
                .await?
            else {
                return Ok(None);
            };
            let after = match &change.after_row {
                Some(make) => make(before.as_ref(), &row)?,
                None => Vec::new(),
            };
            for next in after.into_iter().chain(change.then.iter().cloned()) {
                let Statement { sql, args, .. } = next.numbered(seq);
                let args = arguments(args)?;
                sqlx::query_with::<$db, _>(&sql, args)
                    .execute(&mut *c)
                    .await?;
            }
            Ok(Some((seq, row)))
        }

        /// Run statements in one transaction; with `each_must_write`, one
        /// that affects no row rolls them all back (`false`).
        async fn run_all(
            pool: &Pool<$conn>,
            stmts: Vec<Statement>,
            each_must_write: bool,
        ) -> Result<bool, StoreError> {
            let mut held = super::pool::Transacting::new(pool.get().await?);
            let Conn { inner, deadline } = held.conn();
            let work = async {
                let mut tx = inner.begin().await?;
                let outcome = async {
                    for stmt in stmts {
                        let args = arguments(stmt.args)?;
                        let done = sqlx::query_with::<$db, _>(&stmt.sql, args)
                            .execute(&mut *tx)
                            .await?;
                        if each_must_write && done.rows_affected() == 0 {
                            return Ok(false);
                        }
                    }
                    Ok::<_, StoreError>(true)
                }
                .await;
                match outcome {
                    Ok(true) => {
                        tx.commit().await?;
                        Ok(true)
                    }
                    Ok(false) => {
                        tx.rollback().await?;
                        Ok(false)
                    }
                    Err(e) => {
                        let _ = tx.rollback().await;
                        Err(e)
                    }
                }
            };
            let result = pool.bounded(deadline, work).await;
            Pool::<$conn>::checked(held.finish(), result)
        }

        /// Run one change in a transaction of its own on a connection of
        /// `pool`.
        async fn change_alone(
            pool: &Pool<$conn>,
            change: &ChangeTx,
        ) -> Result<Option<(i64, TaskRow)>, StoreError> {
            let mut held = super::pool::Transacting::new(pool.get().await?);
            let Conn { inner, deadline } = held.conn();
            let work = async {
                // The first statement writes, so SQLite takes its write
                // lock at once (no read-then-upgrade "database is locked").
                let mut tx = inner.begin().await?;
                let outcome = apply_change(&mut *tx, change).await;
                // Ended here, not when `tx` is dropped: a dropped
                // transaction is only rolled back at the connection's
                // next use, and until then it holds the user's row lock
                // (every later change of the user would wait for it).
                match outcome {
                    Ok(Some(done)) => {
                        tx.commit().await?;
                        Ok(Some(done))
                    }
                    // No row: nothing changed; the number is not used.
                    Ok(None) => {
                        tx.rollback().await?;
                        Ok(None)
                    }
                    Err(e) => {
                        let _ = tx.rollback().await;
                        Err(e)
                    }
                }
            };
            let result = pool.bounded(deadline, work).await;
            Pool::<$conn>::checked(held.finish(), result)
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

            async fn fetch_tag_counts(&self, stmt: Statement) -> Result<Vec<TagRow>, StoreError> {
                super::sqlx_driver::run_statement!(self, stmt, $conn, |sql, args, c| {
                    sqlx::query_as_with::<$db, TagRow, _>(sql, args).fetch_all(&mut *c)
                })
            }

            async fn fetch_conversations(
                &self,
                stmt: Statement,
            ) -> Result<Vec<ConversationRow>, StoreError> {
                super::sqlx_driver::run_statement!(self, stmt, $conn, |sql, args, c| {
                    sqlx::query_as_with::<$db, ConversationRow, _>(sql, args).fetch_all(&mut *c)
                })
            }

            async fn fetch_messages(&self, stmt: Statement) -> Result<Vec<MessageRow>, StoreError> {
                super::sqlx_driver::run_statement!(self, stmt, $conn, |sql, args, c| {
                    sqlx::query_as_with::<$db, MessageRow, _>(sql, args).fetch_all(&mut *c)
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

            async fn change(&self, change: ChangeTx) -> Result<Option<(i64, TaskRow)>, StoreError> {
                self.run_change(change).await
            }

            async fn execute_all(&self, stmts: Vec<Statement>) -> Result<(), StoreError> {
                run_all(self.pool_for(false), stmts, false).await.map(drop)
            }

            async fn execute_all_or_none(&self, stmts: Vec<Statement>) -> Result<bool, StoreError> {
                run_all(self.pool_for(false), stmts, true).await
            }

            async fn fetch_ints(&self, stmt: Statement) -> Result<Vec<Vec<i64>>, StoreError> {
                let rows =
                    super::sqlx_driver::run_statement!(self, stmt, $conn, |sql, args, c| {
                        sqlx::query_with::<$db, _>(sql, args).fetch_all(&mut *c)
                    })?;
                rows.iter()
                    .map(|row| {
                        (0..sqlx::Row::len(row))
                            .map(|i| sqlx::Row::try_get::<i64, _>(row, i))
                            .collect::<Result<Vec<i64>, _>>()
                    })
                    .collect::<Result<_, _>>()
                    .map_err(StoreError::from)
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

            fn through_pooler(&self) -> bool {
                $driver::through_pooler(self)
            }

            fn changes_at_once(&self) -> bool {
                $driver::changes_at_once(self)
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
