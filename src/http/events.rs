//! Changes and live updates (docs/live-updates.md): the changes feed, the event stream
//! and its one-time tickets.
//!
//! A stream holds no queue of its own: it waits on its user's place in the
//! store's [`Hub`](crate::db::changes::Hub), then reads the changes after
//! its cursor from the database, one page at a time, as fast as the client
//! reads them (the body is pulled by hyper: a client that stops reading
//! stops its stream's reads, and the connection's write deadline closes it
//! if it never reads again). A stream that falls more than
//! `EVENTS_MAX_BACKLOG` changes behind gets `event: reset` and is closed:
//! the client fetches the feed and reconnects. Writers never wait for a
//! stream.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::{OriginalUri, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::Mac;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use super::AppState;
use super::auth::AuthUser;
use super::error::{ApiError, Problem};
use super::error::{Detail, ValidationError};
use super::shape::{BodyKind, JsonCase, camel_keys_bytes};
use crate::auth::Identity;
use crate::db::changes::{Refused, Subscription};
use crate::db::{Change, FeedRead, Store};
use crate::tasks::changes::{ChangesQuery, cursor};

/// How event streams behave (settings `EVENTS_*`).
#[derive(Debug, Clone, Copy)]
pub struct EventsConfig {
    /// `EVENTS_MAX_BACKLOG`: changes a stream may be behind before `reset`.
    pub max_backlog: i64,
    /// `EVENTS_HEARTBEAT_SECONDS`: a comment after this long without events.
    pub heartbeat: Duration,
    /// `EVENTS_MAX_TICKETS_PER_USER`: live tickets one user may hold; a new
    /// one past it replaces their oldest.
    pub max_tickets_per_user: i64,
    /// What tickets are signed with.
    pub ticket_key: TicketKey,
}

/// The key event tickets are signed with, so that a forged or altered
/// ticket is refused before the database is asked. Instances that redeem
/// each other's tickets need the same key: `EVENTS_TICKET_SECRET`, else
/// one derived from `BETTER_AUTH_SECRET`, else one drawn at start-up.
#[derive(Clone, Copy)]
pub struct TicketKey([u8; 32]);

/// Tests compare keys (never the server: a comparison of secrets would
/// want to be constant-time).
#[cfg(test)]
impl PartialEq for TicketKey {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl TicketKey {
    /// A key derived from a shared secret (never the secret itself).
    pub fn derive(secret: &str) -> Self {
        let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
        mac.update(b"todo-api event tickets v1");
        Self(mac.finalize().into_bytes().into())
    }

    /// A key of this process only.
    pub fn random() -> Self {
        Self(rand::random())
    }

    /// The signature of a ticket's parts.
    fn sign(&self, user: &str, random: &[u8], expires: i64) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key");
        mac.update(user.as_bytes());
        mac.update(&[0]);
        mac.update(random);
        mac.update(&expires.to_be_bytes());
        mac
    }
}

impl std::fmt::Debug for TicketKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TicketKey(****)")
    }
}

type HmacSha256 = hmac::Hmac<Sha256>;

/// How long a ticket may wait for its stream.
pub const TICKET_TTL: Duration = Duration::from_secs(60);
/// A ticket's second part: 16 random bytes, its expiry (8 bytes, unix
/// seconds, big-endian) and 16 bytes of its signature.
const TICKET_RANDOM: usize = 16;
const TICKET_SIGNATURE: usize = 16;
const TICKET_BODY: usize = TICKET_RANDOM + 8 + TICKET_SIGNATURE;
/// A ticket longer than this is refused unread (a user id of the longest
/// and the body, in base64).
const MAX_TICKET: usize = 2048;
/// Entries a stream reads per page: at most this many events wait in a
/// stream's memory for a client that stopped reading (a task's JSON is at
/// most a few KB).
const STREAM_PAGE: i64 = 25;

const GONE: &str = "The cursor is too old (deleted tasks after it are no longer remembered) or \
                    is not from this database: drop the local copy and start again with since=0";

/// A change as the feed and the stream write it; its task as every task
/// body is, `is_completed` included when `RESPONSE_IS_COMPLETED` is on.
fn change_json(c: &Change, is_completed: bool) -> serde_json::Value {
    match &c.task {
        Some(t) => {
            let mut task = json!(t);
            if is_completed {
                task["is_completed"] = json!(t.completed);
            }
            json!({ "seq": c.seq, "op": "upsert", "id": c.id, "task": task })
        }
        None => json!({ "seq": c.seq, "op": "delete", "id": c.id }),
    }
}

/// The event a change is: created (its first version), updated, deleted.
fn event_name(c: &Change) -> &'static str {
    match &c.task {
        Some(t) if t.version == 1 => "task.created",
        Some(_) => "task.updated",
        None => "task.deleted",
    }
}

/// `GET /api/tasks/changes`: what changed after a cursor.
#[utoipa::path(
    get, path = "/tasks/changes", tag = "changes", operation_id = "list_changes",
    params(
        ("since" = Option<String>, Query, pattern = "^[0-9]{0,19}$", description = "A cursor from an earlier answer (`cursor`); omitted or `0`: every live task"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 1000, description = "Most entries in the page (default 100)"),
    ),
    responses(
        (status = 200, description = "The user's tasks changed after the cursor (each in its latest state) and tombstones of those deleted, oldest change first", body = ChangesPage),
        (status = 410, description = "The cursor is older than the tombstones kept (or not of this database): start again from 0", body = Detail),
        (status = 422, description = "An invalid cursor or limit", body = ValidationError),
    )
)]
pub async fn changes(
    State(s): State<AppState>,
    user: AuthUser,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, ApiError> {
    let q = ChangesQuery::parse(uri.query()).map_err(ApiError::invalid)?;
    let feed = match s.store.changes(user.id(), q.since, q.limit).await? {
        FeedRead::Page(feed) => feed,
        FeedRead::Gone => return Err(ApiError::Gone(GONE)),
    };
    let body = json!({
        "changes": feed
            .changes
            .iter()
            .map(|c| change_json(c, s.conventions.is_completed))
            .collect::<Vec<_>>(),
        "cursor": feed.cursor.to_string(),
        "has_more": feed.has_more,
    });
    Ok(BodyKind::Other.mark(Json(body).into_response()))
}

/// A page of the changes feed (docs/live-updates.md).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ChangesPage {
    changes: Vec<ChangeEntry>,
    /// Ask with `since=` this next.
    #[schema(example = "42")]
    cursor: String,
    /// More changes wait: ask again at once.
    has_more: bool,
}

/// One entry of the feed: a task's latest state, or its tombstone.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ChangeEntry {
    /// The number of the task's last change.
    seq: i64,
    /// `upsert` (the task is as `task` says) or `delete` (gone).
    op: ChangeOp,
    /// The task's id.
    id: i64,
    /// The task (upserts only).
    task: Option<crate::tasks::model::Task>,
}

/// What a feed entry says of its task.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum ChangeOp {
    Upsert,
    Delete,
}

/// One event of `GET /api/events`, as a client's parser sees it (the
/// heartbeat comments are not events).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct StreamEvent {
    /// The change's number (send it back as `Last-Event-ID`); none on `reset`.
    #[schema(pattern = "^[0-9]{1,19}$", nullable = false)]
    id: Option<String>,
    event: StreamEventName,
    /// The change as the feed writes it, or `{"detail": …}` on `reset`.
    #[schema(content_media_type = "application/json")]
    data: String,
}

/// What an event says happened.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub enum StreamEventName {
    #[schema(rename = "task.created")]
    TaskCreated,
    #[schema(rename = "task.updated")]
    TaskUpdated,
    #[schema(rename = "task.deleted")]
    TaskDeleted,
    /// Fetch the changes feed, then reconnect.
    #[schema(rename = "reset")]
    Reset,
}

/// A ticket for `GET /api/events?ticket=…`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Ticket {
    /// Use once, within `expires_in` seconds.
    pub ticket: String,
    #[schema(example = 60)]
    pub expires_in: u64,
}

/// `POST /api/events/ticket`: a one-time ticket for a browser's
/// `EventSource`, which cannot send the `Authorization` header.
#[utoipa::path(
    post, path = "/events/ticket", tag = "changes", operation_id = "create_event_ticket",
    responses((status = 200, description = "A ticket for one stream, valid 60 s (never past this request's token); the stream it opens ends when the token expires. A user holds at most `EVENTS_MAX_TICKETS_PER_USER` unused tickets: a new one past that replaces their oldest", body = Ticket))
)]
pub async fn ticket(State(s): State<AppState>, user: AuthUser) -> Result<Response, ApiError> {
    let now = chrono::Utc::now().timestamp();
    let token_expires = user.0.expires_at.unwrap_or(i64::MAX);
    // Never valid past its token.
    let expires = (now + TICKET_TTL.as_secs() as i64).min(token_expires);
    let random: [u8; TICKET_RANDOM] = rand::random();
    let signature = s
        .events
        .ticket_key
        .sign(user.id(), &random, expires)
        .finalize()
        .into_bytes();
    let mut body = Vec::with_capacity(TICKET_BODY);
    body.extend_from_slice(&random);
    body.extend_from_slice(&expires.to_be_bytes());
    body.extend_from_slice(&signature[..TICKET_SIGNATURE]);
    let ticket = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(user.id()),
        URL_SAFE_NO_PAD.encode(body)
    );
    s.store
        .create_ticket(
            user.id(),
            &hash(&ticket),
            expires,
            token_expires,
            s.events.max_tickets_per_user,
        )
        .await?;
    let body = Ticket {
        ticket,
        expires_in: u64::try_from(expires - now).unwrap_or(0),
    };
    Ok(BodyKind::Other.mark(Json(body).into_response()))
}

fn hash(ticket: &str) -> String {
    let digest = Sha256::digest(ticket.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The `ticket` query parameter, if any (never logged).
fn ticket_param(uri: &axum::http::Uri) -> Option<String> {
    url::form_urlencoded::parse(uri.query()?.as_bytes())
        .find(|(k, _)| k == "ticket")
        .map(|(_, v)| v.into_owned())
}

/// The user a ticket names, when it is one this server signed and has not
/// expired: checked without the database (a forged ticket costs no query).
fn signed_user(key: &TicketKey, ticket: &str, now: i64) -> Option<String> {
    if ticket.len() > MAX_TICKET {
        return None;
    }
    let (user, body) = ticket.split_once('.')?;
    let user = String::from_utf8(URL_SAFE_NO_PAD.decode(user).ok()?).ok()?;
    if user.is_empty()
        || user.chars().count() > crate::auth::MAX_USER_ID_CHARS
        || user.chars().any(char::is_control)
    {
        return None;
    }
    let body = URL_SAFE_NO_PAD.decode(body).ok()?;
    if body.len() != TICKET_BODY {
        return None;
    }
    let (random, rest) = body.split_at(TICKET_RANDOM);
    let (expires, signature) = rest.split_at(8);
    let expires = i64::from_be_bytes(expires.try_into().ok()?);
    key.sign(&user, random, expires)
        .verify_truncated_left(signature)
        .ok()?;
    (expires > now).then_some(user)
}

/// Who a ticket is for, and when their token expires; 401 when it is not
/// a live ticket (used, expired, forged).
async fn redeem(store: &Store, key: &TicketKey, ticket: &str) -> Result<Identity, ApiError> {
    let refuse = || {
        crate::telemetry::auth_failure("bad_ticket");
        tracing::warn!(reason = "bad_ticket", "authentication failed");
        ApiError::Unauthorized { token_sent: true }
    };
    let user = signed_user(key, ticket, chrono::Utc::now().timestamp()).ok_or_else(refuse)?;
    match store.take_ticket(&user, &hash(ticket)).await? {
        Some(token_expires) => Ok(Identity {
            user_id: user,
            email: None,
            name: None,
            expires_at: (token_expires != i64::MAX).then_some(token_expires),
        }),
        None => Err(refuse()),
    }
}

/// `GET /api/events`: Server-Sent Events of the user's changes.
#[utoipa::path(
    get, path = "/events", tag = "changes", operation_id = "stream_events",
    params(
        ("ticket" = Option<String>, Query, description = "A ticket from `POST /api/events/ticket`, instead of the `Authorization` header (browsers' `EventSource`)"),
        ("Last-Event-ID" = Option<String>, Header, nullable = false, pattern = "^[0-9]{0,19}$", description = "The last event's id: the changes after it are sent first"),
    ),
    responses(
        (status = 200, description = "`text/event-stream`: `id:` the change number, `event:` `task.created`, `task.updated`, `task.deleted` (or `reset`: re-sync from the feed and reconnect), `data:` the change as the feed writes it; a comment every 15 s; the stream ends when the token expires", content_type = "text/event-stream", body = StreamEvent),
        (status = 410, description = "`Last-Event-ID` is older than the tombstones kept", body = Detail),
        (status = 422, description = "An invalid `Last-Event-ID`", body = ValidationError),
        (status = 429, description = "The user has `EVENTS_MAX_PER_USER` streams open (or the instance `EVENTS_MAX_STREAMS`)", body = Detail),
    )
)]
pub async fn events(State(s): State<AppState>, req: Request) -> Result<Response, ApiError> {
    let (mut parts, _) = req.into_parts();
    let user = match ticket_param(&parts.uri) {
        Some(ticket) => {
            let identity = redeem(&s.store, &s.events.ticket_key, &ticket).await?;
            super::auth::admit(&mut parts, &s, identity).await?
        }
        // Only the header: a bearer token is never taken from the URL.
        None => super::auth::authenticate(&mut parts, &s, None).await?,
    };
    let last_event_id = match parts.headers.get("last-event-id") {
        // Blank is none (a client with no id yet).
        None => None,
        Some(v) if v.as_bytes().iter().all(u8::is_ascii_whitespace) => None,
        Some(v) => {
            let problem = || {
                Problem::new(
                    vec![json!("header"), json!("last-event-id")],
                    "cursor_invalid",
                    "Input should be an event id this API sent",
                )
            };
            let raw = v.to_str().map_err(|_| ApiError::invalid(vec![problem()]))?;
            Some(cursor(["header", "last-event-id"], raw).map_err(|p| ApiError::invalid(vec![p]))?)
        }
    };
    // Subscribed before the cursor is read, so that a change committed
    // between the two still wakes the stream.
    let subscription = s
        .store
        .hub()
        .subscribe(user.id())
        .map_err(|r| ApiError::TooMany {
            detail: match r {
                Refused::UserFull => {
                    "Too many open event streams for this user (EVENTS_MAX_PER_USER)"
                }
                Refused::InstanceFull => {
                    "Too many open event streams on this server (EVENTS_MAX_STREAMS)"
                }
            },
            retry_after: Duration::from_secs(5),
        })?;
    let (last, purged) = s.store.seqs(user.id()).await?;
    let cursor = match last_event_id {
        Some(id) if id > last || (id > 0 && id < purged) => return Err(ApiError::Gone(GONE)),
        Some(id) => id,
        None => last,
    };
    let ends_at = user.0.expires_at.map(|exp| {
        let left = exp.saturating_sub(chrono::Utc::now().timestamp()).max(0);
        tokio::time::Instant::now() + Duration::from_secs(left as u64)
    });
    let follow = Follow {
        store: s.store.clone(),
        user: user.id().to_owned(),
        cursor,
        subscription,
        pending: VecDeque::new(),
        ends_at,
        shutdown: s.shutdown.clone(),
        max_backlog: s.events.max_backlog,
        camel: s.conventions.json_case == JsonCase::Camel,
        is_completed: s.conventions.is_completed,
        done: false,
    };
    let stream = futures_util::stream::unfold(follow, |mut f| async move {
        f.next().await.map(|event| (Ok::<_, Infallible>(event), f))
    });
    let mut headers = HeaderMap::new();
    // Proxies (nginx) buffer responses unless told not to.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    let sse = Sse::new(stream).keep_alive(KeepAlive::new().interval(s.events.heartbeat));
    Ok((headers, sse).into_response())
}

/// One stream's state between events.
struct Follow {
    store: Store,
    user: String,
    /// The last change number sent (or skipped as superseded).
    cursor: i64,
    subscription: Subscription,
    pending: VecDeque<Event>,
    /// When the token expires.
    ends_at: Option<tokio::time::Instant>,
    shutdown: CancellationToken,
    max_backlog: i64,
    camel: bool,
    is_completed: bool,
    done: bool,
}

/// Longest a stream waits without reading: a minute, and up to half a
/// minute more at random (the read costs one indexed query when nothing
/// changed).
fn catch_up() -> Duration {
    Duration::from_millis(60_000 + rand::random_range(0..30_000))
}

/// How long a stream waits after a failed read (the database down) before
/// it reads again: a second, and up to a second more at random, so that
/// the streams of an instance do not all come back at once.
fn retry_read() -> Duration {
    Duration::from_millis(1000 + rand::random_range(0..1000))
}

impl Follow {
    /// The next event, or `None` when the stream ends.
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            if self.done {
                return None;
            }
            match self.read().await {
                // More to read, or events to send first.
                Ok(more) if more || !self.pending.is_empty() || self.done => continue,
                Ok(_) => {}
                Err(e) => {
                    // The database is down: keep the stream, read again later
                    // (the change log holds what happens meanwhile).
                    tracing::warn!(error = %e, "an event stream could not read its changes; retrying");
                    if !self.wait(retry_read()).await {
                        return None;
                    }
                    continue;
                }
            }
            // Woken by a change, or after a while anyway: a change whose
            // notification was lost (its instance crashed right after the
            // commit, a LISTEN connection silently gone) is found then.
            if !self.wait(catch_up()).await {
                return None;
            }
        }
    }

    /// Read the next page after the cursor into `pending`; whether there
    /// may be more to read at once.
    async fn read(&mut self) -> Result<bool, crate::db::StoreError> {
        let feed = match self
            .store
            .changes(&self.user, self.cursor, STREAM_PAGE)
            .await?
        {
            FeedRead::Page(feed) => feed,
            FeedRead::Gone => {
                self.reset("The stream's position is no longer in the change log");
                return Ok(false);
            }
        };
        if feed.last - self.cursor > self.max_backlog {
            self.reset("The stream fell too far behind (EVENTS_MAX_BACKLOG)");
            return Ok(false);
        }
        for change in &feed.changes {
            let mut data =
                serde_json::to_vec(&change_json(change, self.is_completed)).unwrap_or_default();
            if self.camel
                && let Some(camel) = camel_keys_bytes(&data)
            {
                data = camel;
            }
            let name = event_name(change);
            crate::telemetry::event_sent(name);
            self.pending.push_back(
                Event::default()
                    .id(change.seq.to_string())
                    .event(name)
                    .data(String::from_utf8_lossy(&data)),
            );
        }
        self.cursor = feed.cursor;
        Ok(feed.has_more)
    }

    /// Send `event: reset` and end the stream.
    fn reset(&mut self, why: &str) {
        crate::telemetry::event_sent("reset");
        let data = json!({ "detail": format!("{why}: fetch the changes feed, then reconnect") });
        self.pending
            .push_back(Event::default().event("reset").data(data.to_string()));
        self.done = true;
    }

    /// Wait for a change or `at_most`; `false` when the stream ends
    /// instead (token expiry, shutdown).
    async fn wait(&mut self, at_most: Duration) -> bool {
        let (ends_at, shutdown) = (self.ends_at, self.shutdown.clone());
        let expiry = async {
            match ends_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let timeout = tokio::time::sleep(at_most);
        tokio::select! {
            () = self.subscription.changed() => true,
            () = timeout => true,
            () = expiry => false,
            () = shutdown.cancelled() => false,
        }
    }
}
