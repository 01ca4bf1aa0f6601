//! Per-user fairness: at most `USER_DB_CONCURRENCY` database operations of
//! one user run at once, so one user (a script, a huge account's searches)
//! cannot hold every connection of the pool while other users wait.
//!
//! A user's turn is taken in arrival order; past the pool's acquire timeout
//! the operation is refused (`StoreError::UserBusy`, a 429). A user's entry
//! lives only while they have an operation running or waiting, so the map is
//! bounded by the requests in flight, not by the number of users.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::StoreError;

pub(super) struct UserGate {
    per_user: usize,
    wait: Duration,
    users: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// One running operation of a user; the turn is given back when dropped.
pub(super) struct Turn {
    gate: Arc<UserGate>,
    user: String,
    sem: Arc<Semaphore>,
    permit: Option<OwnedSemaphorePermit>,
}

impl UserGate {
    pub(super) fn new(per_user: u32, wait: Duration) -> Arc<Self> {
        Arc::new(Self {
            per_user: usize::try_from(per_user.max(1)).unwrap_or(usize::MAX),
            wait,
            users: Mutex::new(HashMap::new()),
        })
    }

    /// Wait for one of `user`'s turns (at most the acquire timeout).
    pub(super) async fn enter(self: &Arc<Self>, user: &str) -> Result<Turn, StoreError> {
        let sem = {
            let mut users = self.users.lock().unwrap_or_else(|e| e.into_inner());
            match users.get(user) {
                Some(sem) => Arc::clone(sem),
                None => {
                    let sem = Arc::new(Semaphore::new(self.per_user));
                    users.insert(user.to_owned(), Arc::clone(&sem));
                    sem
                }
            }
        };
        let mut turn = Turn {
            gate: Arc::clone(self),
            user: user.to_owned(),
            sem,
            permit: None,
        };
        let permit = match Arc::clone(&turn.sem).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                crate::telemetry::user_db_wait("waited");
                let waited = tokio::time::timeout(self.wait, Arc::clone(&turn.sem).acquire_owned());
                match waited.await {
                    Ok(Ok(permit)) => permit,
                    _ => {
                        crate::telemetry::user_db_wait("refused");
                        return Err(StoreError::UserBusy);
                    }
                }
            }
        };
        turn.permit = Some(permit);
        Ok(turn)
    }

    /// Users with an operation running or waiting (for tests).
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.users.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        drop(self.permit.take());
        let mut users = self.gate.users.lock().unwrap_or_else(|e| e.into_inner());
        // The map's handle and ours: nobody else runs or waits.
        if Arc::strong_count(&self.sem) == 2 {
            users.remove(&self.user);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_user_gets_at_most_their_share_and_entries_do_not_pile_up() {
        let gate = UserGate::new(2, Duration::from_millis(50));
        let a1 = gate.enter("a").await.unwrap();
        let a2 = gate.enter("a").await.unwrap();
        assert!(matches!(gate.enter("a").await, Err(StoreError::UserBusy)));
        // Another user is not held up by the first.
        let b = gate.enter("b").await.unwrap();
        assert_eq!(gate.tracked(), 2);
        drop(a1);
        let a3 = gate.enter("a").await.unwrap();
        drop((a2, a3, b));
        assert_eq!(gate.tracked(), 0);
    }
}
