//! The users row: who has been seen, written from token claims at most once
//! per user per interval rather than on every request.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{Store, StoreError};

/// Users recently recorded in `users`, so that the upsert runs once per user
/// per interval rather than on every request.
#[derive(Default)]
pub struct SeenUsers {
    seen: Mutex<HashMap<String, Instant>>,
}

/// How often a user's `last_seen_at` (and email, name) is refreshed.
const REFRESH: Duration = Duration::from_secs(300);
/// Bound on the cache; it is simply emptied when full.
const CAPACITY: usize = 100_000;

impl SeenUsers {
    /// Drop a user from the cache, so that the next `ensure` writes the row.
    pub fn forget(&self, user_id: &str) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.remove(user_id);
    }

    /// Record the user (with the email and name their token carries) unless
    /// this instance did so within the refresh interval.
    pub async fn ensure(
        &self,
        store: &Store,
        user_id: &str,
        email: Option<&str>,
        name: Option<&str>,
    ) -> Result<(), StoreError> {
        let fresh = {
            let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            seen.get(user_id).is_some_and(|t| t.elapsed() < REFRESH)
        };
        if fresh {
            return Ok(());
        }
        store.upsert_user(user_id, email, name).await?;
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= CAPACITY {
            seen.clear();
        }
        seen.insert(user_id.to_owned(), Instant::now());
        Ok(())
    }
}
