//! Rate limits (docs/security.md): per user and per client address, configurable,
//! off by default; 429 with `Retry-After` in the API's error format (docs/api.md#errors).

use std::time::Duration;

use reqwest::{Method, Response};

use crate::helpers::{Backend, TestApp, assert_detail};

async fn assert_429(resp: Response) {
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "Retry-After: {retry}");
    assert_detail(resp, 429, "Too many requests").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_user_limits_refuse_the_excess_and_refill() {
    let app = TestApp::spawn_with(Backend::Sqlite, "ratelimit::user", |s| {
        s.limits.rate_limit_user_per_second = 2;
        s.limits.rate_limit_user_burst = 4;
    })
    .await
    .unwrap();
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(
            app.call(Method::GET, "/api/tasks", Some("busy"), None)
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(&statuses[..4], [200; 4], "the burst");
    assert!(statuses[4..].contains(&429), "{statuses:?}");
    assert_429(
        app.call(Method::POST, "/api/tasks", Some("busy"), None)
            .await,
    )
    .await;
    // Another user has a bucket of their own.
    assert_eq!(
        app.call(Method::GET, "/api/tasks", Some("calm"), None)
            .await
            .status(),
        200
    );
    // The bucket refills (2 per second).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        app.call(Method::GET, "/api/tasks", Some("busy"), None)
            .await
            .status(),
        200
    );
    // Refused requests wrote nothing.
    assert_eq!(app.list("calm", "").await.1, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_client_limits_apply_before_authentication() {
    let app = TestApp::spawn_with(Backend::Sqlite, "ratelimit::ip", |s| {
        s.limits.rate_limit_ip_per_second = 1;
        s.limits.rate_limit_ip_burst = 3;
    })
    .await
    .unwrap();
    // Three requests from this address, whoever sends them and whether or
    // not they are authenticated; then 429, even for a new user.
    assert_eq!(
        app.call(Method::GET, "/api/tasks", Some("a"), None)
            .await
            .status(),
        200
    );
    assert_eq!(
        app.call(Method::GET, "/api/tasks", None, None)
            .await
            .status(),
        401
    );
    assert_eq!(
        app.call(Method::GET, "/health", None, None).await.status(),
        200
    );
    assert_429(app.call(Method::GET, "/api/tasks", Some("b"), None).await).await;
    assert_429(app.call(Method::GET, "/api/tasks", None, None).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_configuration_there_is_no_limit() {
    let app = TestApp::spawn(Backend::Sqlite, "ratelimit::off")
        .await
        .unwrap();
    let statuses = futures::future::join_all(
        (0..200).map(|_| app.call(Method::GET, "/api/tasks", Some("free"), None)),
    )
    .await;
    assert!(statuses.iter().all(|r| r.status() == 200));
}
