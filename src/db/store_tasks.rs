//! The [`Store`]'s task operations: create, read, replace, patch, toggle,
//! delete, list and count, each one user's, each change in one transaction
//! ([`ChangeTx`](super::ChangeTx)).

use super::*;

impl Store {
    /// Create a task; [`StoreError::TaskLimit`] when the user has the most
    /// tasks allowed.
    pub async fn create_task(&self, user: &str, input: &TaskInput) -> Result<Task, StoreError> {
        let _turn = self.gate.enter(user).await?;
        if self.changes_at_once {
            return self.create_at_once(user, input).await;
        }
        let stmt = sql::insert_task(self.dialect, user, input, now(), self.max_tasks);
        let counts = recount(self.dialect, user, Recount::Created);
        match self
            .change(user, 1, None, stmt, Some(counts), Vec::new())
            .await?
        {
            Some(row) => Task::try_from(row),
            None => Err(StoreError::TaskLimit),
        }
    }

    /// A create in one statement (`sql::create_task_at_once`); no row is
    /// the task limit, or a missing users row (told apart by reading it).
    async fn create_at_once(&self, user: &str, input: &TaskInput) -> Result<Task, StoreError> {
        let stmt = sql::create_task_at_once(user, input, now(), self.max_tasks);
        match self.driver.fetch_tasks(stmt).await?.into_iter().next() {
            Some(row) => {
                self.announce(user, row.seq);
                Task::try_from(row)
            }
            None => match self
                .driver
                .fetch_count(sql::user_count(self.dialect, user))
                .await?
            {
                0 => Err(StoreError::MissingUser),
                _ => Err(StoreError::TaskLimit),
            },
        }
    }

    pub async fn get_task(&self, user: &str, id: i64) -> Result<Option<Task>, StoreError> {
        let _turn = self.gate.enter(user).await?;
        self.read_task(user, id).await
    }

    /// [`get_task`](Self::get_task) within a turn already taken.
    pub(super) async fn read_task(&self, user: &str, id: i64) -> Result<Option<Task>, StoreError> {
        first(
            self.driver
                .fetch_tasks(sql::get_task(self.dialect, user, id))
                .await?,
        )
    }

    /// PUT. With `versions` (`If-Match`) the task must be at one of them.
    pub async fn replace_task(
        &self,
        user: &str,
        id: i64,
        versions: Option<&[i64]>,
        input: &TaskInput,
    ) -> Result<Write<Task>, StoreError> {
        let _turn = self.gate.enter(user).await?;
        let t = Target { user, id, versions };
        self.write_task(t, Recount::Read, |d| sql::replace_task(d, t, input, now()))
            .await
    }

    /// PATCH; `{}` changes nothing (but `If-Match` is still checked).
    pub async fn patch_task(
        &self,
        user: &str,
        id: i64,
        versions: Option<&[i64]>,
        patch: &TaskPatch,
    ) -> Result<Write<Task>, StoreError> {
        let _turn = self.gate.enter(user).await?;
        let t = Target { user, id, versions };
        if patch.is_empty() {
            return Ok(match self.read_task(user, id).await? {
                None => Write::Missing,
                Some(task) if versions.is_some_and(|v| !v.contains(&task.version)) => Write::Stale,
                Some(task) => Write::Done(task),
            });
        }
        // Only a change of these moves the task in its user's counts.
        let moves = patch.completed.is_some()
            || patch.priority.is_some()
            || patch.category.is_some()
            || patch.due_date.is_some();
        let counts = if moves { Recount::Read } else { Recount::Not };
        self.write_task(t, counts, |d| sql::patch_task(d, t, patch, now()))
            .await
    }

    pub async fn toggle_task(
        &self,
        user: &str,
        id: i64,
        versions: Option<&[i64]>,
    ) -> Result<Write<Task>, StoreError> {
        let _turn = self.gate.enter(user).await?;
        let t = Target { user, id, versions };
        if !self.changes_at_once {
            return self
                .write_task(t, Recount::Toggled, |d| sql::toggle_task(d, t, now()))
                .await;
        }
        // One statement (`sql::toggle_task_at_once`); no row: no such task
        // (or, under `If-Match`, at another version), or no users row.
        let row = if versions.is_some_and(<[i64]>::is_empty) {
            None
        } else {
            let stmt = sql::toggle_task_at_once(t, now());
            let row = self.driver.fetch_tasks(stmt).await?.into_iter().next();
            if let Some(row) = &row {
                self.announce(user, row.seq);
            }
            row.map(Task::try_from).transpose()?
        };
        self.write_outcome(t, row).await
    }

    pub async fn delete_task(
        &self,
        user: &str,
        id: i64,
        versions: Option<&[i64]>,
    ) -> Result<Write<()>, StoreError> {
        let _turn = self.gate.enter(user).await?;
        let t = Target { user, id, versions };
        let deleted = if versions.is_some_and(<[i64]>::is_empty) {
            None
        } else {
            let stmt = sql::delete_task(self.dialect, user, id, versions);
            let d = self.dialect;
            let keep = i64::from(self.max_tombstones.max(1));
            let then = vec![
                sql::insert_tombstone(d, user, id, now()),
                sql::compact_tombstones(d, user, keep),
                sql::purge_compacted(d, user),
            ];
            let counts = recount(d, user, Recount::Deleted);
            let deleted = self.change(user, -1, None, stmt, Some(counts), then).await;
            missing_user_has_no_task(deleted)?
        };
        self.write_outcome(t, deleted.map(drop)).await
    }

    /// Run one `UPDATE … RETURNING` and say what became of it.
    pub(super) async fn write_task(
        &self,
        t: Target<'_>,
        counts: Recount,
        stmt: impl FnOnce(Dialect) -> Statement,
    ) -> Result<Write<Task>, StoreError> {
        // An `If-Match` naming no version of ours cannot match: skip the write.
        let row = if t.versions.is_some_and(<[i64]>::is_empty) {
            None
        } else {
            let d = self.dialect;
            let write = stmt(d);
            let before = (counts == Recount::Read).then(|| sql::lock_task(d, t.user, t.id));
            let after = (counts != Recount::Not).then(|| recount(d, t.user, counts));
            let changed = self
                .change(t.user, 0, before, write, after, Vec::new())
                .await;
            missing_user_has_no_task(changed)?
                .map(Task::try_from)
                .transpose()?
        };
        self.write_outcome(t, row).await
    }

    /// A write that touched no row: missing (or another user's), or, under
    /// `If-Match`, present at another version. Only that case costs a read.
    pub(super) async fn write_outcome<T>(
        &self,
        t: Target<'_>,
        row: Option<T>,
    ) -> Result<Write<T>, StoreError> {
        Ok(match row {
            Some(done) => Write::Done(done),
            None if t.versions.is_some() && self.read_task(t.user, t.id).await?.is_some() => {
                Write::Stale
            }
            None => Write::Missing,
        })
    }

    pub async fn list_tasks(&self, user: &str, q: &ListQuery) -> Result<Page, StoreError> {
        let _turn = self.gate.enter(user).await?;
        let now = now();
        let limit = q.page_size();
        let stmt = sql::list_tasks(self.dialect, user, &q.filter, limit, q.offset, now);
        let tasks = self
            .driver
            .fetch_tasks(stmt)
            .await?
            .into_iter()
            .map(Task::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        let returned = tasks.len() as i64;
        // A short, non-empty page (or a short first page) already tells the
        // total; only a full or past-the-end page needs the count query.
        let total = if returned < limit && (returned > 0 || q.offset == 0) {
            q.offset.saturating_add(returned)
        } else {
            self.count(user, &q.filter, now).await?
        };
        Ok(Page { tasks, total })
    }

    /// How many tasks a filter matches: from the user's counts when it is
    /// only status, priority and category, else counted.
    pub(super) async fn count(
        &self,
        user: &str,
        f: &crate::tasks::list::ListFilter,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let stmt = sql::counted_total(self.dialect, user, f)
            .unwrap_or_else(|| sql::count_tasks(self.dialect, user, f, now));
        self.driver.fetch_count(stmt).await
    }

    /// How many tasks of the filtered list are completed (an envelope shows
    /// it beside the total).
    pub async fn count_completed(&self, user: &str, q: &ListQuery) -> Result<i64, StoreError> {
        let _turn = self.gate.enter(user).await?;
        let mut filter = q.filter.clone();
        filter.status = match filter.status {
            crate::tasks::list::StatusFilter::Pending => return Ok(0),
            _ => crate::tasks::list::StatusFilter::Completed,
        };
        self.count(user, &filter, now()).await
    }
}
