//! Per-user counts (docs/benchmarks.md): totals, stats and the task limit are read
//! from counts kept in each change's transaction, not counted. Whatever
//! the writes (every kind, concurrent, refused), the counts must say what
//! counting the tasks says.

use std::sync::Arc;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::TestApp;

crate::both_backends!(
    counts_follow_every_kind_of_change,
    the_task_limit_holds_under_concurrent_creates,
    keyed_creates_and_deletes_move_the_task_limit,
    a_toggle_moves_its_task_out_of_and_back_into_its_due_day,
    concurrent_changes_of_two_users_commit_apart,
);

/// The stats as counted from the user's whole list.
async fn counted_from_the_list(app: &TestApp, user: &str) -> Value {
    let (tasks, total) = app.list(user, "limit=100").await;
    assert_eq!(tasks.len() as i64, total);
    let now = chrono::Utc::now();
    let mut by_priority = json!({ "low": 0, "medium": 0, "high": 0 });
    let mut by_category = serde_json::Map::new();
    let (mut completed, mut overdue) = (0, 0);
    for t in &tasks {
        let done = t["completed"].as_bool().unwrap();
        completed += i64::from(done);
        let due = t["due_date"]
            .as_str()
            .map(|d| chrono::DateTime::parse_from_rfc3339(d).unwrap());
        if !done && due.is_some_and(|d| d < now) {
            overdue += 1;
        }
        let p = t["priority"].as_str().unwrap();
        by_priority[p] = json!(by_priority[p].as_i64().unwrap() + 1);
        let c = t["category"].as_str().unwrap().to_owned();
        let n = by_category.get(&c).and_then(Value::as_i64).unwrap_or(0);
        by_category.insert(c, json!(n + 1));
    }
    json!({
        "total": total,
        "completed": completed,
        "pending": total - completed,
        "overdue": overdue,
        "by_priority": by_priority,
        "by_category": by_category,
    })
}

/// The stats endpoint agrees with counting, category by category (the
/// endpoint also lists categories without tasks, as 0).
async fn assert_counts_agree(app: &TestApp, user: &str) {
    let stats = app.stats(user).await;
    let truth = counted_from_the_list(app, user).await;
    for key in ["total", "completed", "pending", "overdue", "by_priority"] {
        assert_eq!(stats[key], truth[key], "{key}: {stats} vs counted {truth}");
    }
    for (category, n) in stats["by_category"].as_object().unwrap() {
        let counted = truth["by_category"].get(category).and_then(Value::as_i64);
        assert_eq!(
            n.as_i64(),
            Some(counted.unwrap_or(0)),
            "{category}: {stats}"
        );
    }
    // Totals of filters the counts answer, on a page too short to tell.
    for filter in [
        "status=pending",
        "status=completed",
        "priority=high",
        "category=work",
        "status=pending&priority=low&category=home",
    ] {
        let (tasks, _) = app.list(user, &format!("limit=100&{filter}")).await;
        let (_, total) = app.list(user, &format!("limit=1&{filter}")).await;
        assert_eq!(total, tasks.len() as i64, "X-Total-Count of {filter}");
    }
}

async fn counts_follow_every_kind_of_change(app: TestApp) {
    let app = Arc::new(app);
    let past = (chrono::Utc::now() - chrono::Duration::days(2)).to_rfc3339();
    let soon = (chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339();
    let later = (chrono::Utc::now() + chrono::Duration::days(2)).to_rfc3339();
    let mut ids = Vec::new();
    for (i, (priority, category, due)) in [
        ("high", "work", Some(&past)),
        ("low", "home", Some(&soon)),
        ("medium", "personal", Some(&later)),
        ("low", "work", None),
        ("high", "home", Some(&past)),
        ("medium", "work", Some(&soon)),
    ]
    .into_iter()
    .enumerate()
    {
        let mut body =
            json!({ "title": format!("t{i}"), "priority": priority, "category": category });
        if let Some(due) = due {
            body["due_date"] = json!(due);
        }
        ids.push(app.create("a", body).await["id"].as_i64().unwrap());
    }
    // User B's tasks are counted apart.
    app.create(
        "b",
        json!({ "title": "b", "priority": "high", "category": "work" }),
    )
    .await;
    assert_counts_agree(&app, "a").await;

    let call = |method: Method, path: String, body: Option<Value>| {
        let app = Arc::clone(&app);
        async move {
            app.call(method, &path, Some("a"), body.as_ref())
                .await
                .status()
                .as_u16()
        }
    };
    // A keyed create, and its replay (counted once).
    for _ in 0..2 {
        let resp = app
            .client
            .post(app.url("/api/tasks"))
            .bearer_auth(app.token("a"))
            .header("Idempotency-Key", "counted-once")
            .json(&json!({ "title": "keyed", "category": "home", "due_date": past }))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success());
    }
    // 9 toggles of one task at once: it ends completed, counted once.
    let toggles =
        (0..9).map(|_| call(Method::PATCH, format!("/api/tasks/{}/toggle", ids[0]), None));
    for status in futures::future::join_all(toggles).await {
        assert_eq!(status, 200);
    }
    // PATCHes that move a task (priority, category, due date, completed)
    // and one that does not; a PUT; a stale If-Match that changes nothing.
    let moves = [
        json!({ "priority": "high", "category": "personal" }),
        json!({ "due_date": later }),
        json!({ "completed": true }),
        json!({ "title": "renamed only" }),
        json!({ "due_date": null }),
    ];
    for (i, body) in moves.into_iter().enumerate() {
        let status = call(
            Method::PATCH,
            format!("/api/tasks/{}", ids[1 + i % 4]),
            Some(body),
        )
        .await;
        assert_eq!(status, 200);
    }
    let put = json!({ "title": "put", "priority": "low", "category": "other", "due_date": past });
    assert_eq!(
        call(Method::PUT, format!("/api/tasks/{}", ids[5]), Some(put)).await,
        200
    );
    let stale = app
        .client
        .patch(app.url(&format!("/api/tasks/{}", ids[2])))
        .bearer_auth(app.token("a"))
        .header("If-Match", "\"999\"")
        .json(&json!({ "priority": "low" }))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 412);
    // Deletes, one twice; B cannot delete or move A's tasks.
    assert_eq!(
        call(Method::DELETE, format!("/api/tasks/{}", ids[3]), None).await,
        204
    );
    assert_eq!(
        call(Method::DELETE, format!("/api/tasks/{}", ids[3]), None).await,
        404
    );
    let b_delete = app
        .call(
            Method::DELETE,
            &format!("/api/tasks/{}", ids[4]),
            Some("b"),
            None,
        )
        .await;
    assert_eq!(b_delete.status(), 404);
    let b_toggle = app
        .call(
            Method::PATCH,
            &format!("/api/tasks/{}/toggle", ids[4]),
            Some("b"),
            None,
        )
        .await;
    assert_eq!(b_toggle.status(), 404);

    assert_counts_agree(&app, "a").await;
    assert_counts_agree(&app, "b").await;
    assert_eq!(app.stats("b").await["total"], 1);
    // No tasks, no counts: an unknown user's stats are all 0.
    assert_eq!(app.stats("nobody").await["total"], 0);
}

/// `MAX_TASKS_PER_USER` (read from the counts): 12 creates at once for a
/// limit of 5 make exactly 5 tasks, the rest are refused.
async fn the_task_limit_holds_under_concurrent_creates(app: TestApp) {
    let limited = crate::hardening::second_server(&app, |s| s.limits.max_tasks_per_user = 5).await;
    let limited = Arc::new(limited);
    let creates = (0..12).map(|i| {
        let app = Arc::clone(&limited);
        async move {
            app.call(
                Method::POST,
                "/api/tasks",
                Some("full"),
                Some(&json!({ "title": format!("t{i}") })),
            )
            .await
            .status()
            .as_u16()
        }
    });
    let statuses = futures::future::join_all(creates).await;
    assert_eq!(
        statuses.iter().filter(|&&s| s == 201).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(limited.list("full", "").await.1, 5);
    assert_eq!(limited.stats("full").await["total"], 5);
    // Room again after a delete.
    let (tasks, _) = limited.list("full", "limit=1").await;
    let id = tasks[0]["id"].as_i64().unwrap();
    let deleted = limited
        .call(
            Method::DELETE,
            &format!("/api/tasks/{id}"),
            Some("full"),
            None,
        )
        .await;
    assert_eq!(deleted.status(), 204);
    limited.create_titled("full", "again").await;
    assert_eq!(limited.stats("full").await["total"], 5);
}

/// The task limit is read from the user's task total (migration 0009),
/// which a create with an Idempotency-Key (a transaction of statements
/// everywhere) and a plain create (one statement on PostgreSQL) both move,
/// as a delete does; its replay does not. Another user's tasks do not
/// count, and a create refused at the limit writes nothing.
async fn keyed_creates_and_deletes_move_the_task_limit(app: TestApp) {
    let limited = crate::hardening::second_server(&app, |s| s.limits.max_tasks_per_user = 3).await;
    let keyed = |key: &'static str| {
        let limited = &limited;
        async move {
            limited
                .client
                .post(limited.url("/api/tasks"))
                .bearer_auth(limited.token("kim"))
                .header("Idempotency-Key", key)
                .json(&json!({ "title": key }))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let plain = |user: &'static str| {
        let limited = &limited;
        async move {
            limited
                .post_task(
                    user,
                    json!({ "title": "plain", "due_date": "2030-01-01T00:00:00Z" }),
                )
                .await
                .status()
                .as_u16()
        }
    };
    assert_eq!(keyed("k1").await, 201);
    assert_eq!(keyed("k1").await, 201, "the replay");
    assert_eq!(keyed("k2").await, 201);
    for _ in 0..3 {
        assert_eq!(plain("lee").await, 201, "another user's room is their own");
    }
    assert_eq!(plain("kim").await, 201);
    assert_eq!(plain("kim").await, 409, "kim has 3");
    assert_eq!(keyed("k3").await, 409, "kim has 3");
    assert_eq!(plain("lee").await, 409, "lee has 3");
    assert_eq!(limited.list("kim", "").await.1, 3);
    assert_eq!(limited.stats("kim").await["total"], 3);
    assert_counts_agree(&limited, "kim").await;
    // A delete makes room for one, whichever way it is created.
    let (tasks, _) = limited.list("kim", "").await;
    for id in [
        tasks[0]["id"].as_i64().unwrap(),
        tasks[1]["id"].as_i64().unwrap(),
    ] {
        let deleted = limited
            .call(
                Method::DELETE,
                &format!("/api/tasks/{id}"),
                Some("kim"),
                None,
            )
            .await;
        assert_eq!(deleted.status(), 204);
    }
    // Lee's delete of kim's task is a 404 and frees no room.
    let other = tasks[2]["id"].as_i64().unwrap();
    let refused = limited
        .call(
            Method::DELETE,
            &format!("/api/tasks/{other}"),
            Some("lee"),
            None,
        )
        .await;
    assert_eq!(refused.status(), 404);
    assert_eq!(plain("lee").await, 409);
    assert_eq!(keyed("k4").await, 201);
    assert_eq!(plain("kim").await, 201);
    assert_eq!(plain("kim").await, 409);
    assert_eq!(limited.stats("kim").await["total"], 3);
    assert_counts_agree(&limited, "kim").await;
    assert_counts_agree(&limited, "lee").await;
}

/// A task due yesterday (UTC) is overdue while pending: each toggle takes
/// it out of its due day or back (the day the database computes from the
/// row, on PostgreSQL's one-statement toggle, must be the day the create
/// counted it under: a day later would be today's, which the overdue count
/// does not read, and the task would stay overdue once completed).
async fn a_toggle_moves_its_task_out_of_and_back_into_its_due_day(app: TestApp) {
    let yesterday = (chrono::Utc::now() - chrono::Duration::hours(24)).to_rfc3339();
    let late = app
        .create("a", json!({ "title": "late", "due_date": yesterday }))
        .await;
    let id = late["id"].as_i64().unwrap();
    app.create("b", json!({ "title": "b's late", "due_date": yesterday }))
        .await;
    assert_eq!(app.stats("a").await["overdue"], 1);
    for overdue in [0, 1, 0] {
        let toggled = app.toggle("a", id).await;
        assert_eq!(toggled.status(), 200);
        assert_eq!(app.stats("a").await["overdue"], overdue);
        assert_counts_agree(&app, "a").await;
    }
    // B's toggle of A's task is a 404 and moves nothing.
    let refused = app.toggle("b", id).await;
    assert_eq!(refused.status(), 404);
    assert_eq!(app.stats("a").await["overdue"], 0);
    assert_eq!(app.stats("b").await["overdue"], 1);
}

/// Two users' changes at once, some of which write nothing (B's toggles
/// and deletes of A's tasks: 404): on SQLite they commit in batches (group
/// commit), each change in a savepoint of its own, so a change that writes
/// nothing is undone without undoing its batch, and no change is answered
/// before its batch committed. Every write is there and counted; B's
/// attempts changed nothing of A's.
async fn concurrent_changes_of_two_users_commit_apart(app: TestApp) {
    let a1 = app.create_titled("a", "a1").await;
    let a2 = app.create_titled("a", "a2").await;
    let before = crate::metrics::scrape(&app).await;
    let mut calls = Vec::new();
    for i in 0..20 {
        for user in ["a", "b"] {
            let body = json!({ "title": format!("{user}{i}"), "priority": "high" });
            calls.push((user, Method::POST, "/api/tasks".to_owned(), Some(body), 201));
        }
    }
    for _ in 0..10 {
        calls.push((
            "a",
            Method::PATCH,
            format!("/api/tasks/{a1}/complete"),
            None,
            200,
        ));
    }
    for _ in 0..5 {
        calls.push((
            "b",
            Method::PATCH,
            format!("/api/tasks/{a1}/complete"),
            None,
            404,
        ));
        calls.push(("b", Method::DELETE, format!("/api/tasks/{a2}"), None, 404));
    }
    let sent = calls.iter().map(|(user, method, path, body, _)| async {
        let resp = app
            .call(method.clone(), path, Some(user), body.as_ref())
            .await;
        resp.status().as_u16()
    });
    let statuses = futures::future::join_all(sent).await;
    for ((user, method, path, _, want), got) in calls.iter().zip(&statuses) {
        assert_eq!(got, want, "{user} {method} {path}");
    }

    let (a_tasks, a_total) = app.list("a", "limit=100").await;
    let (b_tasks, b_total) = app.list("b", "limit=100").await;
    assert_eq!((a_total, b_total), (22, 20));
    let a_ids: Vec<i64> = a_tasks.iter().map(|t| t["id"].as_i64().unwrap()).collect();
    assert!(a_ids.contains(&a1) && a_ids.contains(&a2));
    assert!(
        b_tasks
            .iter()
            .all(|t| !a_ids.contains(&t["id"].as_i64().unwrap()))
    );
    let t: Value = app.get_task("a", a1).await.json().await.unwrap();
    assert_eq!(t["completed"], false, "ten toggles leave it where it was");
    assert_counts_agree(&app, "a").await;
    assert_counts_agree(&app, "b").await;
    assert_eq!(app.stats("b").await["by_priority"]["high"], 20);

    if app.backend == crate::helpers::Backend::Sqlite {
        // Counters are process-wide: other tests' commits add to both sides
        // alike (a commit of one change adds 1 to each), so more changes
        // than commits means some commit held several.
        let after = crate::metrics::scrape(&app).await;
        let delta = |name: &str| {
            crate::metrics::sample(&after, name) - crate::metrics::sample(&before, name)
        };
        let commits = delta("sqlite_write_batches_total{outcome=\"committed\"}");
        let changes = delta("sqlite_batched_changes_total");
        assert!(changes >= 50.0, "{changes} changes");
        assert!(changes > commits, "{changes} changes in {commits} commits");
    }
}

/// SQLite's write lock held by another process past the statement timeout:
/// the changes queued behind it (batched) are each either written and
/// answered 201, or answered 503 and not written; never both, none lost,
/// and the counts still say what the tasks say. A batch that timed out is
/// rolled back whole and its other changes run again on their own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_batches_behind_a_held_lock_write_all_or_refuse() {
    use sqlx::Connection;
    let test = "counts::sqlite_batches_behind_a_held_lock_write_all_or_refuse";
    let app = TestApp::spawn(crate::helpers::Backend::Sqlite, test)
        .await
        .expect("SQLite always runs");
    let slow =
        crate::hardening::second_server(&app, |s| s.database.statement_timeout_ms = 100).await;
    for user in ["a", "b"] {
        slow.create_titled(user, "before").await;
    }
    let before = crate::metrics::scrape(&slow).await;
    let mut holder = sqlx::SqliteConnection::connect(&app.database_url)
        .await
        .unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut holder)
        .await
        .unwrap();
    let creates = (0..20).map(|i| {
        let (user, title) = (["a", "b"][i % 2], format!("held {i}"));
        let slow = &slow;
        async move {
            let body = json!({ "title": title });
            let resp = slow
                .call(Method::POST, "/api/tasks", Some(user), Some(&body))
                .await;
            (user, title, resp.status().as_u16())
        }
    });
    let rolled_back = |text: &str| {
        crate::metrics::sample(text, "sqlite_write_batches_total{outcome=\"rolled_back\"}")
    };
    let rolled_back_before = rolled_back(&before);
    // Held until a batch behind it timed out and was rolled back (at most
    // 20 s: the assertion below says if it never was).
    let release = async {
        let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::time::Instant::now() < until {
            let now = crate::metrics::scrape(&slow).await;
            if rolled_back(&now) > rolled_back_before {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
    };
    let (outcomes, ()) = tokio::join!(futures::future::join_all(creates), release);

    let mut refused = 0;
    for user in ["a", "b"] {
        let (tasks, _) = app.list(user, "limit=100").await;
        let titles: Vec<&str> = tasks.iter().map(|t| t["title"].as_str().unwrap()).collect();
        for (_, title, status) in outcomes.iter().filter(|(u, ..)| *u == user) {
            let stored = titles.iter().filter(|t| *t == title).count();
            match status {
                201 => assert_eq!(stored, 1, "{title}: answered 201, stored {stored} times"),
                503 => {
                    refused += 1;
                    assert_eq!(stored, 0, "{title}: answered 503 but stored");
                }
                other => panic!("{title}: {other}"),
            }
        }
        assert_counts_agree(&app, user).await;
    }
    assert!(
        refused > 0,
        "a batch was rolled back, its failing change refused: {outcomes:?}"
    );
    let after = crate::metrics::scrape(&slow).await;
    assert!(
        rolled_back(&after) > rolled_back_before,
        "no batch was rolled back: {outcomes:?}"
    );
}

/// PostgreSQL: a user's row held locked (by another session) past the
/// statement timeout. Their create and toggle (one statement each on plain
/// PostgreSQL, a transaction of statements on Citus and through a pooler)
/// are answered 503 and write nothing: no task, no flip, no change number,
/// counts and task total as they were; another user's create is not held
/// up. Once the lock is gone the same writes go through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_writes_behind_a_held_user_row_are_refused_and_not_written() {
    let test = "counts::postgres_writes_behind_a_held_user_row_are_refused_and_not_written";
    let Some(app) = TestApp::spawn(crate::helpers::Backend::Postgres, test).await else {
        return;
    };
    let slow =
        crate::hardening::second_server(&app, |s| s.database.statement_timeout_ms = 100).await;
    let id = app.create_titled("a", "before").await;
    app.create_titled("b", "before").await;
    let cursor = crate::changes::feed(&app, "a", "").await["cursor"].clone();
    let stats = app.stats("a").await;
    let task = app.list("a", "").await.0[0].clone();
    // Both users seen by the slow server before the lock (their first
    // request records them, a write of the users row that would wait too).
    assert_eq!(slow.list("a", "").await.1, 1);
    assert_eq!(slow.list("b", "").await.1, 1);

    let mut holder = crate::helpers::pg_connect(&app.database_url).await;
    sqlx::query("BEGIN").execute(&mut holder).await.unwrap();
    sqlx::query("SELECT id FROM users WHERE id = $1 FOR UPDATE")
        .bind("a")
        .fetch_one(&mut holder)
        .await
        .unwrap();
    let created = slow.post_task("a", json!({ "title": "held" })).await;
    assert_eq!(created.status(), 503);
    assert_eq!(created.headers()["retry-after"], "1");
    let toggled = slow.toggle("a", id).await;
    assert_eq!(toggled.status(), 503);
    // Another user's row is not held.
    let other = slow.post_task("b", json!({ "title": "not held" })).await;
    assert_eq!(other.status(), 201);
    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();

    // Nothing of the refused writes, whatever their statements were doing
    // when the lock went.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (tasks, total) = app.list("a", "").await;
    assert_eq!(total, 1, "{tasks:?}");
    assert_eq!(tasks[0], task, "not flipped, not updated");
    assert_eq!(app.stats("a").await, stats);
    assert_eq!(crate::changes::feed(&app, "a", "").await["cursor"], cursor);
    assert_counts_agree(&app, "a").await;
    assert_eq!(app.list("b", "").await.1, 2);

    // The lock gone, the same writes go through, numbered on from there.
    let created = app.create_titled("a", "after").await;
    let toggled = app.toggle("a", id).await;
    assert_eq!(toggled.status(), 200);
    let page = crate::changes::feed(&app, "a", "").await;
    let seqs: Vec<i64> = page["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, vec![2, 3], "{page}");
    assert_eq!(page["changes"][0]["id"], created);
    assert_counts_agree(&app, "a").await;
    // The task limit still holds at exactly the user's tasks.
    let limited = crate::hardening::second_server(&app, |s| s.limits.max_tasks_per_user = 2).await;
    let refused = limited.post_task("a", json!({ "title": "third" })).await;
    assert_eq!(refused.status(), 409);
}
