//! `/metrics` (docs/operations.md): Prometheus text with requests and latency by route
//! template and status, auth failures by reason and the pool; labels never
//! carry raw paths or user ids. Tests share one process-wide recorder, so
//! they compare counts before and after.

use reqwest::Method;
use serde_json::json;

use crate::helpers::TestApp;

crate::both_backends!(metrics_count_by_route_template_status_and_reason);

pub async fn scrape(app: &TestApp) -> String {
    let resp = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    resp.text().await.unwrap()
}

/// The value of the sample whose name and labels start with `prefix`.
pub fn sample(text: &str, prefix: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum()
}

async fn metrics_count_by_route_template_status_and_reason(app: TestApp) {
    let user = format!("metrics-user-{}", uuid::Uuid::new_v4().simple());
    let get_200 = r#"http_requests_total{method="GET",route="/api/tasks/{id}",status="200"}"#;
    let get_404 = r#"http_requests_total{method="GET",route="/api/tasks/{id}",status="404"}"#;
    let expired = r#"auth_failures_total{reason="expired"}"#;
    let before = scrape(&app).await;

    let id = app.create_titled(&user, "counted").await;
    for _ in 0..3 {
        app.get_task(&user, id).await;
    }
    app.get_task(&user, 987_654_321).await;
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"sub": user, "exp": chrono::Utc::now().timestamp() - 3600}),
        &jsonwebtoken::EncodingKey::from_secret(crate::helpers::SECRET.as_bytes()),
    )
    .unwrap();
    let resp = app
        .client
        .get(app.url("/api/tasks"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    app.call(Method::GET, "/no/such/route/42", None, None).await;

    let after = scrape(&app).await;
    assert!(
        sample(&after, get_200) - sample(&before, get_200) >= 3.0,
        "{after}"
    );
    assert!(sample(&after, get_404) - sample(&before, get_404) >= 1.0);
    assert!(sample(&after, expired) - sample(&before, expired) >= 1.0);
    let buckets = r#"http_request_duration_seconds_bucket{method="GET",route="/api/tasks/{id}",status="200",le="+Inf"}"#;
    assert!(sample(&after, buckets) >= 3.0, "latency histogram by route");
    assert!(
        after.contains(r#"route="unmatched""#),
        "unknown paths share one label"
    );
    assert!(after.contains(r#"db_pool_connections{state="idle"}"#));
    assert!(after.contains(r#"db_pool_connections{state="in_use"}"#));
    // Route templates only: no ids, no raw paths, no user ids.
    for leak in [
        user.as_str(),
        "987654321",
        "/no/such/route",
        &format!("/api/tasks/{id}\""),
    ] {
        assert!(!after.contains(leak), "{leak} reached /metrics");
    }
}

/// `METRICS_ADDR`: `/metrics` on a listener of its own (e.g. loopback
/// only), and no longer on the API's port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_move_to_their_own_listener() {
    let app = TestApp::spawn_with(
        crate::helpers::Backend::Sqlite,
        "metrics::own_listener",
        |s| s.server.metrics_addr = Some("127.0.0.1:0".into()),
    )
    .await
    .unwrap();
    app.create_titled("u", "counted").await;
    let public = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(public.status(), 404);
    let private = app.metrics_base.clone().expect("a metrics listener");
    let resp = app
        .client
        .get(format!("{private}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(text.contains(r#"http_requests_total{method="POST",route="/api/tasks",status="201"}"#));
    // It serves nothing else.
    let other = app
        .client
        .get(format!("{private}/api/tasks"))
        .bearer_auth(app.token("u"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);
}
