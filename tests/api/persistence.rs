//! Persistence and operations: restarts, migrations, concurrent start-up,
//! an unreachable database, and the command line.

use reqwest::Method;
use serde_json::{Value, json};

use crate::cli::cli;
use crate::helpers::{Backend, TestApp, assert_detail, settings};

crate::both_backends!(
    writes_survive_a_restart,
    two_instances_start_at_once_on_one_database,
    migrations_go_down_and_up_from_the_cli,
    tasks_from_before_the_tags_migration_keep_their_data,
    tasks_keep_their_ids_and_data_when_keyed_by_user,
    unreachable_database_is_503_and_health_says_so,
    internal_errors_hide_details_and_carry_the_request_id,
    deleting_a_user_erases_their_tasks_and_they_can_start_again,
    tasks_from_before_the_changes_migration_are_numbered_in_id_order,
    tasks_from_before_the_counts_migration_are_counted,
    tombstones_from_before_the_bounds_migration_are_counted,
);

/// Migration 0007 (docs/live-updates.md) on a database with tasks: each user's tasks get
/// sequence numbers 1, 2, … in id order, and the next change follows them.
async fn tasks_from_before_the_changes_migration_are_numbered_in_id_order(app: TestApp) {
    let mut ann = Vec::new();
    for t in ["one", "two", "three"] {
        ann.push(app.create_titled("ann", t).await);
        app.create_titled("bob", t).await;
    }
    app.store.close().await;
    if down_refused_on_citus(&app) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // 0011 (chat), 0010 (per-user bounds), 0009 (task totals), 0008
    // (counts), then 0007.
    cli(&["migrate", "down"], &app.database_url, dir.path());
    cli(&["migrate", "down"], &app.database_url, dir.path());
    cli(&["migrate", "down"], &app.database_url, dir.path());
    cli(&["migrate", "down"], &app.database_url, dir.path());
    let (ok, out, err) = cli(&["migrate", "down"], &app.database_url, dir.path());
    assert!(ok, "{err}");
    assert!(
        out.lines().any(|l| l.trim().ends_with("pending  changes")),
        "{out}"
    );
    let again = TestApp::start(&settings(&app.database_url)).await;
    let page = crate::changes::feed(&again, "ann", "").await;
    let got: Vec<(i64, i64)> = page["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["seq"].as_i64().unwrap(), c["id"].as_i64().unwrap()))
        .collect();
    assert_eq!(got, vec![(1, ann[0]), (2, ann[1]), (3, ann[2])]);
    assert_eq!(page["cursor"], "3");
    let id = again.create_titled("ann", "four").await;
    let next = crate::changes::feed(&again, "ann", "since=3").await;
    assert_eq!(next["changes"][0]["seq"], 4);
    assert_eq!(next["changes"][0]["id"], id);
    assert_eq!(crate::changes::feed(&again, "bob", "").await["cursor"], "3");
}

/// Migration 0008 (docs/benchmarks.md) on a database with tasks: the counts it
/// fills in from them are what counting the tasks gives (totals, stats,
/// overdue), and every later change keeps them so.
async fn tasks_from_before_the_counts_migration_are_counted(app: TestApp) {
    let past = (chrono::Utc::now() - chrono::Duration::days(3)).to_rfc3339();
    let future = (chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339();
    let mut ids = Vec::new();
    for (i, (priority, category, due)) in [
        ("high", "work", Some(&past)),
        ("high", "work", Some(&past)),
        ("low", "home", Some(&future)),
        ("medium", "personal", None),
        ("low", "work", Some(&past)),
    ]
    .into_iter()
    .enumerate()
    {
        let mut body =
            json!({ "title": format!("t{i}"), "priority": priority, "category": category });
        if let Some(due) = due {
            body["due_date"] = json!(due);
        }
        ids.push(app.create("ann", body).await["id"].as_i64().unwrap());
    }
    let toggled = app
        .call(
            Method::PATCH,
            &format!("/api/tasks/{}/toggle", ids[4]),
            Some("ann"),
            None,
        )
        .await;
    assert_eq!(toggled.status(), 200);
    app.create_titled("bob", "bob's").await;
    let before = app.stats("ann").await;
    assert_eq!(before["total"], 5);
    assert_eq!(before["completed"], 1);
    assert_eq!(before["overdue"], 2, "{before}");
    app.store.close().await;
    if down_refused_on_citus(&app) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // 0011 (chat), 0010 (per-user bounds), 0009 (task totals), then 0008.
    cli(&["migrate", "down"], &app.database_url, dir.path());
    cli(&["migrate", "down"], &app.database_url, dir.path());
    cli(&["migrate", "down"], &app.database_url, dir.path());
    let (ok, out, err) = cli(&["migrate", "down"], &app.database_url, dir.path());
    assert!(ok, "{err}");
    assert!(
        out.lines().any(|l| l.trim().ends_with("pending  counts")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.trim().ends_with("pending  task totals")),
        "{out}"
    );
    // Ann has 5 tasks: a limit of 6 leaves her room for one, once the
    // task totals are filled in from the counts.
    let mut limited = settings(&app.database_url);
    limited.limits.max_tasks_per_user = 6;
    let again = TestApp::start(&limited).await;
    assert_eq!(again.stats("ann").await, before, "filled in from the tasks");
    assert_eq!(again.stats("bob").await["total"], 1);
    assert_eq!(again.list("ann", "limit=1").await.1, 5);
    assert_eq!(
        again
            .list("ann", "limit=1&status=pending&priority=high")
            .await
            .1,
        2
    );
    // A change after it moves the counts on from there.
    let moved = again
        .call(
            Method::PATCH,
            &format!("/api/tasks/{}", ids[0]),
            Some("ann"),
            Some(&json!({ "priority": "low", "due_date": future })),
        )
        .await;
    assert_eq!(moved.status(), 200);
    let after = again.stats("ann").await;
    assert_eq!(after["by_priority"]["high"], 1);
    assert_eq!(after["by_priority"]["low"], 3);
    assert_eq!(after["overdue"], 1, "{after}");
    again.create_titled("ann", "sixth").await;
    let seventh = again.post_task("ann", json!({ "title": "seventh" })).await;
    assert_eq!(seventh.status(), 409, "ann has her 6 tasks");
    again.create_titled("bob", "bob's second").await;
}

/// Migration 0010 on a database with tombstones: each user's count is
/// filled in from them, so the bound applies to those already there.
async fn tombstones_from_before_the_bounds_migration_are_counted(app: TestApp) {
    for user in ["ann", "ann", "ann", "bob"] {
        let id = app.create_titled(user, "gone").await;
        let resp = app.delete_task(user, id).await;
        assert!(resp.status().is_success());
    }
    app.store.close().await;
    if down_refused_on_citus(&app) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // 0011 (chat), then 0010.
    cli(&["migrate", "down"], &app.database_url, dir.path());
    let (ok, out, err) = cli(&["migrate", "down"], &app.database_url, dir.path());
    assert!(ok, "{err}");
    assert!(
        out.lines()
            .any(|l| l.trim().ends_with("pending  per user bounds")),
        "{out}"
    );
    // A bound of 2: Ann's 3 tombstones are over it once counted, so her
    // next delete forgets all but the newest 2; Bob's 1 stays.
    let mut bounded = settings(&app.database_url);
    bounded.limits.max_tombstones_per_user = 2;
    let again = TestApp::start(&bounded).await;
    let id = again.create_titled("ann", "fourth").await;
    let resp = again.delete_task("ann", id).await;
    assert!(resp.status().is_success());
    let deletes = |feed: Value| {
        feed["changes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["op"] == "delete")
            .count()
    };
    // Ann's changes: 1-6 before (create, delete, three times), 7 and 8
    // now. The feed from a cursor before the forgotten deletes (2 and 4)
    // is 410; from 4 on it has her newest two.
    let old = again
        .call(Method::GET, "/api/tasks/changes?since=1", Some("ann"), None)
        .await;
    assert_eq!(old.status(), 410);
    let recent: Value = again
        .call_json(Method::GET, "/api/tasks/changes?since=4", Some("ann"), None)
        .await;
    assert_eq!(deletes(recent), 2);
    let bobs: Value = again
        .call_json(Method::GET, "/api/tasks/changes?since=1", Some("bob"), None)
        .await;
    assert_eq!(deletes(bobs), 1);
}

async fn writes_survive_a_restart(app: TestApp) {
    let t = app
        .create("u", json!({ "title": "durable", "priority": "high" }))
        .await;
    app.store.close().await;
    let again = TestApp::start(&settings(&app.database_url)).await;
    let stored: Value = again
        .get_task("u", t["id"].as_i64().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stored, t);
}

async fn two_instances_start_at_once_on_one_database(app: TestApp) {
    // A database of its own that nothing migrated yet: both newcomers race
    // to migrate it (and, on Citus, to distribute its tables).
    let (url, _dir) = crate::helpers::fresh_database(app.backend, "two_instances")
        .await
        .expect("a second database");
    let s = settings(&url);
    let (a, b) = tokio::join!(TestApp::start(&s), TestApp::start(&s));
    let id = a.create_titled("u", "from a").await;
    let seen = b.get_task("u", id).await;
    let etag = seen.headers()["etag"].to_str().unwrap().to_owned();
    let seen: Value = seen.json().await.unwrap();
    assert_eq!(seen["title"], "from a");
    // If-Match conflicts are detected across instances: the version lives in
    // the database, not in either process.
    let patch = |app: &TestApp, title: &str, tag: &str| {
        app.client
            .patch(app.url(&format!("/api/tasks/{id}")))
            .bearer_auth(app.token("u"))
            .header("if-match", tag.to_owned())
            .json(&serde_json::json!({ "title": title }))
            .send()
    };
    assert_eq!(patch(&a, "a wins", &etag).await.unwrap().status(), 200);
    assert_eq!(patch(&b, "b is stale", &etag).await.unwrap().status(), 412);
    let now: Value = b.get_task("u", id).await.json().await.unwrap();
    assert_eq!(now["title"], "a wins");
    // An Idempotency-Key used on one instance replays on the other.
    let post = |app: &TestApp| {
        app.client
            .post(app.url("/api/tasks"))
            .bearer_auth(app.token("u"))
            .header("idempotency-key", "cross-instance")
            .json(&serde_json::json!({ "title": "once" }))
            .send()
    };
    let first: Value = post(&a).await.unwrap().json().await.unwrap();
    let again = post(&b).await.unwrap();
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap()["id"], first["id"]);
    assert_eq!(a.list("u", "").await.1, 2);
}

/// On a Citus cluster `migrate down` is refused once the tables are
/// distributed (see `db::migrate`): true when the test ran there and saw
/// the refusal, so the caller stops.
fn down_refused_on_citus(app: &TestApp) -> bool {
    if app.backend != Backend::Postgres || crate::helpers::citus_workers().is_none() {
        return false;
    }
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, err) = cli(&["migrate", "down"], &app.database_url, dir.path());
    assert!(
        !ok && err.contains("not supported once the tables are distributed"),
        "{err}"
    );
    let (ok, out, err) = cli(&["migrate", "status"], &app.database_url, dir.path());
    assert!(ok, "{err}");
    assert!(out.contains("citus   tasks: distributed by user"), "{out}");
    assert!(!out.contains("pending"), "nothing was undone: {out}");
    true
}

async fn migrations_go_down_and_up_from_the_cli(app: TestApp) {
    app.create_titled("u", "x").await;
    app.store.close().await;
    if down_refused_on_citus(&app) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let url = app.database_url.clone();
    let run = move |args: &'static [&'static str]| {
        let url = url.clone();
        let dir = dir.path().to_owned();
        async move {
            tokio::task::spawn_blocking(move || cli(args, &url, &dir))
                .await
                .unwrap()
        }
    };
    let (ok, out, err) = run(&["migrate", "status"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("applied") && out.contains("init"), "{out}");
    // Down undoes the latest migration only; once per migration undoes all.
    let (ok, out, err) = run(&["migrate", "down"]).await;
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    assert!(lines.iter().any(|l| l.ends_with("applied  init")), "{out}");
    assert!(
        lines.iter().any(|l| l.ends_with("applied  idempotency")),
        "{out}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with("applied  idempotency sweep")),
        "{out}"
    );
    assert!(lines.iter().any(|l| l.ends_with("applied  tags")), "{out}");
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with("applied  tasks keyed by user")),
        "{out}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with("applied  task primary key by user")),
        "{out}"
    );
    assert!(
        lines.iter().any(|l| l.ends_with("applied  changes")),
        "{out}"
    );
    assert!(
        lines.iter().any(|l| l.ends_with("applied  counts")),
        "{out}"
    );
    assert!(
        lines.iter().any(|l| l.ends_with("applied  task totals")),
        "{out}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with("applied  per user bounds")),
        "{out}"
    );
    assert!(lines.iter().any(|l| l.ends_with("pending  chat")), "{out}");
    for _ in 0..10 {
        let (ok, _, err) = run(&["migrate", "down"]).await;
        assert!(ok, "{err}");
    }
    let (ok, out, err) = run(&["migrate", "status"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("pending") && !out.contains("applied"), "{out}");
    let (ok, out, err) = run(&["migrate", "up"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("applied") && !out.contains("pending"), "{out}");
    // Up again is a no-op.
    let (ok, _, err) = run(&["migrate", "up"]).await;
    assert!(ok, "{err}");
    let fresh = TestApp::start(&settings(&app.database_url)).await;
    assert_eq!(fresh.list("u", "").await.1, 0, "down dropped the tables");
}

async fn tasks_from_before_the_tags_migration_keep_their_data(app: TestApp) {
    let before = app
        .create(
            "u",
            json!({ "title": "old", "priority": "high", "due_date": "2030-01-01" }),
        )
        .await;
    app.store.close().await;
    if down_refused_on_citus(&app) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Back to the schema before tags (no tags columns), with the row.
    for _ in 0..8 {
        let (ok, _, err) = cli(&["migrate", "down"], &app.database_url, dir.path());
        assert!(ok, "{err}");
    }
    let (ok, out, err) = cli(&["migrate", "status"], &app.database_url, dir.path());
    assert!(ok, "{err}");
    assert!(
        out.lines().any(|l| l.trim().ends_with("pending  tags")),
        "{out}"
    );
    // The migration forward again on start-up: the row is whole, with no tags.
    let again = TestApp::start(&settings(&app.database_url)).await;
    let id = before["id"].as_i64().unwrap();
    let mut now: Value = again.get_task("u", id).await.json().await.unwrap();
    assert_eq!(now["tags"], json!([]));
    now.as_object_mut().unwrap().remove("tags");
    let mut was = before.clone();
    was.as_object_mut().unwrap().remove("tags");
    assert_eq!(now, was);
    let resp = again
        .call(
            Method::PATCH,
            &format!("/api/tasks/{id}"),
            Some("u"),
            Some(&json!({ "tags": ["later"] })),
        )
        .await;
    assert_eq!(
        resp.json::<Value>().await.unwrap()["tags"],
        json!(["later"])
    );
    assert_eq!(again.list("u", "tag=later").await.1, 1);
}

/// Run `sql` (PostgreSQL placeholders) on the app's database, binding
/// `args`; the first column of the first row, if the statement returns one.
async fn raw(app: &TestApp, sql: &str, args: &[&str]) -> Option<i64> {
    use sqlx::{Connection, Row};
    match app.backend {
        Backend::Postgres => {
            let mut conn = crate::helpers::pg_connect(&app.database_url).await;
            let mut q = sqlx::query(sql);
            for a in args {
                q = q.bind(*a);
            }
            let row = q.fetch_optional(&mut conn).await.unwrap();
            row.and_then(|r| r.try_get::<i64, _>(0).ok())
        }
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&app.database_url)
                .await
                .unwrap();
            let sql = (1..=args.len())
                .rev()
                .fold(sql.to_owned(), |s, i| s.replace(&format!("${i}"), "?"));
            let mut q = sqlx::query(&sql);
            for a in args {
                q = q.bind(*a);
            }
            let row = q.fetch_optional(&mut conn).await.unwrap();
            row.and_then(|r| r.try_get::<i64, _>(0).ok())
        }
    }
}

/// Migration 0006 (SQLite's task table rebuilt with the primary key
/// `(user_id, id)`; PostgreSQL's since 0005) on a database filled by the
/// release before it: every row whole, each ETag the same, and no id reused,
/// not even one the previous release handed out and deleted.
async fn tasks_keep_their_ids_and_data_when_keyed_by_user(app: TestApp) {
    let a1 = app
        .create(
            "ann",
            json!({ "title": "first", "priority": "high", "due_date": "2030-01-01", "tags": ["x"] }),
        )
        .await;
    let a2 = app
        .create("ann", json!({ "title": "second", "completed": true }))
        .await;
    let b1 = app.create("bob", json!({ "title": "bob's" })).await;
    let ids: Vec<i64> = [&a1, &a2, &b1]
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    let mut etags = Vec::new();
    for (id, user) in ids.iter().zip(["ann", "ann", "bob"]) {
        let resp = app.get_task(user, *id).await;
        etags.push(resp.headers()["etag"].clone());
    }
    app.store.close().await;
    if down_refused_on_citus(&app) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..6 {
        let (ok, _, err) = cli(&["migrate", "down"], &app.database_url, dir.path());
        assert!(ok, "{err}");
    }
    let (ok, out, err) = cli(&["migrate", "status"], &app.database_url, dir.path());
    assert!(ok, "{err}");
    assert!(
        out.lines()
            .any(|l| l.trim().ends_with("pending  task primary key by user")),
        "{out}"
    );
    // The previous release at work: it inserts with the database's own ids
    // (AUTOINCREMENT, or the identity), and the newest task is deleted.
    let ann = a1["user_id"].as_str().unwrap().to_owned();
    let gone = raw(
        &app,
        "INSERT INTO tasks (user_id, title, title_search, created_at, updated_at) \
         VALUES ($1, 'gone', 'gone', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP) RETURNING id",
        &[&ann],
    )
    .await
    .expect("an id");
    assert!(gone > *ids.iter().max().unwrap());
    raw(
        &app,
        "DELETE FROM tasks WHERE user_id = $1 AND title = 'gone'",
        &[&ann],
    )
    .await;
    // The new release migrates on start-up.
    let again = TestApp::start(&settings(&app.database_url)).await;
    for ((id, user), (etag, was)) in ids
        .iter()
        .zip(["ann", "ann", "bob"])
        .zip(etags.iter().zip([&a1, &a2, &b1]))
    {
        let resp = again.get_task(user, *id).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(&resp.headers()["etag"], etag, "task {id}'s ETag");
        assert_eq!(&resp.json::<Value>().await.unwrap(), was);
        let other = if user == "ann" { "bob" } else { "ann" };
        assert_eq!(again.get_task(other, *id).await.status(), 404);
    }
    assert_eq!(again.list("ann", "").await.1, 2);
    assert_eq!(again.list("bob", "").await.1, 1);
    assert_eq!(again.list("ann", "tag=x").await.1, 1);
    // New ids come after every id handed out, the deleted one included.
    let next = again.create_titled("bob", "after").await;
    assert!(next > gone, "id {next} reuses one at or below {gone}");
    let after = again.create_titled("ann", "after that").await;
    assert!(after > next);
    if app.backend == Backend::Sqlite {
        let keyed = raw(
            &again,
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'tasks' \
             AND sql LIKE '%PRIMARY KEY (user_id, id)%'",
            &[],
        )
        .await;
        assert_eq!(keyed, Some(1), "tasks' primary key is (user_id, id)");
    }
}

async fn unreachable_database_is_503_and_health_says_so(app: TestApp) {
    let resp = app.call(Method::GET, "/health", None, None).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({ "status": "healthy" })
    );
    app.store.close().await;
    let resp = app.call(Method::GET, "/health", None, None).await;
    assert_eq!(resp.status(), 503);
    // A request needing the database fails fast and says when to retry.
    let resp = app
        .call(Method::GET, "/api/tasks", Some("new-user"), None)
        .await;
    assert_eq!(resp.headers()["retry-after"], "1");
    assert_detail(resp, 503, "Service temporarily unavailable").await;
    // The path check needs no database: still a 403.
    let resp = app
        .call(Method::GET, "/api/other/tasks", Some("new-user"), None)
        .await;
    assert_detail(resp, 403, "User ID mismatch").await;
}

async fn internal_errors_hide_details_and_carry_the_request_id(app: TestApp) {
    app.create_titled("u", "x").await;
    // Break the schema under the running server.
    match app.backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&app.database_url).await.unwrap();
            sqlx::query("DROP TABLE tasks")
                .execute(&pool)
                .await
                .unwrap();
        }
        Backend::Postgres => {
            let pool = crate::helpers::pg_pool(&app.database_url).await;
            sqlx::query("DROP TABLE tasks")
                .execute(&pool)
                .await
                .unwrap();
        }
    }
    let resp = app
        .client
        .get(app.url("/api/tasks"))
        .bearer_auth(app.token("u"))
        .header("x-request-id", "req-500-check")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
    assert_eq!(resp.headers()["x-request-id"], "req-500-check");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        json!({ "detail": "Internal server error", "request_id": "req-500-check" }),
        "no SQL, no table names"
    );
}

/// Run one statement directly against the test database.
async fn exec(app: &TestApp, sql: &str) {
    match app.backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&app.database_url).await.unwrap();
            sqlx::query(sql).execute(&pool).await.unwrap();
        }
        Backend::Postgres => {
            let pool = crate::helpers::pg_pool(&app.database_url).await;
            sqlx::query(sql).execute(&pool).await.unwrap();
        }
    }
}

async fn deleting_a_user_erases_their_tasks_and_they_can_start_again(app: TestApp) {
    let old = app.create_titled("gone", "a").await;
    app.create_titled("kept", "b").await;
    exec(&app, "DELETE FROM users WHERE id = 'gone'").await;
    assert_eq!(
        app.list("gone", "").await.1,
        0,
        "tasks cascade with the user"
    );
    assert_eq!(app.list("kept", "").await.1, 1);
    // A write of an erased task is a missing task (not an error).
    for (method, path) in [
        (Method::PATCH, format!("/api/tasks/{old}")),
        (Method::PATCH, format!("/api/tasks/{old}/toggle")),
        (Method::DELETE, format!("/api/tasks/{old}")),
    ] {
        let body = json!({ "title": "x" });
        let resp = app
            .call(method.clone(), &path, Some("gone"), Some(&body))
            .await;
        assert_eq!(resp.status(), 404, "{method} {path}");
    }
    // The server still remembers the user; its next write must not fail.
    let t = app.create("gone", json!({ "title": "again" })).await;
    assert_eq!(t["user_id"], "gone");
}

#[tokio::test]
async fn neon_and_sqlalchemy_style_postgres_urls_connect_over_tls() {
    let test = "persistence::neon_and_sqlalchemy_style_postgres_urls_connect_over_tls";
    let Some(admin) = crate::helpers::postgres_admin_url(test) else {
        return;
    };
    let (url, _) = crate::helpers::fresh_database(Backend::Postgres, test)
        .await
        .unwrap();
    let tag = format!("tls{}", uuid::Uuid::new_v4().simple());
    let neon = format!("{url}?sslmode=require&channel_binding=require&application_name={tag}");
    let asyncpg = format!(
        "{}?ssl=require&connect_timeout=5&application_name={tag}",
        url.replacen("postgres://", "postgresql+asyncpg://", 1)
    );
    for url in [neon, asyncpg] {
        let app = TestApp::start(&settings(&url)).await;
        let id = app.create_titled("u", "over TLS").await;
        assert_eq!(app.get_task("u", id).await.status(), 200, "{url}");
        let pool = crate::helpers::pg_pool(&admin).await;
        let (all_tls, open): (Option<bool>, i64) = sqlx::query_as(
            "SELECT bool_and(s.ssl), COUNT(*) FROM pg_stat_ssl s \
             JOIN pg_stat_activity a USING (pid) WHERE a.application_name = $1",
        )
        .bind(&tag)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(all_tls, Some(true), "the API's connections use TLS: {url}");
        // The pool's and the 2 pipelined read connections (the test
        // settings' DB_PIPELINE_CONNECTIONS), unless through a pooler.
        if !app.store.through_pooler() {
            assert!(
                open >= 3,
                "the pipelined connections are among them: {open}"
            );
        }
        app.store.close().await;
    }
}

#[tokio::test]
async fn an_in_memory_sqlite_database_is_one_database() {
    let app = TestApp::start(&settings("sqlite::memory:")).await;
    let creates = (0..10).map(|i| app.create_titled("u", if i % 2 == 0 { "even" } else { "odd" }));
    futures::future::join_all(creates).await;
    assert_eq!(app.list("u", "").await.1, 10);
}
