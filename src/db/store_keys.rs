//! The [`Store`]'s Idempotency-Key records (docs/api.md#safe-retries-idempotency-key):
//! claimed before a keyed create, filled in by it, released on failure,
//! swept after 24 hours.

use super::*;

impl Store {
    /// Delete every user's Idempotency-Key records older than their 24 hours,
    /// in batches; how many were deleted.
    pub async fn sweep_expired_keys(&self) -> Result<u64, StoreError> {
        let before = now() - chrono::Duration::from_std(IDEMPOTENCY_TTL).expect("small");
        let mut deleted = 0;
        loop {
            let stmt = sql::sweep_keys(self.dialect, before, SWEEP_BATCH);
            let n = self.driver.execute(stmt).await?;
            deleted += n;
            if n < SWEEP_BATCH as u64 {
                return Ok(deleted);
            }
        }
    }

    /// Claim an Idempotency-Key for a first request, or say what it already
    /// holds. `hash` fingerprints the request body.
    pub async fn claim_key(&self, user: &str, key: &str, hash: &str) -> Result<Claim, StoreError> {
        let _turn = self.gate.enter(user).await?;
        let now = now();
        let expired = now - chrono::Duration::from_std(IDEMPOTENCY_TTL).expect("small");
        let abandoned = now - chrono::Duration::from_std(ABANDONED_AFTER).expect("small");
        let forget = sql::forget_stale_keys(self.dialect, user, key, expired, abandoned);
        self.driver.execute(forget).await?;
        let claim = sql::claim_key(self.dialect, user, key, hash, now);
        if self.driver.execute(claim).await? == 1 {
            return Ok(Claim::Claimed);
        }
        let row = self
            .driver
            .fetch_key(sql::get_key(self.dialect, user, key))
            .await?;
        Ok(match row {
            // Released by a failed first request just now: busy, try again.
            None => Claim::InFlight,
            Some(r) if r.request_hash != hash => Claim::Mismatch,
            Some(KeyRow {
                task_id: Some(task_id),
                task_version: Some(version),
                response_body: Some(body),
                ..
            }) => Claim::Replay {
                task_id,
                version,
                body,
            },
            Some(_) => Claim::InFlight,
        })
    }

    /// Create a task under a claimed Idempotency-Key: the task and the record
    /// of the response commit together, so a crash leaves neither.
    /// `response` renders the body a replay will answer (the web layer's
    /// business: the Store stores it as given).
    pub async fn create_task_keyed(
        &self,
        user: &str,
        key: &str,
        input: &TaskInput,
        response: fn(&Task) -> Result<String, String>,
    ) -> Result<Task, StoreError> {
        let _turn = self.gate.enter(user).await?;
        let insert = sql::insert_task(self.dialect, user, input, now(), self.max_tasks);
        let (dialect, user_, key_) = (self.dialect, user.to_owned(), key.to_owned());
        let counts = recount(self.dialect, user, Recount::Created);
        let record: AfterRow = Box::new(move |before, row: &TaskRow| {
            let mut then = counts(before, row)?;
            let task = Task::try_from(row.clone())?;
            let body = response(&task).map_err(StoreError::Corrupt)?;
            then.push(sql::record_key(
                dialect,
                &user_,
                &key_,
                task.id,
                task.version,
                body,
            ));
            Ok(then)
        });
        match self
            .change(user, 1, None, insert, Some(record), Vec::new())
            .await?
        {
            Some(row) => Task::try_from(row),
            None => Err(StoreError::TaskLimit),
        }
    }

    /// Give up a claim whose request failed, so that a retry runs afresh.
    pub async fn release_key(&self, user: &str, key: &str) -> Result<(), StoreError> {
        let _turn = self.gate.enter(user).await?;
        let stmt = sql::release_key(self.dialect, user, key);
        self.driver.execute(stmt).await.map(drop)
    }
}
