//! Changes and live updates (docs/live-updates.md, docs/live-updates.md): the per-user change
//! sequence, the changes feed with tombstones, the event stream, its
//! tickets and bounds, and delivery across instances.

use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use sqlx::Connection;

use crate::both_backends;
use crate::helpers::{Backend, TestApp, assert_detail, settings};

/// One Server-Sent Event.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: String,
    pub data: Value,
}

impl SseEvent {
    fn seq(&self) -> i64 {
        self.data["seq"].as_i64().expect("a change has its seq")
    }
}

/// A client's side of an event stream: the response, read as it comes.
pub struct Stream {
    resp: reqwest::Response,
    buf: String,
    /// Comment lines (heartbeats) seen.
    pub comments: usize,
    ended: bool,
}

impl Stream {
    pub fn new(resp: reqwest::Response) -> Self {
        assert_eq!(resp.status(), 200, "a stream opens");
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        Self {
            resp,
            buf: String::new(),
            comments: 0,
            ended: false,
        }
    }

    /// The next event within `within`; `None` when the stream ended or
    /// nothing came.
    pub async fn next(&mut self, within: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(at) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..at + 2).collect();
                let (mut id, mut event, mut data) = (None, "message".to_owned(), String::new());
                let mut comment_only = true;
                for line in block.lines().filter(|l| !l.is_empty()) {
                    if line.starts_with(':') {
                        self.comments += 1;
                        continue;
                    }
                    comment_only = false;
                    if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().to_owned());
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if comment_only {
                    continue;
                }
                let data = serde_json::from_str(&data)
                    .unwrap_or_else(|e| panic!("event data is not JSON ({e}): {block:?}"));
                return Some(SseEvent { id, event, data });
            }
            if self.ended {
                return None;
            }
            match tokio::time::timeout_at(deadline, self.resp.chunk()).await {
                Err(_) => return None,
                Ok(Ok(Some(bytes))) => self.buf.push_str(&String::from_utf8_lossy(&bytes)),
                Ok(Ok(None)) | Ok(Err(_)) => self.ended = true,
            }
        }
    }

    /// Events until `n` have come (panics if they do not within `within`).
    pub async fn take(&mut self, n: usize, within: Duration) -> Vec<SseEvent> {
        let deadline = Instant::now() + within;
        let mut out = Vec::new();
        while out.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left).await {
                Some(e) => out.push(e),
                None => panic!("{} of {n} events came: {out:?}", out.len()),
            }
        }
        out
    }

    /// Whether the server ended the stream within `within`.
    pub async fn ends_within(&mut self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        while !self.ended {
            match tokio::time::timeout_at(deadline, self.resp.chunk()).await {
                Err(_) => return false,
                Ok(Ok(Some(bytes))) => self.buf.push_str(&String::from_utf8_lossy(&bytes)),
                Ok(_) => self.ended = true,
            }
        }
        true
    }
}

/// `GET /api/events` as `user`, optionally after `last_event_id`.
pub async fn open(app: &TestApp, user: &str, last_event_id: Option<&str>) -> reqwest::Response {
    open_at(app, "/api/events", &app.token(user), last_event_id).await
}

async fn open_at(
    app: &TestApp,
    path: &str,
    token: &str,
    last_event_id: Option<&str>,
) -> reqwest::Response {
    let mut req = app.client.get(app.url(path)).bearer_auth(token);
    if let Some(id) = last_event_id {
        req = req.header("last-event-id", id);
    }
    req.send().await.expect("request sent")
}

pub async fn stream(app: &TestApp, user: &str) -> Stream {
    Stream::new(open(app, user, None).await)
}

/// `GET /api/tasks/changes?{query}` as `user`: the body (200 asserted).
pub async fn feed(app: &TestApp, user: &str, query: &str) -> Value {
    let resp = app
        .call(
            Method::GET,
            &format!("/api/tasks/changes?{query}"),
            Some(user),
            None,
        )
        .await;
    assert_eq!(resp.status(), 200, "changes ?{query}");
    resp.json().await.unwrap()
}

fn cursor(page: &Value) -> String {
    page["cursor"]
        .as_str()
        .expect("cursor is a string")
        .to_owned()
}

/// Run SQL on the app's database (test set-up), with a timestamp bound to
/// `$1` when given.
pub async fn exec(app: &TestApp, sql: &str, at: Option<chrono::DateTime<chrono::Utc>>) {
    match app.backend {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&app.database_url)
                .await
                .unwrap();
            let sql = sql.replace("$1", "?");
            let mut q = sqlx::query(&sql);
            if let Some(at) = at {
                q = q.bind(at);
            }
            q.execute(&mut c).await.unwrap();
        }
        Backend::Postgres => {
            let mut c = crate::helpers::pg_connect(&app.database_url).await;
            let mut q = sqlx::query(sql);
            if let Some(at) = at {
                q = q.bind(at);
            }
            q.execute(&mut c).await.unwrap();
        }
    }
}

async fn create_change_each_write_once(app: TestApp) {
    let start = feed(&app, "ann", "").await;
    assert_eq!(
        start,
        json!({ "changes": [], "cursor": "0", "has_more": false })
    );
    let id = app.create_titled("ann", "first").await;
    app.create_titled("bob", "bob's").await;

    let created = feed(&app, "ann", "since=0").await;
    let changes = created["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{created}");
    assert_eq!(changes[0]["op"], "upsert");
    assert_eq!(changes[0]["id"], id);
    assert_eq!(changes[0]["task"]["title"], "first");
    let mut at = cursor(&created);
    assert_eq!(changes[0]["seq"].as_i64().unwrap().to_string(), at);

    // Each write after the cursor is one change, with the task as it is now.
    let writes: Vec<(Method, String, Option<Value>, &str)> = vec![
        (
            Method::PATCH,
            format!("/api/tasks/{id}"),
            Some(json!({ "title": "patched" })),
            "patched",
        ),
        (
            Method::PUT,
            format!("/api/tasks/{id}"),
            Some(json!({ "title": "put", "tags": ["x"] })),
            "put",
        ),
        (
            Method::PATCH,
            format!("/api/tasks/{id}/toggle"),
            None,
            "put",
        ),
        (
            Method::PATCH,
            format!("/api/tasks/{id}"),
            Some(json!({ "tags": ["y", "z"] })),
            "put",
        ),
    ];
    for (method, path, body, title) in writes {
        let resp = app
            .call(method.clone(), &path, Some("ann"), body.as_ref())
            .await;
        assert!(resp.status().is_success(), "{method} {path}");
        let page = feed(&app, "ann", &format!("since={at}")).await;
        let changes = page["changes"].as_array().unwrap();
        assert_eq!(changes.len(), 1, "{method} {path}: {page}");
        assert_eq!(changes[0]["op"], "upsert");
        assert_eq!(changes[0]["task"]["title"], title);
        let seq = changes[0]["seq"].as_i64().unwrap();
        assert_eq!(
            seq,
            at.parse::<i64>().unwrap() + 1,
            "numbers follow each other"
        );
        at = cursor(&page);
    }
    // A write refused (stale If-Match, another user's task) changes nothing.
    let stale = app
        .client
        .patch(app.url(&format!("/api/tasks/{id}")))
        .bearer_auth(app.token("ann"))
        .header("if-match", "\"1\"")
        .json(&json!({ "title": "stale" }))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 412);
    let foreign = app
        .call(
            Method::DELETE,
            &format!("/api/tasks/{id}"),
            Some("bob"),
            None,
        )
        .await;
    assert_eq!(foreign.status(), 404);
    let same = feed(&app, "ann", &format!("since={at}")).await;
    assert_eq!(
        same,
        json!({ "changes": [], "cursor": at, "has_more": false })
    );

    // The delete: one tombstone; `since=0` lists live tasks only.
    let resp = app
        .call(
            Method::DELETE,
            &format!("/api/tasks/{id}"),
            Some("ann"),
            None,
        )
        .await;
    assert_eq!(resp.status(), 204);
    let page = feed(&app, "ann", &format!("since={at}")).await;
    let seq = at.parse::<i64>().unwrap() + 1;
    assert_eq!(
        page,
        json!({ "changes": [{ "seq": seq, "op": "delete", "id": id }], "cursor": seq.to_string(), "has_more": false })
    );
    assert_eq!(feed(&app, "ann", "").await["changes"], json!([]));
    // Bob's feed has Bob's task only, under both route styles.
    let bob = feed(&app, "bob", "").await;
    assert_eq!(bob["changes"].as_array().unwrap().len(), 1);
    assert_eq!(bob["changes"][0]["task"]["title"], "bob's");
    let scoped = app
        .call(Method::GET, "/api/bob/tasks/changes", Some("bob"), None)
        .await;
    assert_eq!(scoped.status(), 200);
    assert_eq!(scoped.json::<Value>().await.unwrap(), bob);
    let other = app
        .call(Method::GET, "/api/bob/tasks/changes", Some("ann"), None)
        .await;
    assert_eq!(other.status(), 403);
}

async fn the_feed_pages_oldest_change_first(app: TestApp) {
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(app.create_titled("ann", &format!("t{i}")).await);
    }
    // The first task changes last: it moves to the end.
    app.call(
        Method::PATCH,
        &format!("/api/tasks/{}/toggle", ids[0]),
        Some("ann"),
        None,
    )
    .await;
    let (mut at, mut seen, mut pages) = ("0".to_owned(), Vec::new(), 0);
    loop {
        let page = feed(&app, "ann", &format!("since={at}&limit=2")).await;
        pages += 1;
        for c in page["changes"].as_array().unwrap() {
            seen.push(c["id"].as_i64().unwrap());
        }
        at = cursor(&page);
        if page["has_more"] == false {
            break;
        }
        assert_eq!(page["changes"].as_array().unwrap().len(), 2);
    }
    assert_eq!(pages, 3);
    let mut expected = ids[1..].to_vec();
    expected.push(ids[0]);
    assert_eq!(seen, expected);
}

async fn bad_cursors_are_422_and_unknown_ones_410(app: TestApp) {
    app.create_titled("ann", "t").await;
    for (query, loc) in [
        ("since=abc", "since"),
        ("since=-1", "since"),
        ("since=1.5", "since"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=x", "limit"),
    ] {
        let resp = app
            .call(
                Method::GET,
                &format!("/api/tasks/changes?{query}"),
                Some("ann"),
                None,
            )
            .await;
        crate::helpers::assert_422(resp, &[json!(["query", loc])]).await;
    }
    // A cursor ahead of the user's sequence (another database's): 410.
    let resp = app
        .call(
            Method::GET,
            "/api/tasks/changes?since=99",
            Some("ann"),
            None,
        )
        .await;
    assert_eq!(resp.status(), 410);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["detail"].as_str().unwrap().contains("since=0"),
        "{body}"
    );
    // Bob has no changes: Ann's cursor is not his.
    let resp = app
        .call(Method::GET, "/api/tasks/changes?since=1", Some("bob"), None)
        .await;
    assert_eq!(resp.status(), 410);
    let resp = app
        .call(Method::GET, "/api/tasks/changes", None, None)
        .await;
    assert_eq!(resp.status(), 401);
}

/// Tombstones past TOMBSTONE_RETENTION_DAYS are swept on their own; a
/// cursor before one swept is 410, later ones still work.
async fn old_tombstones_are_swept_and_older_cursors_are_gone(app: TestApp) {
    let keep = app.create_titled("ann", "kept").await;
    let gone = app.create_titled("ann", "deleted").await;
    let before_delete = cursor(&feed(&app, "ann", "").await);
    app.call(
        Method::DELETE,
        &format!("/api/tasks/{gone}"),
        Some("ann"),
        None,
    )
    .await;
    let after_delete = cursor(&feed(&app, "ann", &format!("since={before_delete}")).await);
    // Bob deletes too, recently: his tombstone stays.
    let bobs = app.create_titled("bob", "b").await;
    let bob_before = cursor(&feed(&app, "bob", "").await);
    app.call(
        Method::DELETE,
        &format!("/api/tasks/{bobs}"),
        Some("bob"),
        None,
    )
    .await;
    // Ann's delete is made 31 days old; the sweep (every second here) runs.
    let old = chrono::Utc::now() - chrono::Duration::days(31);
    exec(
        &app,
        "UPDATE task_tombstones SET deleted_at = $1 WHERE user_id = 'ann'",
        Some(old),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let resp = app
            .call(
                Method::GET,
                &format!("/api/tasks/changes?since={before_delete}"),
                Some("ann"),
                None,
            )
            .await;
        if resp.status() == 410 {
            break;
        }
        assert_eq!(resp.status(), 200);
        assert!(Instant::now() < deadline, "the tombstone was never swept");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // From the delete on, and from 0, the feed still answers.
    let page = feed(&app, "ann", &format!("since={after_delete}")).await;
    assert_eq!(page["changes"], json!([]));
    let all = feed(&app, "ann", "").await;
    assert_eq!(all["changes"][0]["id"], keep);
    // Bob's recent tombstone is kept.
    let bob = feed(&app, "bob", &format!("since={bob_before}")).await;
    assert_eq!(bob["changes"][0]["op"], "delete");
}

async fn the_stream_sends_each_change_as_an_event(app: TestApp) {
    let mut ann = stream(&app, "ann").await;
    let mut bob = stream(&app, "bob").await;
    // Each write's event is awaited before the next write: a task changed
    // again before its stream read it is sent once, in its latest state.
    let mut events = Vec::new();
    let id = app.create_titled("ann", "live").await;
    events.push(ann.next(Duration::from_secs(10)).await.expect("created"));
    let writes = [
        (
            Method::PATCH,
            format!("/api/tasks/{id}"),
            Some(json!({ "title": "edited" })),
            200,
        ),
        (Method::PATCH, format!("/api/tasks/{id}/toggle"), None, 200),
        (Method::DELETE, format!("/api/tasks/{id}"), None, 204),
    ];
    for (method, path, body, status) in writes {
        let resp = app.call(method, &path, Some("ann"), body.as_ref()).await;
        assert_eq!(resp.status(), status, "{path}");
        events.push(
            ann.next(Duration::from_secs(10))
                .await
                .expect("an event per write"),
        );
    }
    let kinds: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "task.created",
            "task.updated",
            "task.updated",
            "task.deleted"
        ]
    );
    for e in &events {
        assert_eq!(e.id.as_deref(), Some(e.seq().to_string().as_str()));
        assert_eq!(e.data["id"], id);
    }
    assert_eq!(events[0].data["task"]["title"], "live");
    assert_eq!(events[1].data["task"]["title"], "edited");
    assert_eq!(events[2].data["task"]["completed"], true);
    assert_eq!(
        events[3].data,
        json!({ "seq": events[3].seq(), "op": "delete", "id": id })
    );
    let seqs: Vec<i64> = events.iter().map(SseEvent::seq).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    // Bob's stream never carries Ann's changes; his own arrive.
    let bobs = app.create_titled("bob", "bob's").await;
    let mine = bob
        .next(Duration::from_secs(10))
        .await
        .expect("bob's event");
    assert_eq!(mine.data["id"], bobs);
    assert!(bob.next(Duration::from_millis(300)).await.is_none());
}

async fn a_reconnect_with_last_event_id_replays_what_was_missed(app: TestApp) {
    let mut first = stream(&app, "ann").await;
    let a = app.create_titled("ann", "a").await;
    let seen = first.next(Duration::from_secs(10)).await.unwrap();
    let last_id = seen.id.clone().unwrap();
    drop(first);
    // While away: two creates and an edit of the first task.
    let b = app.create_titled("ann", "b").await;
    let c = app.create_titled("ann", "c").await;
    app.call(
        Method::PATCH,
        &format!("/api/tasks/{a}"),
        Some("ann"),
        Some(&json!({ "title": "a2" })),
    )
    .await;
    let mut again = Stream::new(open(&app, "ann", Some(&last_id)).await);
    let replayed = again.take(3, Duration::from_secs(10)).await;
    let ids: Vec<Value> = replayed.iter().map(|e| e.data["id"].clone()).collect();
    assert_eq!(ids, [json!(b), json!(c), json!(a)]);
    assert_eq!(replayed[2].event, "task.updated");
    // Then live, as before.
    let d = app.create_titled("ann", "d").await;
    assert_eq!(
        again.next(Duration::from_secs(10)).await.unwrap().data["id"],
        d
    );
    // A bad id is 422, one ahead of the sequence 410.
    let resp = open(&app, "ann", Some("x1")).await;
    crate::helpers::assert_422(resp, &[json!(["header", "last-event-id"])]).await;
    let resp = open(&app, "ann", Some("9999")).await;
    assert_eq!(resp.status(), 410);
}

async fn a_stream_that_falls_behind_is_reset(app: TestApp) {
    // EVENTS_MAX_BACKLOG is 5 here (spawned with it below).
    let mut s = stream(&app, "ann").await;
    let first = app.create_titled("ann", "0").await;
    let e = s.next(Duration::from_secs(10)).await.unwrap();
    assert_eq!(e.data["id"], first);
    drop(s);
    for i in 0..8 {
        app.create_titled("ann", &format!("{i}")).await;
    }
    let mut behind = Stream::new(open(&app, "ann", e.id.as_deref()).await);
    let reset = behind.next(Duration::from_secs(10)).await.unwrap();
    assert_eq!(reset.event, "reset");
    assert!(
        reset.data["detail"]
            .as_str()
            .unwrap()
            .contains("changes feed")
    );
    assert!(
        behind.ends_within(Duration::from_secs(5)).await,
        "closed after reset"
    );
    // Within the backlog a reconnect replays.
    let at = cursor(&feed(&app, "ann", "").await);
    app.create_titled("ann", "one more").await;
    let mut near = Stream::new(open(&app, "ann", Some(&at)).await);
    assert_eq!(
        near.next(Duration::from_secs(10)).await.unwrap().event,
        "task.created"
    );
}

async fn streams_are_capped_per_user(app: TestApp) {
    // EVENTS_MAX_PER_USER is 2 here.
    let one = stream(&app, "ann").await;
    let _two = stream(&app, "ann").await;
    let third = open(&app, "ann", None).await;
    assert_eq!(third.status(), 429);
    assert!(third.headers().contains_key("retry-after"));
    assert_detail(
        third,
        429,
        "Too many open event streams for this user (EVENTS_MAX_PER_USER)",
    )
    .await;
    // Another user is not affected; a closed stream frees its place.
    let _bob = stream(&app, "bob").await;
    drop(one);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let resp = open(&app, "ann", None).await;
        if resp.status() == 200 {
            break;
        }
        assert_eq!(resp.status(), 429);
        assert!(
            Instant::now() < deadline,
            "the closed stream's place was not freed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn the_stream_ends_when_its_token_expires_and_beats_meanwhile(app: TestApp) {
    let token = app.token_for("ann", Duration::from_secs(3));
    let mut s = Stream::new(open_at(&app, "/api/events", &token, None).await);
    let started = Instant::now();
    assert!(
        s.ends_within(Duration::from_secs(15)).await,
        "the stream outlived its token"
    );
    assert!(started.elapsed() >= Duration::from_secs(1));
    // Heartbeats every EVENTS_HEARTBEAT_SECONDS (1 here) while idle.
    assert!(s.next(Duration::from_millis(10)).await.is_none());
    assert!(s.comments >= 1, "no heartbeat in {:?}", started.elapsed());
}

async fn tickets_open_one_stream_once(app: TestApp) {
    let resp = app
        .call(Method::POST, "/api/events/ticket", Some("ann"), None)
        .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["expires_in"], 60);
    let ticket = body["ticket"].as_str().unwrap().to_owned();
    let url = |t: &str| {
        let mut u = url::Url::parse(&app.url("/api/events")).unwrap();
        u.query_pairs_mut().append_pair("ticket", t);
        u.to_string()
    };
    // No Authorization header: the ticket is the credential, once.
    let mut s = Stream::new(app.client.get(url(&ticket)).send().await.unwrap());
    let id = app.create_titled("ann", "via ticket").await;
    assert_eq!(
        s.next(Duration::from_secs(10)).await.unwrap().data["id"],
        id
    );
    let again = app.client.get(url(&ticket)).send().await.unwrap();
    assert_eq!(again.status(), 401, "a ticket is single-use");
    for forged in ["", "x", "YW5u.AAAA", &ticket.replace('.', "")] {
        let resp = app.client.get(url(forged)).send().await.unwrap();
        assert_eq!(resp.status(), 401, "{forged:?}");
    }
    // A bearer token is never taken from the URL.
    let in_url = app
        .client
        .get(format!(
            "{}?access_token={}&token={}",
            app.url("/api/events"),
            app.token("ann"),
            app.token("ann")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(in_url.status(), 401);
    // Ann's ticket does not open Bob's scoped stream.
    let t2: Value = app
        .call_json(Method::POST, "/api/events/ticket", Some("ann"), None)
        .await;
    let scoped = {
        let mut u = url::Url::parse(&app.url("/api/bob/events")).unwrap();
        u.query_pairs_mut()
            .append_pair("ticket", t2["ticket"].as_str().unwrap());
        u.to_string()
    };
    assert_eq!(app.client.get(scoped).send().await.unwrap().status(), 403);
    // An expired ticket is refused.
    let t3: Value = app
        .call_json(Method::POST, "/api/events/ticket", Some("ann"), None)
        .await;
    exec(&app, "UPDATE event_tickets SET expires_at = 0", None).await;
    let expired = app
        .client
        .get(url(t3["ticket"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(expired.status(), 401);
    // Without a ticket or a token: 401.
    assert_eq!(
        app.client
            .get(app.url("/api/events"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}

/// 8 writers for one user at once, a reader following the feed and
/// another the stream: each sees every change once, in sequence order,
/// numbered without a gap.
async fn concurrent_writers_are_seen_once_in_order(app: TestApp) {
    let app = std::sync::Arc::new(app);
    // Each writer toggles 5 tasks of its own made beforehand, and creates 25.
    let mut own = Vec::new();
    for w in 0..8 {
        let mut ids = Vec::new();
        for i in 0..5 {
            ids.push(app.create_titled("ann", &format!("w{w} pre {i}")).await);
        }
        own.push(ids);
    }
    let start = cursor(&feed(&app, "ann", "").await).parse::<i64>().unwrap();
    let mut live = stream(&app, "ann").await;
    let writers: Vec<_> = own
        .into_iter()
        .enumerate()
        .map(|(w, ids)| {
            let app = app.clone();
            tokio::spawn(async move {
                let mut touched = Vec::new();
                for i in 0..25 {
                    touched.push(app.create_titled("ann", &format!("w{w} new {i}")).await);
                    if i % 5 == 0 {
                        let id = ids[i / 5];
                        let resp = app
                            .call(
                                Method::PATCH,
                                &format!("/api/tasks/{id}/toggle"),
                                Some("ann"),
                                None,
                            )
                            .await;
                        assert_eq!(resp.status(), 200);
                        touched.push(id);
                    }
                }
                touched
            })
        })
        .collect();
    let reader = {
        let app = app.clone();
        tokio::spawn(async move {
            let (mut at, mut seen) = (start.to_string(), Vec::new());
            while seen.len() < 240 {
                let page = feed(&app, "ann", &format!("since={at}&limit=7")).await;
                for c in page["changes"].as_array().unwrap() {
                    seen.push((c["seq"].as_i64().unwrap(), c["id"].as_i64().unwrap()));
                }
                at = cursor(&page);
                if page["has_more"] == false {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            seen
        })
    };
    let mut touched = BTreeSet::new();
    for w in writers {
        for id in w.await.unwrap() {
            assert!(touched.insert(id), "each change touches another task");
        }
    }
    assert_eq!(touched.len(), 240);
    let from_feed = tokio::time::timeout(Duration::from_secs(30), reader)
        .await
        .expect("the feed reader saw every change")
        .unwrap();
    let from_stream: Vec<(i64, i64)> = live
        .take(240, Duration::from_secs(30))
        .await
        .iter()
        .map(|e| (e.seq(), e.data["id"].as_i64().unwrap()))
        .collect();
    let numbers: Vec<i64> = (start + 1..=start + 240).collect();
    for (name, seen) in [("feed", &from_feed), ("stream", &from_stream)] {
        assert_eq!(seen.len(), 240, "{name}");
        let seqs: Vec<i64> = seen.iter().map(|(s, _)| *s).collect();
        assert_eq!(seqs, numbers, "{name}: every number once, in order");
        let ids: BTreeSet<i64> = seen.iter().map(|(_, id)| *id).collect();
        assert_eq!(ids, touched, "{name}: every change's task");
    }
    assert!(
        live.next(Duration::from_millis(200)).await.is_none(),
        "nothing more"
    );
}

/// Streams whose clients never read do not slow writers: with 4 stalled
/// streams on Ann (their events pile up unread), Ann's writes run at least
/// half as fast as Carl's (no streams), the two interleaved so that both
/// meet the same load.
async fn a_stalled_reader_does_not_slow_writers(app: TestApp) {
    let mut stalled = Vec::new();
    for _ in 0..4 {
        stalled.push(open(&app, "ann", None).await);
    }
    let body = json!({ "title": "x", "description": "d".repeat(1000) });
    let (mut ann, mut carl) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..150 {
        for (user, took) in [("ann", &mut ann), ("carl", &mut carl)] {
            let started = Instant::now();
            app.create(user, body.clone()).await;
            *took += started.elapsed();
        }
    }
    assert!(
        ann <= carl * 2,
        "150 writes took {ann:?} with stalled streams, {carl:?} without"
    );
    // The stalled streams are still open and have everything once read.
    let mut one = Stream::new(stalled.into_iter().next().unwrap());
    let first = one.next(Duration::from_secs(10)).await.unwrap();
    assert_eq!(first.event, "task.created");
}

both_backends!(
    create_change_each_write_once,
    the_feed_pages_oldest_change_first,
    bad_cursors_are_422_and_unknown_ones_410,
    the_stream_sends_each_change_as_an_event,
    a_reconnect_with_last_event_id_replays_what_was_missed,
    tickets_open_one_stream_once,
    concurrent_writers_are_seen_once_in_order,
    a_stalled_reader_does_not_slow_writers,
);

/// The feed and the stream write tasks as every task body is written
/// (here `JSON_CASE=camel`, `RESPONSE_IS_COMPLETED=true`).
async fn changes_follow_the_output_conventions(app: TestApp) {
    let mut s = stream(&app, "ann").await;
    let id = app.create_titled("ann", "shaped").await;
    let page = feed(&app, "ann", "").await;
    assert_eq!(page["hasMore"], false, "{page}");
    let task = &page["changes"][0]["task"];
    assert_eq!(task["id"], id);
    assert_eq!(task["isCompleted"], false, "{page}");
    assert!(task["createdAt"].is_string(), "{page}");
    let event = s.next(Duration::from_secs(10)).await.unwrap();
    assert_eq!(event.data["task"]["isCompleted"], false, "{:?}", event.data);
}

/// Tests with settings of their own, on both databases.
macro_rules! both_with {
    ($($name:ident => $tweak:expr),* $(,)?) => {
        mod with_settings {
            $(
                mod $name {
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn sqlite() {
                        let test = concat!(module_path!());
                        let app = crate::helpers::TestApp::spawn_with(
                            crate::helpers::Backend::Sqlite, test, $tweak).await.unwrap();
                        super::super::$name(app).await;
                    }
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn postgres() {
                        let test = concat!(module_path!());
                        if let Some(app) = crate::helpers::TestApp::spawn_with(
                            crate::helpers::Backend::Postgres, test, $tweak).await {
                            super::super::$name(app).await;
                        }
                    }
                }
            )*
        }
    };
}

both_with!(
    old_tombstones_are_swept_and_older_cursors_are_gone => |s| s.live.tombstone_sweep_seconds = 1,
    a_stream_that_falls_behind_is_reset => |s| s.live.events_max_backlog = 5,
    streams_are_capped_per_user => |s| s.live.events_max_per_user = 2,
    the_stream_ends_when_its_token_expires_and_beats_meanwhile => |s| s.live.events_heartbeat_seconds = 1,
    changes_follow_the_output_conventions => |s| {
        s.conventions.json_case = todo_api::config::JsonCase::Camel;
        s.conventions.response_is_completed = true;
    },
);

/// The `LISTEN` connection of an instance on `database_url`: direct, or
/// `TEST_LISTEN_DATABASE_URL`'s server when the tests go through a
/// transaction pooler (which cannot LISTEN).
pub fn listen_url(database_url: &str) -> Option<String> {
    let direct = std::env::var("TEST_LISTEN_DATABASE_URL").ok()?;
    let mut url = url::Url::parse(&direct).expect("TEST_LISTEN_DATABASE_URL is a URL");
    url.set_path(url::Url::parse(database_url).unwrap().path());
    Some(url.to_string())
}

/// A second instance on the same PostgreSQL database as `app`.
pub async fn second_instance(app: &TestApp) -> TestApp {
    let mut s = settings(&app.database_url);
    s.live.listen_database_url = listen_url(&app.database_url);
    let mut other = TestApp::start(&s).await;
    other.backend = Backend::Postgres;
    other
}

/// Two instances on one PostgreSQL: a write on A reaches a stream on B
/// (through LISTEN/NOTIFY) within a second, and only its user's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_on_one_instance_reaches_a_stream_on_another() {
    let Some(a) = TestApp::spawn_with(Backend::Postgres, "changes::two_instances", |s| {
        s.live.listen_database_url = None;
    })
    .await
    else {
        return;
    };
    let b = second_instance(&a).await;
    let mut on_b = stream(&b, "ann").await;
    let mut bob_on_b = stream(&b, "bob").await;
    // B listens before it serves (startup waits for its LISTEN).
    let mut latencies = Vec::new();
    let mut seen = HashSet::new();
    for i in 0..10 {
        let id = a.create_titled("ann", &format!("on a {i}")).await;
        let written = Instant::now();
        let event = on_b
            .next(Duration::from_secs(10))
            .await
            .expect("the event reaches the other instance");
        latencies.push(written.elapsed());
        assert_eq!(event.data["id"], id);
        assert!(seen.insert(event.seq()));
    }
    latencies.sort();
    eprintln!("write on A → event on B: {latencies:?}");
    assert!(
        latencies[latencies.len() / 2] < Duration::from_secs(1),
        "the median took {:?}",
        latencies[latencies.len() / 2]
    );
    assert!(bob_on_b.next(Duration::from_millis(300)).await.is_none());
}

/// The sequence carries on across a restart of the API (it is stored).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sequence_survives_a_restart_of_the_api() {
    let app = TestApp::spawn(Backend::Sqlite, "changes::restart")
        .await
        .unwrap();
    app.create_titled("ann", "one").await;
    let at = cursor(&feed(&app, "ann", "").await);
    let again = TestApp::start(&settings(&app.database_url)).await;
    again.create_titled("ann", "two").await;
    let page = feed(&again, "ann", &format!("since={at}")).await;
    assert_eq!(page["changes"][0]["task"]["title"], "two");
    assert_eq!(page["changes"][0]["seq"], at.parse::<i64>().unwrap() + 1);
}

/// A page (another origin) as a frontend does it: a ticket with the
/// bearer token, then `EventSource` with the ticket; it lists the first
/// `task.created` it hears.
fn event_source_page(api: &str, token: &str) -> String {
    format!(
        r#"<!doctype html><html><body><ul id="out"><li>waiting</li></ul><script>
const api = "{api}", token = "{token}";
const say = (t) => {{ const li = document.createElement("li"); li.textContent = t; document.getElementById("out").appendChild(li); }};
(async () => {{
  try {{
    const r = await fetch(api + "/api/events/ticket", {{ method: "POST", headers: {{ Authorization: "Bearer " + token }} }});
    const {{ ticket }} = await r.json();
    const es = new EventSource(api + "/api/events?ticket=" + encodeURIComponent(ticket));
    es.onopen = () => say("OPEN");
    es.addEventListener("task.created", (e) => {{
      const change = JSON.parse(e.data);
      say("EVENT task.created " + change.task.title);
      es.close();
    }});
  }} catch (e) {{ say("FAILED " + e); }}
}})();
</script></body></html>"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_event_source_with_a_ticket_shows_a_task_created_through_the_api() {
    let Some(browser) = crate::docs::chromium() else {
        assert!(
            std::env::var("CI").is_err(),
            "chromium must be installed in CI (apt-get install chromium)"
        );
        eprintln!("SKIPPED (Chromium): install Debian's chromium to run it");
        return;
    };
    let app = std::sync::Arc::new(
        TestApp::spawn_with(Backend::Sqlite, "changes::browser", |s| {
            s.server.cors_origins = Some("*".into());
        })
        .await
        .unwrap(),
    );
    let page = crate::frontends::serve_page(event_source_page(&app.base, &app.token("ann"))).await;
    // Tasks are created through the API (as another tab would) until the
    // browser is done: the page shows the first it hears of.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let creator = {
        let (app, stop) = (app.clone(), stop.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(300)).await;
                n += 1;
                app.create_titled("ann", &format!("made through the API {n}"))
                    .await;
            }
        })
    };
    let dom = crate::docs::rendered(browser, format!("{page}/"), 10_000).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    creator.await.unwrap();
    // (The DOM holds the script too: the page's own lines are `<li>`s.)
    assert!(dom.contains("<li>OPEN</li>"), "the page says: {dom}");
    assert!(
        dom.contains("<li>EVENT task.created made through the API"),
        "the page says: {dom}"
    );
    assert!(!dom.contains("<li>FAILED"), "{dom}");
}
