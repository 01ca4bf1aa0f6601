//! Isolation: user B never sees, counts, changes or deletes user A's tasks,
//! by id guessing, by mixing route styles, or through stats.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_detail};

crate::both_backends!(
    another_users_task_is_indistinguishable_from_a_missing_one,
    lists_counts_search_and_stats_are_per_user,
);

async fn another_users_task_is_indistinguishable_from_a_missing_one(app: TestApp) {
    let a = app
        .create(
            "alice",
            json!({ "title": "secret plan", "description": "d" }),
        )
        .await;
    let id = a["id"].as_i64().unwrap();
    let missing = id + 1000;
    for prefix in ["/api", "/api/bob"] {
        for (method, suffix, body) in [
            (Method::GET, "", None),
            (Method::PUT, "", Some(json!({ "title": "pwned" }))),
            (
                Method::PATCH,
                "",
                Some(json!({ "title": "pwned", "completed": true })),
            ),
            (Method::PATCH, "/complete", None),
            (Method::DELETE, "", None),
        ] {
            let foreign = app
                .call(
                    method.clone(),
                    &format!("{prefix}/tasks/{id}{suffix}"),
                    Some("bob"),
                    body.as_ref(),
                )
                .await;
            let absent = app
                .call(
                    method.clone(),
                    &format!("{prefix}/tasks/{missing}{suffix}"),
                    Some("bob"),
                    body.as_ref(),
                )
                .await;
            assert_eq!(
                foreign.headers().get("content-type"),
                absent.headers().get("content-type")
            );
            assert_detail(foreign, 404, "Task not found").await;
            assert_detail(absent, 404, "Task not found").await;
        }
    }
    // Bob cannot reach Alice's scoped routes with his token.
    let resp = app
        .call(
            Method::GET,
            &format!("/api/alice/tasks/{id}"),
            Some("bob"),
            None,
        )
        .await;
    assert_detail(resp, 403, "User ID mismatch").await;
    // Alice's task is exactly as it was.
    let now: Value = app.get_task("alice", id).await.json().await.unwrap();
    assert_eq!(now, a);
}

async fn lists_counts_search_and_stats_are_per_user(app: TestApp) {
    let mut alice_ids = Vec::new();
    for i in 0..3 {
        let t = app
            .create(
                "alice",
                json!({ "title": format!("alpha {i}"), "completed": i == 0,
                                    "due_date": "2000-01-01" }),
            )
            .await;
        alice_ids.push(t["id"].as_i64().unwrap());
    }
    let bob_task = app.create_titled("bob", "bravo").await;
    for prefix in ["/api/bob/tasks", "/api/tasks"] {
        let resp = app
            .call(Method::GET, &format!("{prefix}?q=alpha"), Some("bob"), None)
            .await;
        assert_eq!(resp.headers()["x-total-count"], "0");
        assert!(resp.json::<Vec<Value>>().await.unwrap().is_empty());
    }
    let (tasks, total) = app.list("bob", "status=all&overdue=false").await;
    assert_eq!(total, 1);
    assert_eq!(tasks[0]["id"], bob_task);
    assert!(app.list_ids("bob", "overdue=true").await.is_empty());
    let s = app.stats("bob").await;
    assert_eq!(
        (&s["total"], &s["completed"], &s["overdue"]),
        (&json!(1), &json!(0), &json!(0))
    );
    let s = app.stats("alice").await;
    assert_eq!(
        (&s["total"], &s["completed"], &s["overdue"]),
        (&json!(3), &json!(1), &json!(2))
    );
    let me: Value = app
        .call_json(Method::GET, "/api/me", Some("bob"), None)
        .await;
    assert_eq!(me["tasks"]["total"], 1);
    // Alice's ids, and their neighbours, are all 404 for Bob (ids are not
    // dense: on Citus each worker hands out its own range).
    for &id in &alice_ids {
        for guess in [id - 1, id, id + 1] {
            let status = app.get_task("bob", guess).await.status();
            assert_eq!(
                status,
                if guess == bob_task { 200 } else { 404 },
                "id {guess}"
            );
        }
    }
    assert_eq!(app.get_task("bob", bob_task).await.status(), 200);
}
