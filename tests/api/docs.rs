//! The OpenAPI document (snapshot-tested, so a contract change shows up in
//! review) and Swagger UI at `/docs`, served from the binary with no
//! internet, checked in headless Chromium.

use std::process::Command;

use serde_json::Value;

use crate::cli::run_bin;
use crate::helpers::{Backend, TestApp};

const SNAPSHOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/snapshots/openapi.json");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_matches_its_snapshot_and_the_cli() {
    let app = TestApp::spawn(Backend::Sqlite, "docs::snapshot")
        .await
        .unwrap();
    let resp = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let served: Value = resp.json().await.unwrap();
    assert_eq!(served["openapi"], "3.1.0");

    // `todo-api openapi` prints the same document, with no configuration.
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, err) = run_bin(&["openapi"], &[("ENVIRONMENT", "production")], dir.path());
    assert!(ok, "{err}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), served);

    if std::env::var("UPDATE_SNAPSHOTS").is_ok() {
        std::fs::write(SNAPSHOT, out).unwrap();
    }
    let snapshot: Value =
        serde_json::from_str(&std::fs::read_to_string(SNAPSHOT).unwrap()).unwrap();
    assert!(
        served == snapshot,
        "the OpenAPI document changed: review it, then refresh the snapshot with \
         UPDATE_SNAPSHOTS=1 cargo test docs::"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_describes_every_route_in_both_styles() {
    let app = TestApp::spawn(Backend::Sqlite, "docs::routes")
        .await
        .unwrap();
    let doc: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let routes = [
        ("get", "/tasks"),
        ("post", "/tasks"),
        ("get", "/tasks/{id}"),
        ("put", "/tasks/{id}"),
        ("patch", "/tasks/{id}"),
        ("delete", "/tasks/{id}"),
        ("patch", "/tasks/{id}/complete"),
        ("get", "/stats"),
    ];
    for (method, route) in routes {
        for prefix in ["/api", "/api/{user_id}"] {
            let path = format!("{prefix}{route}");
            let op = &doc["paths"][&path][method];
            assert!(op.is_object(), "{method} {path} is not documented");
            assert_eq!(
                op["security"][0]["bearer"],
                serde_json::json!([]),
                "{method} {path}"
            );
            for status in ["401", "500", "503"] {
                assert!(
                    op["responses"][status].is_object(),
                    "{method} {path} {status}"
                );
            }
            let scoped = prefix != "/api";
            assert_eq!(
                op["responses"]["403"].is_object(),
                scoped,
                "{method} {path} 403"
            );
            // Each documented route answers as documented: 401 without a token.
            let url = app.url(&path.replace("{user_id}", "u").replace("{id}", "1"));
            let resp = app
                .client
                .request(method.to_uppercase().parse().unwrap(), url)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 401, "{method} {path}");
        }
    }
    assert!(doc["paths"]["/api/me"]["get"].is_object());
    assert!(
        doc["paths"]["/health"]["get"]["security"].is_null(),
        "health is public"
    );
    let scheme = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(
        (scheme["type"].as_str(), scheme["scheme"].as_str()),
        (Some("http"), Some("bearer"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swagger_ui_is_served_from_the_binary() {
    let app = TestApp::spawn(Backend::Sqlite, "docs::swagger")
        .await
        .unwrap();
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = no_redirects.get(app.url("/docs")).send().await.unwrap();
    assert!(resp.status().is_redirection());
    assert_eq!(resp.headers()["location"], "/docs/");
    let page = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    // The page may not be framed and loads only its own scripts (the
    // Chromium test below shows it still renders).
    let h = page.headers().clone();
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["x-content-type-options"], "nosniff");
    let csp = h["content-security-policy"].to_str().unwrap();
    for directive in [
        "frame-ancestors 'none'",
        "script-src 'self'",
        "default-src 'none'",
    ] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert!(page.text().await.unwrap().contains("swagger-ui"));
    // Every API answer says nosniff too.
    for path in ["/openapi.json", "/health", "/api/tasks", "/nowhere"] {
        let resp = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(
            resp.headers()["x-content-type-options"],
            "nosniff",
            "{path}"
        );
    }
    for asset in [
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-initializer.js",
    ] {
        let resp = app
            .client
            .get(app.url(&format!("/docs/{asset}")))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{asset}");
    }
    let init = app
        .client
        .get(app.url("/docs/swagger-initializer.js"))
        .send()
        .await
        .unwrap();
    assert!(init.text().await.unwrap().contains("/openapi.json"));
}

/// Debian's `chromium`, if installed.
pub fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|bin| {
            Command::new(bin)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

/// Load `url` in headless Chromium (no network but 127.0.0.1: pages must
/// work offline), let its scripts run for up to `budget_ms` of virtual
/// time, and return the DOM.
pub async fn rendered(browser: &'static str, url: String, budget_ms: u32) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--proxy-server=http://127.0.0.1:9",
                "--proxy-bypass-list=127.0.0.1",
                &format!("--user-data-dir={}", profile.path().display()),
                &format!("--virtual-time-budget={budget_ms}"),
                "--dump-dom",
                &url,
            ])
            .output()
            .expect("run chromium")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swagger_ui_renders_the_task_operations_in_headless_chromium() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var("CI").is_err(),
            "chromium must be installed in CI (apt-get install chromium)"
        );
        eprintln!("SKIPPED (Chromium): install Debian's chromium to run it");
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite, "docs::chromium")
        .await
        .unwrap();
    let dom = rendered(browser, app.url("/docs/"), 15_000).await;
    // Swagger UI rendered the document: its operations are on the page.
    for text in [
        "opblock",
        "/api/tasks/{id}/complete",
        "/api/{user_id}/tasks",
        "todo-api",
    ] {
        assert!(dom.contains(text), "{text} is not on the rendered page");
    }
}
