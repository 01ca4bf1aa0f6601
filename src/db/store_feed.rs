//! The [`Store`]'s changes feed (docs/live-updates.md): the user's sequence,
//! the changes after a cursor, event tickets, and the sweep of old
//! tombstones and expired tickets.

use super::*;

impl Store {
    /// The user's last change number and the newest forgotten tombstone's
    /// (0 and 0 for a user never seen).
    pub async fn seqs(&self, user: &str) -> Result<(i64, i64), StoreError> {
        let _turn = self.gate.enter(user).await?;
        self.read_seqs(user).await
    }

    pub(super) async fn read_seqs(&self, user: &str) -> Result<(i64, i64), StoreError> {
        let rows = self
            .driver
            .fetch_ints(sql::user_seqs(self.dialect, user))
            .await?;
        Ok(match rows.first().map(Vec::as_slice) {
            Some([last, purged]) => (*last, *purged),
            _ => (0, 0),
        })
    }

    /// The changes feed (docs/live-updates.md): the user's tasks changed after `since`
    /// (their latest state) and tombstones of those deleted after it, in
    /// order of their last change, at most `limit`; `since` 0: every live
    /// task, no tombstones. [`FeedRead::Gone`] when tombstones after
    /// `since` were forgotten, or `since` is ahead of the user's sequence.
    ///
    /// The user's last number `L` is read first and both reads stop at it:
    /// every change up to `L` had committed then (numbers are taken in
    /// commit order), so the two reads (each with a snapshot of its own)
    /// see all of them, and a change after `L` is left for the next page.
    pub async fn changes(
        &self,
        user: &str,
        since: i64,
        limit: i64,
    ) -> Result<FeedRead, StoreError> {
        let _turn = self.gate.enter(user).await?;
        let (last, purged) = self.read_seqs(user).await?;
        if since > last || (since > 0 && since < purged) {
            return Ok(FeedRead::Gone);
        }
        if since == last {
            // Nothing after the cursor (a stream's periodic read, mostly).
            return Ok(FeedRead::Page(Feed {
                changes: Vec::new(),
                cursor: last,
                has_more: false,
                last,
            }));
        }
        let d = self.dialect;
        let more = limit.saturating_add(1);
        let mut changes: Vec<Change> = self
            .driver
            .fetch_tasks(sql::changed_tasks(d, user, since, last, more))
            .await?
            .into_iter()
            .map(|row| {
                let (seq, id) = (row.seq, row.id);
                Task::try_from(row).map(|t| Change {
                    seq,
                    id,
                    task: Some(t),
                })
            })
            .collect::<Result<_, _>>()?;
        if since > 0 {
            let tombstones = self
                .driver
                .fetch_ints(sql::tombstones(d, user, since, last, more))
                .await?;
            for row in tombstones {
                if let [seq, id] = row[..] {
                    changes.push(Change {
                        seq,
                        id,
                        task: None,
                    });
                }
            }
            changes.sort_by_key(|c| c.seq);
        }
        let has_more = changes.len() as i64 > limit;
        changes.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let cursor = match changes.last() {
            Some(c) if has_more => c.seq,
            _ => last,
        };
        Ok(FeedRead::Page(Feed {
            changes,
            cursor,
            has_more,
            last,
        }))
    }

    /// Store an event ticket's hash for `user`, valid until `expires_at`
    /// (unix seconds); the stream it opens ends at `token_expires_at`.
    /// The user keeps at most `max_live` live tickets: their oldest beyond
    /// that (and their expired ones) go in the same transaction.
    pub async fn create_ticket(
        &self,
        user: &str,
        hash: &str,
        expires_at: i64,
        token_expires_at: i64,
        max_live: i64,
    ) -> Result<(), StoreError> {
        let _turn = self.gate.enter(user).await?;
        let d = self.dialect;
        let trim = sql::trim_tickets(d, user, now().timestamp(), (max_live - 1).max(0));
        let insert = sql::insert_ticket(d, user, hash, expires_at, token_expires_at);
        self.driver.execute_all(vec![trim, insert]).await
    }

    /// Take (use up) a ticket: its token's expiry, or `None` when there is
    /// no such unexpired ticket of `user` (used, expired, never issued).
    pub async fn take_ticket(&self, user: &str, hash: &str) -> Result<Option<i64>, StoreError> {
        let _turn = self.gate.enter(user).await?;
        let stmt = sql::take_ticket(self.dialect, user, hash, now().timestamp());
        // A write that returns a row: run as one.
        let rows = self.driver.fetch_ints(stmt).await?;
        Ok(rows.first().and_then(|r| r.first().copied()))
    }

    /// Forget tombstones older than `retention` (recording, per user, the
    /// newest forgotten in `purged_seq` in the same transaction) and
    /// expired tickets, in batches; how many tombstones went. Each batch
    /// is one user's rows: writers of other users never wait for it.
    pub async fn sweep_changes(&self, retention: std::time::Duration) -> Result<u64, StoreError> {
        let before = now() - chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
        let d = self.dialect;
        let mut purged = 0;
        loop {
            let users = self
                .driver
                .fetch_texts(sql::users_with_old_tombstones(d, before, SWEEP_BATCH))
                .await?;
            for user in &users {
                let _turn = self.gate.enter(user).await?;
                self.driver
                    .execute_all(vec![
                        sql::mark_purged(d, user, before, SWEEP_BATCH),
                        sql::purge_tombstones(d, user, before, SWEEP_BATCH),
                        sql::recount_tombstones(d, user),
                    ])
                    .await?;
                purged += 1;
            }
            if users.is_empty() {
                break;
            }
        }
        loop {
            let stmt = sql::sweep_tickets(d, now().timestamp(), SWEEP_BATCH);
            if self.driver.execute(stmt).await? < SWEEP_BATCH as u64 {
                break;
            }
        }
        // The chat's usage of days before yesterday (a day's budget is
        // only ever read on that day).
        let before = (now() - chrono::Duration::days(1))
            .format("%Y-%m-%d")
            .to_string();
        loop {
            let stmt = sql::sweep_usage(d, &before, SWEEP_BATCH);
            if self.driver.execute(stmt).await? < SWEEP_BATCH as u64 {
                break;
            }
        }
        Ok(purged)
    }
}
