//! Pipelined reads (docs/benchmarks.md): PostgreSQL reads share a few connections,
//! each carrying many requests' statements at once. What must hold: a
//! writer waiting on a lock never stalls other users' reads, and a read
//! given up on (a timeout, a client that hung up) leaves its shared
//! connection answering every other request with its own rows.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;

use crate::helpers::{Backend, TestApp};

/// One shared read connection: every read of every user goes through it.
async fn one_pipeline(test: &str, statement_timeout_ms: u64) -> Option<Arc<TestApp>> {
    let app = TestApp::spawn_with(Backend::Postgres, test, |s| {
        s.database.db_pipeline_connections = 1;
        s.database.db_pool_size = 6;
        s.database.db_max_overflow = 0;
        s.limits.user_db_concurrency = 4;
        s.database.statement_timeout_ms = statement_timeout_ms;
    })
    .await?;
    Some(Arc::new(app))
}

/// User A's writers wait on a lock of A's row (as many as A may run at
/// once); user B's reads, on the one shared read connection, go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_blocked_on_a_row_lock_do_not_stall_other_users_reads() {
    let Some(app) = one_pipeline("pipeline::row_lock", 30_000).await else {
        return;
    };
    if app.store.through_pooler() {
        // No pipelining through a pooler: reads take a pooled connection,
        // and the pooler's own few server connections are held by the
        // blocked writers (`hardening::one_user_cannot_hold_every_connection`
        // is the pool's test).
        return;
    }
    let a_task = app.create_titled("a", "contended").await;
    let b_tasks: Vec<i64> = {
        let mut ids = Vec::new();
        for i in 0..5 {
            ids.push(app.create_titled("b", &format!("b's {i}")).await);
        }
        ids
    };
    let mut locker = crate::helpers::pg_connect(&app.database_url).await;
    sqlx::raw_sql("BEGIN; SELECT 1 FROM users WHERE id = 'a' FOR UPDATE")
        .execute(&mut locker)
        .await
        .unwrap();
    let writers: Vec<_> = (0..4)
        .map(|i| {
            let app = Arc::clone(&app);
            tokio::spawn(async move {
                let path = format!("/api/tasks/{a_task}");
                let body = serde_json::json!({ "title": format!("by writer {i}") });
                app.call(Method::PATCH, &path, Some("a"), Some(&body))
                    .await
                    .status()
                    .as_u16()
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // 200 reads of B, 8 at a time, every one answered with B's own task,
    // all while every writer of A still waits.
    let reads = futures::future::join_all((0..8).map(|lane| {
        let app = Arc::clone(&app);
        let b_tasks = b_tasks.clone();
        async move {
            for k in 0..25 {
                let id = b_tasks[(lane + k) % b_tasks.len()];
                let resp = app.get_task("b", id).await;
                assert_eq!(resp.status(), 200);
                let task: serde_json::Value = resp.json().await.unwrap();
                assert_eq!(task["id"], id, "a read is answered with its own row");
            }
        }
    }));
    tokio::time::timeout(Duration::from_secs(10), reads)
        .await
        .expect("B's reads are not queued behind A's blocked writers");
    assert_eq!(app.list("b", "").await.1, 5);
    assert!(
        writers.iter().all(|w| !w.is_finished()),
        "A's writers were still waiting on the lock"
    );
    sqlx::raw_sql("COMMIT").execute(&mut locker).await.unwrap();
    for w in writers {
        assert_eq!(
            w.await.unwrap(),
            200,
            "A's writes complete once the lock goes"
        );
    }
    let resp = app.get_task("a", a_task).await;
    assert_eq!(
        resp.headers()["etag"],
        "\"5\"",
        "each of the 4 writes applied once"
    );
    let got: serde_json::Value = resp.json().await.unwrap();
    assert!(got["title"].as_str().unwrap().starts_with("by writer"));
}

/// Reads held up inside the database (a lock on the table) on the one
/// shared connection: some are given up by their clients, the rest run
/// past the statement timeout (503). Afterwards the connection answers
/// every read with the rows it asked for, none with another's answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_given_up_leave_the_shared_connection_in_step() {
    if crate::helpers::citus_workers().is_some() {
        // A table lock on a Citus coordinator is not what holds reads here.
        return;
    }
    let Some(app) = one_pipeline("pipeline::given_up", 1_500).await else {
        return;
    };
    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(app.create_titled("u", &format!("task {i}")).await);
    }
    let check_all = |app: Arc<TestApp>, ids: Vec<i64>| async move {
        let checks = ids.iter().map(|&id| {
            let app = Arc::clone(&app);
            async move {
                let resp = app.get_task("u", id).await;
                assert_eq!(resp.status(), 200);
                let task: serde_json::Value = resp.json().await.unwrap();
                assert_eq!(task["id"], id, "each read gets its own row");
            }
        });
        futures::future::join_all(checks).await;
    };
    check_all(Arc::clone(&app), ids.clone()).await;

    let mut locker = crate::helpers::pg_connect(&app.database_url).await;
    sqlx::raw_sql("BEGIN; LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE")
        .execute(&mut locker)
        .await
        .unwrap();
    // Half hang up after 200 ms; the others wait for their answer.
    let abandoned = ids.iter().step_by(2).map(|&id| {
        let app = Arc::clone(&app);
        async move {
            let gave_up =
                tokio::time::timeout(Duration::from_millis(200), app.get_task("u", id)).await;
            assert!(gave_up.is_err(), "the read was held by the lock");
        }
    });
    let waited = ids.iter().skip(1).step_by(2).map(|&id| {
        let app = Arc::clone(&app);
        async move { app.get_task("u", id).await.status().as_u16() }
    });
    let (_, statuses) = tokio::join!(
        futures::future::join_all(abandoned),
        futures::future::join_all(waited)
    );
    assert!(
        statuses.iter().all(|&s| s == 503),
        "reads past the statement timeout are 503: {statuses:?}"
    );
    // Reads that wait for the lock's end get their own rows.
    let during = {
        let app = Arc::clone(&app);
        let ids = ids.clone();
        tokio::spawn(check_all(app, ids))
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    sqlx::raw_sql("COMMIT").execute(&mut locker).await.unwrap();
    during.await.unwrap();
    // And so does everything after.
    for _ in 0..3 {
        check_all(Arc::clone(&app), ids.clone()).await;
    }
    assert_eq!(app.list("u", "").await.1, 10);
}
