//! The task itself: create, read, replace, patch, toggle, delete (docs/api.md, 5.1).

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_422, assert_detail};

crate::both_backends!(
    create_returns_201_location_and_every_field,
    create_ignores_user_id_and_unknown_fields,
    get_by_id_and_missing_ids,
    put_replaces_and_keeps_created_at,
    patch_changes_only_present_fields,
    patch_completed_alone_as_in_seed_001,
    status_in_a_body_sets_completed_as_in_seed_002,
    toggle_flips_and_flips_back,
    delete_is_204_empty_then_404,
    concurrent_toggles_lose_nothing,
    concurrent_writers_all_succeed,
    scoped_routes_behave_like_plain_ones,
    stats_count_by_status_priority_category,
    me_reports_user_and_counts,
);

async fn create_returns_201_location_and_every_field(app: TestApp) {
    let resp = app
        .call(
            Method::POST,
            "/api/tasks",
            Some("alice"),
            Some(&json!({
                "title": "  Buy milk  ", "description": "2 litres", "priority": "high",
                "category": "home", "due_date": "2030-01-02"
            })),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let task: Value = resp.json().await.unwrap();
    let id = task["id"].as_i64().unwrap();
    assert_eq!(location, format!("/api/tasks/{id}"));
    assert_eq!(task["user_id"], "alice");
    assert_eq!(task["title"], "Buy milk", "title is trimmed");
    assert_eq!(task["description"], "2 litres");
    assert_eq!(task["completed"], false);
    assert_eq!(task["status"], "pending");
    assert_eq!(task["priority"], "high");
    assert_eq!(task["category"], "home");
    assert_eq!(task["due_date"], "2030-01-02T00:00:00.000000Z");
    let created = task["created_at"].as_str().unwrap();
    assert!(created.ends_with('Z'), "{created}");
    assert_eq!(task["updated_at"], task["created_at"]);

    // The Location resolves to the same task.
    let again: Value = app
        .call_json(Method::GET, &location, Some("alice"), None)
        .await;
    assert_eq!(again, task);

    // Defaults.
    let t = app.create("alice", json!({ "title": "x" })).await;
    assert_eq!(
        (
            &t["priority"],
            &t["category"],
            &t["description"],
            &t["due_date"]
        ),
        (
            &json!("medium"),
            &json!("other"),
            &Value::Null,
            &Value::Null
        )
    );
    let t = app
        .create("alice", json!({ "title": "done", "completed": true }))
        .await;
    assert_eq!(
        (&t["completed"], &t["status"]),
        (&json!(true), &json!("completed"))
    );
}

async fn create_ignores_user_id_and_unknown_fields(app: TestApp) {
    let t = app
        .create(
            "bob",
            json!({ "title": "mine", "user_id": "alice", "colour": "red" }),
        )
        .await;
    assert_eq!(t["user_id"], "bob");
    assert!(t.get("colour").is_none());
    assert!(app.list_ids("alice", "").await.is_empty());
}

async fn get_by_id_and_missing_ids(app: TestApp) {
    let id = app.create_titled("alice", "a").await;
    let resp = app.get_task("alice", id).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap()["id"], id);
    for missing in [
        "0",
        "-1",
        "999999",
        "9223372036854775807",
        "-9223372036854775808",
    ] {
        let resp = app
            .call(
                Method::GET,
                &format!("/api/tasks/{missing}"),
                Some("alice"),
                None,
            )
            .await;
        assert_detail(resp, 404, "Task not found").await;
    }
    for bad in ["abc", "1.5", "9223372036854775808", "1e3", "%20"] {
        let resp = app
            .call(
                Method::GET,
                &format!("/api/tasks/{bad}"),
                Some("alice"),
                None,
            )
            .await;
        assert_422(resp, &[json!(["path", "id"])]).await;
    }
}

async fn put_replaces_and_keeps_created_at(app: TestApp) {
    let t = app
        .create(
            "alice",
            json!({ "title": "a", "description": "d", "priority": "high",
                    "category": "work", "due_date": "2030-01-01T10:00:00Z", "completed": true }),
        )
        .await;
    let id = t["id"].as_i64().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let resp = app
        .call(
            Method::PUT,
            &format!("/api/tasks/{id}"),
            Some("alice"),
            Some(&json!({ "title": "b" })),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let u: Value = resp.json().await.unwrap();
    // Omitted fields become null or their default; completed stays.
    assert_eq!(u["title"], "b");
    assert_eq!(u["description"], Value::Null);
    assert_eq!(u["priority"], "medium");
    assert_eq!(u["category"], "other");
    assert_eq!(u["due_date"], Value::Null);
    assert_eq!(u["completed"], true);
    assert_eq!(u["created_at"], t["created_at"]);
    assert!(u["updated_at"].as_str() > t["updated_at"].as_str());
    // completed is set when present; the stored state is what GET returns.
    let resp = app
        .call(
            Method::PUT,
            &format!("/api/tasks/{id}"),
            Some("alice"),
            Some(&json!({ "title": "c", "completed": false })),
        )
        .await;
    let u: Value = resp.json().await.unwrap();
    assert_eq!(
        (&u["completed"], &u["status"]),
        (&json!(false), &json!("pending"))
    );
    let stored: Value = app.get_task("alice", id).await.json().await.unwrap();
    assert_eq!(stored, u);
    // PUT needs a title.
    let resp = app
        .call(
            Method::PUT,
            &format!("/api/tasks/{id}"),
            Some("alice"),
            Some(&json!({})),
        )
        .await;
    assert_422(resp, &[json!(["body", "title"])]).await;
    let resp = app
        .call(
            Method::PUT,
            "/api/tasks/424242",
            Some("alice"),
            Some(&json!({ "title": "x" })),
        )
        .await;
    assert_detail(resp, 404, "Task not found").await;
}

async fn patch_changes_only_present_fields(app: TestApp) {
    let t = app
        .create(
            "alice",
            json!({ "title": "a", "description": "d", "due_date": "2030-01-01", "priority": "low" }),
        )
        .await;
    let id = t["id"].as_i64().unwrap();
    let path = format!("/api/tasks/{id}");
    let patch = |body: Value| {
        let app = &app;
        let path = path.clone();
        async move {
            app.call(Method::PATCH, &path, Some("alice"), Some(&body))
                .await
        }
    };

    // {} changes nothing, not even updated_at.
    let same: Value = patch(json!({})).await.json().await.unwrap();
    assert_eq!(same, t);

    let u: Value = patch(json!({ "priority": "high", "category": "work" }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (&u["priority"], &u["category"]),
        (&json!("high"), &json!("work"))
    );
    assert_eq!((&u["title"], &u["description"]), (&json!("a"), &json!("d")));
    assert_eq!(u["due_date"], t["due_date"]);
    assert_eq!(u["created_at"], t["created_at"]);
    assert_ne!(u["updated_at"], t["updated_at"]);

    // null clears description and due_date.
    let u: Value = patch(json!({ "description": null, "due_date": null }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (&u["description"], &u["due_date"]),
        (&Value::Null, &Value::Null)
    );
    assert_eq!(u["priority"], "high");

    // null for any other field is a 422, all reported together, nothing changed.
    let resp =
        patch(json!({ "title": null, "completed": null, "priority": null, "category": null }))
            .await;
    assert_422(
        resp,
        &[
            json!(["body", "title"]),
            json!(["body", "completed"]),
            json!(["body", "priority"]),
            json!(["body", "category"]),
        ],
    )
    .await;
    let stored: Value = app.get_task("alice", id).await.json().await.unwrap();
    assert_eq!(stored, u);

    let resp = patch(json!({ "title": "x".repeat(201) })).await;
    assert_422(resp, &[json!(["body", "title"])]).await;
}

async fn patch_completed_alone_as_in_seed_001(app: TestApp) {
    let id = app.create_titled("alice", "a").await;
    let path = format!("/api/alice/tasks/{id}");
    for state in [true, false, true] {
        let u: Value = app
            .call_json(
                Method::PATCH,
                &path,
                Some("alice"),
                Some(&json!({ "completed": state })),
            )
            .await;
        assert_eq!(u["completed"], state);
        assert_eq!(u["status"], if state { "completed" } else { "pending" });
    }
}

async fn status_in_a_body_sets_completed_as_in_seed_002(app: TestApp) {
    let t = app
        .create("alice", json!({ "title": "a", "status": "completed" }))
        .await;
    assert_eq!(
        (&t["completed"], &t["status"]),
        (&json!(true), &json!("completed"))
    );
    let path = format!("/api/alice/tasks/{}", t["id"]);
    let resp = app
        .call(
            Method::PATCH,
            &path,
            Some("alice"),
            Some(&json!({ "status": "pending" })),
        )
        .await;
    assert_eq!(resp.json::<Value>().await.unwrap()["completed"], false);
    let resp = app
        .call(
            Method::PATCH,
            &path,
            Some("alice"),
            Some(&json!({ "status": "finished" })),
        )
        .await;
    assert_422(resp, &[json!(["body", "status"])]).await;
}

async fn toggle_flips_and_flips_back(app: TestApp) {
    let id = app.create_titled("alice", "a").await;
    let path = format!("/api/tasks/{id}/complete");
    let first: Value = app
        .call_json(Method::PATCH, &path, Some("alice"), None)
        .await;
    assert_eq!(
        (&first["completed"], &first["status"]),
        (&json!(true), &json!("completed"))
    );
    // A body, if any, is ignored.
    let second: Value = app
        .call_json(
            Method::PATCH,
            &path,
            Some("alice"),
            Some(&json!({ "completed": false })),
        )
        .await;
    assert_eq!(second["completed"], false);
    let resp = app
        .call(
            Method::PATCH,
            "/api/tasks/77777/complete",
            Some("alice"),
            None,
        )
        .await;
    assert_detail(resp, 404, "Task not found").await;
}

async fn delete_is_204_empty_then_404(app: TestApp) {
    let id = app.create_titled("alice", "a").await;
    let path = format!("/api/tasks/{id}");
    let resp = app.call(Method::DELETE, &path, Some("alice"), None).await;
    assert_eq!(resp.status(), 204);
    assert!(resp.bytes().await.unwrap().is_empty());
    let resp = app.call(Method::DELETE, &path, Some("alice"), None).await;
    assert_detail(resp, 404, "Task not found").await;
    assert_detail(app.get_task("alice", id).await, 404, "Task not found").await;
    // Ids are not reused after a delete.
    let next = app.create_titled("alice", "b").await;
    assert!(next > id);
}

async fn concurrent_toggles_lose_nothing(app: TestApp) {
    let id = app.create_titled("alice", "a").await;
    let path = format!("/api/tasks/{id}/complete");
    let toggles = (0..51).map(|_| app.call(Method::PATCH, &path, Some("alice"), None));
    for resp in futures::future::join_all(toggles).await {
        assert_eq!(resp.status(), 200);
    }
    // 51 toggles from pending: an odd count, so completed.
    let t: Value = app.get_task("alice", id).await.json().await.unwrap();
    assert_eq!(t["completed"], true);
    let more = (0..50).map(|_| app.call(Method::PATCH, &path, Some("alice"), None));
    futures::future::join_all(more).await;
    let t: Value = app.get_task("alice", id).await.json().await.unwrap();
    assert_eq!(t["completed"], true, "an even count leaves it where it was");
}

async fn concurrent_writers_all_succeed(app: TestApp) {
    let bodies: Vec<Value> = (0..50)
        .map(|i| json!({ "title": format!("task {i}") }))
        .collect();
    let creates = bodies.iter().enumerate().map(|(i, body)| {
        let user = if i % 2 == 0 { "alice" } else { "bob" };
        app.call(Method::POST, "/api/tasks", Some(user), Some(body))
    });
    for resp in futures::future::join_all(creates).await {
        let status = resp.status();
        assert_eq!(status, 201, "{}", resp.text().await.unwrap());
    }
    assert_eq!(app.list("alice", "").await.1, 25);
    assert_eq!(app.list("bob", "").await.1, 25);
}

async fn scoped_routes_behave_like_plain_ones(app: TestApp) {
    let resp = app
        .call(
            Method::POST,
            "/api/alice/tasks",
            Some("alice"),
            Some(&json!({ "title": "s" })),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let t: Value = resp.json().await.unwrap();
    let id = t["id"].as_i64().unwrap();
    assert_eq!(location, format!("/api/alice/tasks/{id}"));
    let via_plain: Value = app.get_task("alice", id).await.json().await.unwrap();
    let via_scoped: Value = app
        .call_json(Method::GET, &location, Some("alice"), None)
        .await;
    assert_eq!(via_plain, via_scoped);
    let listed = app
        .call_json(Method::GET, "/api/alice/tasks", Some("alice"), None)
        .await;
    assert_eq!(listed, json!([via_plain]));
    let resp = app
        .call(
            Method::PATCH,
            &format!("{location}/complete"),
            Some("alice"),
            None,
        )
        .await;
    assert_eq!(resp.json::<Value>().await.unwrap()["completed"], true);
    let resp = app
        .call(Method::GET, "/api/alice/stats", Some("alice"), None)
        .await;
    assert_eq!(resp.json::<Value>().await.unwrap()["completed"], 1);
    let resp = app
        .call(Method::DELETE, &location, Some("alice"), None)
        .await;
    assert_eq!(resp.status(), 204);
    // Trailing slashes are accepted, as FastAPI's redirect would.
    let resp = app
        .call(Method::GET, "/api/alice/tasks/", Some("alice"), None)
        .await;
    assert_eq!(resp.status(), 200);
}

async fn stats_count_by_status_priority_category(app: TestApp) {
    let empty = app.stats("alice").await;
    assert_eq!(
        empty,
        json!({ "total": 0, "completed": 0, "pending": 0, "overdue": 0, "completion_rate": 0.0,
                "by_priority": { "low": 0, "medium": 0, "high": 0 },
                "by_category": { "work": 0, "personal": 0, "home": 0, "other": 0 } })
    );
    app.create(
        "alice",
        json!({ "title": "a", "priority": "high", "category": "work",
                                "due_date": "2000-01-01" }),
    )
    .await;
    app.create(
        "alice",
        json!({ "title": "b", "priority": "high", "completed": true,
                                "due_date": "2000-01-01" }),
    )
    .await;
    app.create(
        "alice",
        json!({ "title": "c", "priority": "low", "category": "home",
                                "due_date": "2999-01-01" }),
    )
    .await;
    app.create("alice", json!({ "title": "d", "category": "home" }))
        .await;
    let s = app.stats("alice").await;
    assert_eq!(s["total"], 4);
    assert_eq!(s["completed"], 1);
    assert_eq!(s["pending"], 3);
    assert_eq!(s["overdue"], 1, "only pending tasks past due are overdue");
    assert_eq!(s["completion_rate"], 0.25);
    assert_eq!(
        s["by_priority"],
        json!({ "low": 1, "medium": 1, "high": 2 })
    );
    assert_eq!(
        s["by_category"],
        json!({ "work": 1, "personal": 0, "home": 2, "other": 1 })
    );
}

async fn me_reports_user_and_counts(app: TestApp) {
    app.create_titled("alice", "a").await;
    let resp = app.call(Method::GET, "/api/me", Some("alice"), None).await;
    assert_eq!(resp.status(), 200);
    let me: Value = resp.json().await.unwrap();
    assert_eq!(me["id"], "alice");
    assert_eq!(me["tasks"]["total"], 1);
    assert_eq!(me["tasks"]["pending"], 1);
    // /api/me exists only in the plain style.
    let resp = app
        .call(Method::GET, "/api/alice/me", Some("alice"), None)
        .await;
    assert_eq!(resp.status(), 404);
}
