//! Who is told of a change (docs/live-updates.md): the in-process [`Hub`] every event
//! stream waits on, and the PostgreSQL `LISTEN` connection that feeds it
//! the changes other instances commit.
//!
//! A stream never receives a change through here, only word that its
//! user's sequence moved on (to at least some number); it then reads the
//! changes after its own cursor from the database. So a notification lost
//! (the listener down, two changes folded into one wake-up) costs nothing
//! but latency: the next wake-up, or the catch-up after a reconnect, reads
//! everything after the cursor.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The `NOTIFY` channel.
pub const CHANNEL: &str = "todo_api_changes";

/// A notification's payload is `<seq>:<user id>` (`sql::notify_changes`):
/// the user and the sequence only, never data (every listener sees it).
fn payload(user: &str, seq: i64) -> String {
    format!("{seq}:{user}")
}

fn parse_payload(payload: &str) -> Option<(&str, i64)> {
    let (seq, user) = payload.split_once(':')?;
    Some((user, seq.parse().ok()?))
}

/// Why a stream was not opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The user has `EVENTS_MAX_PER_USER` streams open.
    UserFull,
    /// The instance has `EVENTS_MAX_STREAMS` streams open.
    InstanceFull,
}

/// The streams open on this instance, by user: each user with a stream
/// has one watch of the newest sequence number heard of. Publishing never
/// blocks and costs nothing for a user without streams.
pub struct Hub {
    users: Mutex<HashMap<String, watch::Sender<i64>>>,
    open: AtomicUsize,
    max_per_user: usize,
    max_streams: usize,
}

impl Hub {
    pub fn new(max_per_user: usize, max_streams: usize) -> Self {
        Self {
            users: Mutex::new(HashMap::new()),
            open: AtomicUsize::new(0),
            max_per_user,
            max_streams,
        }
    }

    fn users(&self) -> std::sync::MutexGuard<'_, HashMap<String, watch::Sender<i64>>> {
        self.users.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Open a stream's subscription for `user`, within both caps.
    pub fn subscribe(self: &std::sync::Arc<Self>, user: &str) -> Result<Subscription, Refused> {
        let mut users = self.users();
        let sender = users
            .entry(user.to_owned())
            .or_insert_with(|| watch::channel(0).0);
        let refused = if sender.receiver_count() >= self.max_per_user {
            Some(Refused::UserFull)
        } else if self.open.load(Ordering::Relaxed) >= self.max_streams {
            Some(Refused::InstanceFull)
        } else {
            None
        };
        if let Some(refused) = refused {
            if sender.receiver_count() == 0 {
                users.remove(user);
            }
            return Err(refused);
        }
        self.open.fetch_add(1, Ordering::Relaxed);
        crate::telemetry::event_stream(1.0);
        Ok(Subscription {
            rx: sender.subscribe(),
            user: user.to_owned(),
            hub: std::sync::Arc::clone(self),
        })
    }

    /// `user`'s sequence reached `seq`: wake their streams.
    pub fn publish(&self, user: &str, seq: i64) {
        if let Some(sender) = self.users().get(user) {
            sender.send_if_modified(|newest| {
                let newer = seq > *newest;
                if newer {
                    *newest = seq;
                }
                newer
            });
        }
    }

    /// Wake every stream (after the listener was down: each reads what it
    /// may have missed).
    pub fn wake_all(&self) {
        for sender in self.users().values() {
            sender.send_modify(|_| {});
        }
    }

    /// Streams open on this instance.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }
}

/// One stream's place in the [`Hub`]; dropping it closes the place.
pub struct Subscription {
    rx: watch::Receiver<i64>,
    user: String,
    hub: std::sync::Arc<Hub>,
}

impl Subscription {
    /// Wait until the user's sequence may have moved on.
    pub async fn changed(&mut self) {
        if self.rx.changed().await.is_err() {
            // The sender is only dropped with the hub entry, which outlives
            // every receiver: never here, but never spin either.
            std::future::pending::<()>().await;
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut users = self.hub.users();
        self.hub.open.fetch_sub(1, Ordering::Relaxed);
        crate::telemetry::event_stream(-1.0);
        // This receiver is still counted until it is dropped, after this.
        if users
            .get(&self.user)
            .is_some_and(|s| s.receiver_count() <= 1)
        {
            users.remove(&self.user);
        }
    }
}

/// Changes waiting for their notification; more are dropped (counted):
/// the other instances' streams then catch up at their next periodic read.
const NOTIFY_QUEUE: usize = 10_000;
/// Payloads per `NOTIFY` statement.
const NOTIFY_BATCH: usize = 500;

enum Notice {
    Change(String, i64),
    /// Send everything before this, then answer.
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// Tells the other instances (PostgreSQL `NOTIFY`) of changes this one
/// committed: after the commit, in batches, off the request path. A crash
/// between a commit and its batch (milliseconds) leaves other instances'
/// streams to find the change at their next periodic read
/// (`http::events`: a minute at most).
#[derive(Clone)]
pub struct Notifier {
    queue: tokio::sync::mpsc::Sender<Notice>,
}

impl Notifier {
    /// Start the sender; `send` runs one batch's statement.
    pub fn start<F, Fut>(send: F) -> Self
    where
        F: Fn(super::sql::Statement) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<u64, super::StoreError>> + Send,
    {
        let (queue, mut rx) = tokio::sync::mpsc::channel(NOTIFY_QUEUE);
        tokio::spawn(async move {
            let mut batch: HashMap<String, i64> = HashMap::new();
            let mut flushed = Vec::new();
            while let Some(first) = rx.recv().await {
                let mut next = Some(first);
                while let Some(notice) = next.take() {
                    match notice {
                        Notice::Change(user, seq) => {
                            let newest = batch.entry(user).or_insert(seq);
                            *newest = (*newest).max(seq);
                        }
                        Notice::Flush(done) => flushed.push(done),
                    }
                    if batch.len() < NOTIFY_BATCH {
                        next = rx.try_recv().ok();
                    }
                }
                if !batch.is_empty() {
                    let payloads: Vec<String> = batch
                        .drain()
                        .map(|(user, seq)| payload(&user, seq))
                        .collect();
                    let json = serde_json::to_string(&payloads).unwrap_or_default();
                    if let Err(e) = send(super::sql::notify_changes(json)).await {
                        tracing::warn!(error = %e, changes = payloads.len(),
                            "could not notify other instances of changes; their streams catch up later");
                    }
                }
                for done in flushed.drain(..) {
                    let _ = done.send(());
                }
            }
        });
        Self { queue }
    }

    /// A change committed: notify it soon. Never waits.
    pub fn notify(&self, user: &str, seq: i64) {
        if self
            .queue
            .try_send(Notice::Change(user.to_owned(), seq))
            .is_err()
        {
            crate::telemetry::notification_dropped();
        }
    }

    /// Wait until every change notified so far is sent (shutdown).
    pub async fn flush(&self) {
        let (done, sent) = tokio::sync::oneshot::channel();
        if self.queue.send(Notice::Flush(done)).await.is_ok() {
            let _ = sent.await;
        }
    }
}

/// Longest wait between two attempts to reconnect the listener.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Listen for the changes every instance commits and wake this instance's
/// streams, until `stop`. One dedicated connection (a transaction pooler
/// cannot `LISTEN`: `LISTEN_DATABASE_URL` names a direct one). When it is
/// lost it reconnects with backoff, then wakes every stream so that each
/// catches up from the change log: nothing committed meanwhile is missed.
/// `listening` is told once the first `LISTEN` is in place.
pub async fn listen(
    options: PgConnectOptions,
    hub: std::sync::Arc<Hub>,
    stop: CancellationToken,
    listening: tokio::sync::oneshot::Sender<()>,
) {
    let mut listening = Some(listening);
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy_with(options.extra_float_digits(None));
    let mut backoff = Duration::from_millis(250);
    let mut was_down = false;
    loop {
        let connected = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let mut listener = tokio::select! {
            () = stop.cancelled() => return,
            result = connected => match result {
                Ok(listener) => listener,
                Err(e) => {
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64,
                        "the LISTEN connection is down; retrying");
                    was_down = true;
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            },
        };
        // `try_recv` would reconnect by itself; this loop does, so that it
        // knows when to catch up.
        listener.eager_reconnect(false);
        if let Some(ready) = listening.take() {
            let _ = ready.send(());
        }
        if was_down {
            tracing::info!("the LISTEN connection is back; streams catch up");
            hub.wake_all();
        }
        backoff = Duration::from_millis(250);
        loop {
            let next = tokio::select! {
                () = stop.cancelled() => return,
                next = listener.try_recv() => next,
            };
            match next {
                Ok(Some(n)) => match parse_payload(n.payload()) {
                    Some((user, seq)) => hub.publish(user, seq),
                    None => tracing::warn!("a notification on the changes channel not ours"),
                },
                Ok(None) | Err(_) => {
                    tracing::warn!("the LISTEN connection was lost; reconnecting");
                    was_down = true;
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn payloads_carry_the_user_and_the_sequence_only() {
        let p = payload("user:with:colons", 42);
        assert_eq!(p, "42:user:with:colons");
        assert_eq!(parse_payload(&p), Some(("user:with:colons", 42)));
        assert_eq!(parse_payload("x:u"), None);
        assert_eq!(parse_payload("nothing"), None);
    }

    #[tokio::test]
    async fn streams_are_capped_per_user_and_per_instance_and_freed_on_drop() {
        let hub = Arc::new(Hub::new(2, 3));
        let a1 = hub.subscribe("a").unwrap();
        let _a2 = hub.subscribe("a").unwrap();
        assert_eq!(hub.subscribe("a").err(), Some(Refused::UserFull));
        let _b1 = hub.subscribe("b").unwrap();
        assert_eq!(hub.subscribe("c").err(), Some(Refused::InstanceFull));
        assert_eq!(hub.open(), 3);
        drop(a1);
        assert_eq!(hub.open(), 2);
        let _c = hub.subscribe("c").unwrap();
        assert!(!hub.users().contains_key("d"));
    }

    #[tokio::test]
    async fn notifications_are_batched_newest_per_user_and_flushed() {
        let sent = Arc::new(Mutex::new(Vec::<String>::new()));
        let seen = Arc::clone(&sent);
        let notifier = Notifier::start(move |stmt: super::super::sql::Statement| {
            let seen = Arc::clone(&seen);
            async move {
                for arg in stmt.args {
                    if let super::super::sql::Arg::Text(json) = arg {
                        let payloads: Vec<String> = serde_json::from_str(&json).unwrap();
                        seen.lock().unwrap().extend(payloads);
                    }
                }
                Ok(1)
            }
        });
        notifier.notify("a", 1);
        notifier.notify("a", 2);
        notifier.notify("b:c", 5);
        notifier.flush().await;
        let mut got = sent.lock().unwrap().clone();
        got.sort();
        // At most one per user and batch: "a" may have gone as 1 and then 2.
        assert!(got.contains(&"2:a".to_owned()), "{got:?}");
        assert!(got.contains(&"5:b:c".to_owned()), "{got:?}");
        assert!(got.iter().all(|p| parse_payload(p).is_some()), "{got:?}");
    }

    #[tokio::test]
    async fn a_publish_wakes_the_users_streams_only() {
        let hub = Arc::new(Hub::new(10, 10));
        let mut a = hub.subscribe("a").unwrap();
        let mut b = hub.subscribe("b").unwrap();
        hub.publish("a", 5);
        tokio::time::timeout(Duration::from_secs(1), a.changed())
            .await
            .expect("a is woken");
        assert!(
            tokio::time::timeout(Duration::from_millis(50), b.changed())
                .await
                .is_err(),
            "b is not"
        );
        // An older number wakes no one; wake_all wakes everyone.
        hub.publish("a", 3);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), a.changed())
                .await
                .is_err()
        );
        hub.wake_all();
        tokio::time::timeout(Duration::from_secs(1), b.changed())
            .await
            .expect("b is woken by wake_all");
        drop((a, b));
        assert!(hub.users().is_empty(), "entries go with their last stream");
    }
}
