//! Conditional requests (docs/api.md#safe-concurrent-edits-etag-if-match-if-none-match): `ETag` from the task's version, `If-Match`
//! on every write (412 when stale), `If-None-Match` on reads (304).

use reqwest::{Method, Response};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_detail};

crate::both_backends!(
    etags_follow_the_version_and_if_none_match_is_304,
    a_stale_if_match_is_412_and_changes_nothing,
    concurrent_editors_with_if_match_lose_no_update,
);

/// A request as `user` with extra headers.
async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    user: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> Response {
    let mut req = app
        .client
        .request(method, app.url(path))
        .bearer_auth(app.token(user));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    req.send().await.unwrap()
}

fn etag_of(resp: &Response) -> String {
    resp.headers()["etag"].to_str().unwrap().to_owned()
}

async fn etags_follow_the_version_and_if_none_match_is_304(app: TestApp) {
    let created = send(
        &app,
        Method::POST,
        "/api/tasks",
        "ann",
        Some(json!({"title": "a"})),
        &[],
    )
    .await;
    assert_eq!(created.status(), 201);
    let first = etag_of(&created);
    assert_eq!(first, "\"1\"", "a strong tag from the version");
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();
    let path = format!("/api/tasks/{id}");

    let got = send(&app, Method::GET, &path, "ann", None, &[]).await;
    assert_eq!(etag_of(&got), first);
    // Every change gives a new tag, carried by the write's own response.
    let patched = send(
        &app,
        Method::PATCH,
        &path,
        "ann",
        Some(json!({"title": "b"})),
        &[],
    )
    .await;
    let second = etag_of(&patched);
    assert_ne!(second, first);
    let toggled = send(
        &app,
        Method::PATCH,
        &format!("{path}/complete"),
        "ann",
        None,
        &[],
    )
    .await;
    let third = etag_of(&toggled);
    let put = send(
        &app,
        Method::PUT,
        &path,
        "ann",
        Some(json!({"title": "c"})),
        &[],
    )
    .await;
    let fourth = etag_of(&put);
    assert_eq!([&second, &third, &fourth], ["\"2\"", "\"3\"", "\"4\""]);

    // If-None-Match: 304 with the tag and no body when it matches.
    for matching in [fourth.as_str(), "*", "W/\"4\"", "\"1\", \"4\""] {
        let resp = send(
            &app,
            Method::GET,
            &path,
            "ann",
            None,
            &[("if-none-match", matching)],
        )
        .await;
        assert_eq!(resp.status(), 304, "{matching}");
        assert_eq!(etag_of(&resp), fourth);
        assert_eq!(resp.bytes().await.unwrap().len(), 0);
    }
    let scoped = format!("/api/ann/tasks/{id}");
    let resp = send(
        &app,
        Method::GET,
        &scoped,
        "ann",
        None,
        &[("if-none-match", &fourth)],
    )
    .await;
    assert_eq!(resp.status(), 304, "scoped route");
    for stale in [first.as_str(), "\"99\"", "junk"] {
        let resp = send(
            &app,
            Method::GET,
            &path,
            "ann",
            None,
            &[("if-none-match", stale)],
        )
        .await;
        assert_eq!(resp.status(), 200, "{stale}");
        assert_eq!(resp.json::<Value>().await.unwrap()["title"], "c");
    }
    // Another user learns nothing from conditional headers: 404 as always.
    let resp = send(
        &app,
        Method::GET,
        &path,
        "bob",
        None,
        &[("if-none-match", "*")],
    )
    .await;
    assert_detail(resp, 404, "Task not found").await;
}

async fn a_stale_if_match_is_412_and_changes_nothing(app: TestApp) {
    let id = app.create_titled("ann", "original").await;
    let path = format!("/api/tasks/{id}");
    let before: Value = send(&app, Method::GET, &path, "ann", None, &[])
        .await
        .json()
        .await
        .unwrap();
    let complete = format!("{path}/complete");
    let writes = [
        (
            Method::PUT,
            path.as_str(),
            Some(json!({"title": "replaced"})),
        ),
        (
            Method::PATCH,
            path.as_str(),
            Some(json!({"title": "patched"})),
        ),
        (Method::PATCH, path.as_str(), Some(json!({}))),
        (Method::PATCH, complete.as_str(), None),
        (Method::DELETE, path.as_str(), None),
    ];
    // Stale, unparseable and weak tags (If-Match compares strongly) are 412.
    for stale in ["\"7\"", "\"0\", \"2\"", "junk", "W/\"1\""] {
        for (method, route, body) in &writes {
            let resp = send(
                &app,
                method.clone(),
                route,
                "ann",
                body.clone(),
                &[("if-match", stale)],
            )
            .await;
            let what = format!("{method} {route} If-Match {stale}");
            assert_eq!(resp.status(), 412, "{what}");
            let detail: Value = resp.json().await.unwrap();
            assert!(detail["detail"].is_string(), "{what}: {detail}");
        }
    }
    let after = send(&app, Method::GET, &path, "ann", None, &[]).await;
    assert_eq!(etag_of(&after), "\"1\"");
    assert_eq!(
        after.json::<Value>().await.unwrap(),
        before,
        "nothing changed"
    );

    // Another user's task, or a missing one: 404 whatever If-Match says.
    for (user, route) in [
        ("bob", path.clone()),
        ("ann", "/api/tasks/999999".to_owned()),
    ] {
        for tag in ["\"1\"", "\"7\"", "*"] {
            let resp = send(
                &app,
                Method::PATCH,
                &route,
                user,
                Some(json!({"title": "x"})),
                &[("if-match", tag)],
            )
            .await;
            assert_eq!(resp.status(), 404, "{user} {route} {tag}");
            let resp = send(
                &app,
                Method::DELETE,
                &route,
                user,
                None,
                &[("if-match", tag)],
            )
            .await;
            assert_eq!(resp.status(), 404, "{user} {route} {tag}");
        }
    }

    // The current tag (or `*`, or a list holding it) lets each write through.
    let resp = send(
        &app,
        Method::PUT,
        &path,
        "ann",
        Some(json!({"title": "v2"})),
        &[("if-match", "\"1\"")],
    )
    .await;
    assert_eq!(
        (resp.status().as_u16(), etag_of(&resp)),
        (200, "\"2\"".to_owned())
    );
    let resp = send(
        &app,
        Method::PATCH,
        &path,
        "ann",
        Some(json!({})),
        &[("if-match", "\"2\"")],
    )
    .await;
    assert_eq!(
        (resp.status().as_u16(), etag_of(&resp)),
        (200, "\"2\"".to_owned())
    );
    let resp = send(
        &app,
        Method::PATCH,
        &path,
        "ann",
        Some(json!({"title": "v3"})),
        &[("if-match", "\"9\", \"2\"")],
    )
    .await;
    assert_eq!(etag_of(&resp), "\"3\"");
    let scoped = format!("/api/ann/tasks/{id}/complete");
    let resp = send(
        &app,
        Method::PATCH,
        &scoped,
        "ann",
        None,
        &[("if-match", "*")],
    )
    .await;
    assert_eq!(
        (resp.status().as_u16(), etag_of(&resp)),
        (200, "\"4\"".to_owned())
    );
    let resp = send(
        &app,
        Method::DELETE,
        &path,
        "ann",
        None,
        &[("if-match", "\"3\"")],
    )
    .await;
    assert_eq!(resp.status(), 412);
    let resp = send(
        &app,
        Method::DELETE,
        &path,
        "ann",
        None,
        &[("if-match", "\"4\"")],
    )
    .await;
    assert_eq!(resp.status(), 204);
    assert_eq!(app.get_task("ann", id).await.status(), 404);
}

/// Read-modify-write of a counter by many clients at once: with `If-Match`
/// and a retry on 412, every increment lands.
async fn concurrent_editors_with_if_match_lose_no_update(app: TestApp) {
    const EDITORS: usize = 8;
    const EACH: usize = 5;
    let id = app.create_titled("ann", "0").await;
    let path = format!("/api/tasks/{id}");
    // All editors read before any writes, the first time round: a certain
    // collision, so the retry path is always exercised.
    let all_read = tokio::sync::Barrier::new(EDITORS);
    let conflicts = futures::future::join_all((0..EDITORS).map(|_| {
        let (app, path, all_read) = (&app, &path, &all_read);
        async move {
            let mut conflicts = 0;
            for round in 0..EACH {
                loop {
                    let resp = send(app, Method::GET, path, "ann", None, &[]).await;
                    if round == 0 && conflicts == 0 {
                        all_read.wait().await;
                    }
                    let tag = etag_of(&resp);
                    let n: usize = resp.json::<Value>().await.unwrap()["title"]
                        .as_str()
                        .unwrap()
                        .parse()
                        .unwrap();
                    let body = json!({"title": (n + 1).to_string()});
                    let resp = send(
                        app,
                        Method::PATCH,
                        path,
                        "ann",
                        Some(body),
                        &[("if-match", &tag)],
                    )
                    .await;
                    match resp.status().as_u16() {
                        200 => break,
                        412 => conflicts += 1,
                        other => panic!("unexpected {other}"),
                    }
                }
            }
            conflicts
        }
    }))
    .await;
    let task: Value = send(&app, Method::GET, &path, "ann", None, &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        task["title"],
        (EDITORS * EACH).to_string(),
        "no increment lost"
    );
    // The first round alone made all but one editor retry.
    let total_conflicts: usize = conflicts.iter().sum();
    assert!(total_conflicts >= EDITORS - 1, "{conflicts:?}");
}
