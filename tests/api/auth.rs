//! Authentication (docs/auth.md): the header, HS256/384/512, claims, failures.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, Response};
use serde_json::{Value, json};

use crate::helpers::{Backend, SECRET, TestApp, assert_detail};

crate::both_backends!(
    missing_or_malformed_header_is_401_without_invalid_token,
    every_hmac_algorithm_is_accepted,
    bad_tokens_are_401_invalid_token,
    expiry_and_not_before_honour_the_leeway,
    user_claim_order_and_limits,
    mismatched_path_user_is_403,
    token_claims_fill_the_users_table,
);

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn sign(alg: Algorithm, secret: &str, claims: Value) -> String {
    jsonwebtoken::encode(
        &Header::new(alg),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

async fn with_header(app: &TestApp, value: &str) -> Response {
    app.client
        .get(app.url("/api/tasks"))
        .header("authorization", value)
        .send()
        .await
        .unwrap()
}

async fn assert_401(resp: Response, token_sent: bool) {
    let challenge = resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    let expected = if token_sent {
        r#"Bearer error="invalid_token""#
    } else {
        "Bearer"
    };
    assert_eq!(challenge, expected);
    assert_detail(resp, 401, "Invalid authentication credentials").await;
}

async fn missing_or_malformed_header_is_401_without_invalid_token(app: TestApp) {
    assert_401(app.call(Method::GET, "/api/tasks", None, None).await, false).await;
    for value in ["", "Bearer", "Bearer   ", "Basic dXNlcjpwYXNz", "Token abc"] {
        assert_401(with_header(&app, value).await, false).await;
    }
    // Every task route refuses an anonymous caller.
    for (m, p) in [
        (Method::POST, "/api/tasks"),
        (Method::GET, "/api/tasks/1"),
        (Method::PUT, "/api/tasks/1"),
        (Method::PATCH, "/api/tasks/1"),
        (Method::PATCH, "/api/tasks/1/complete"),
        (Method::DELETE, "/api/tasks/1"),
        (Method::GET, "/api/stats"),
        (Method::GET, "/api/me"),
        (Method::GET, "/api/u/tasks"),
        (Method::GET, "/api/u/stats"),
    ] {
        let resp = app.call(m.clone(), p, None, None).await;
        assert_eq!(resp.status(), 401, "{m} {p}");
    }
    // The scheme is case-insensitive.
    let token = app.token("u");
    assert_eq!(
        with_header(&app, &format!("bearer {token}")).await.status(),
        200
    );
    assert_eq!(
        with_header(&app, &format!("BEARER {token}")).await.status(),
        200
    );
}

async fn every_hmac_algorithm_is_accepted(app: TestApp) {
    for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
        let t = sign(alg, SECRET, json!({ "sub": "u", "exp": now() + 60 }));
        assert_eq!(
            with_header(&app, &format!("Bearer {t}")).await.status(),
            200,
            "{alg:?}"
        );
    }
}

async fn bad_tokens_are_401_invalid_token(app: TestApp) {
    let exp = now() + 600;
    let b64 = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let cases = vec![
        (
            "wrong secret",
            sign(
                Algorithm::HS256,
                "another-secret-another-secret-xx",
                json!({ "sub": "u", "exp": exp }),
            ),
        ),
        (
            "alg none",
            format!(
                "{}.{}.",
                b64(json!({ "alg": "none", "typ": "JWT" })),
                b64(json!({ "sub": "u", "exp": exp }))
            ),
        ),
        ("RS256 header, HMAC signature", {
            let good = sign(Algorithm::HS256, SECRET, json!({ "sub": "u", "exp": exp }));
            let sig = good.rsplit('.').next().unwrap().to_owned();
            format!(
                "{}.{}.{sig}",
                b64(json!({ "alg": "RS256", "typ": "JWT" })),
                b64(json!({ "sub": "u", "exp": exp }))
            )
        }),
        (
            "no exp",
            sign(Algorithm::HS256, SECRET, json!({ "sub": "u" })),
        ),
        (
            "exp not a number",
            sign(
                Algorithm::HS256,
                SECRET,
                json!({ "sub": "u", "exp": "later" }),
            ),
        ),
        ("garbage", "not-a-jwt".to_owned()),
        ("bad base64", "a$b.c$d.e$f".to_owned()),
        (
            "too large",
            sign(
                Algorithm::HS256,
                SECRET,
                json!({ "sub": "u", "exp": exp, "pad": "x".repeat(9000) }),
            ),
        ),
        ("tampered payload", {
            let good = sign(Algorithm::HS256, SECRET, json!({ "sub": "u", "exp": exp }));
            let parts: Vec<&str> = good.split('.').collect();
            format!(
                "{}.{}.{}",
                parts[0],
                b64(json!({ "sub": "admin", "exp": exp })),
                parts[2]
            )
        }),
    ];
    for (name, token) in cases {
        let resp = with_header(&app, &format!("Bearer {token}")).await;
        assert_eq!(resp.status(), 401, "{name}");
        assert_401(resp, true).await;
    }
}

async fn expiry_and_not_before_honour_the_leeway(app: TestApp) {
    let status = |claims: Value| {
        let app = &app;
        async move {
            let t = sign(Algorithm::HS256, SECRET, claims);
            with_header(app, &format!("Bearer {t}")).await.status()
        }
    };
    // Default leeway is 30 s.
    assert_eq!(status(json!({ "sub": "u", "exp": now() - 10 })).await, 200);
    assert_eq!(status(json!({ "sub": "u", "exp": now() - 120 })).await, 401);
    assert_eq!(
        status(json!({ "sub": "u", "exp": now() + 60, "nbf": now() + 10 })).await,
        200
    );
    assert_eq!(
        status(json!({ "sub": "u", "exp": now() + 600, "nbf": now() + 300 })).await,
        401
    );
}

async fn user_claim_order_and_limits(app: TestApp) {
    let who = |claims: Value| {
        let app = &app;
        async move {
            let t = sign(Algorithm::HS256, SECRET, claims);
            let resp = app.me_with(&t).await;
            if resp.status() == 200 {
                Some(
                    resp.json::<Value>().await.unwrap()["id"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                )
            } else {
                assert_eq!(resp.status(), 401);
                None
            }
        }
    };
    let exp = now() + 60;
    // user_id first (seed 000), then sub (seeds 002/003, Better Auth).
    assert_eq!(
        who(json!({ "user_id": "a", "sub": "b", "exp": exp }))
            .await
            .as_deref(),
        Some("a")
    );
    assert_eq!(
        who(json!({ "sub": "b", "exp": exp })).await.as_deref(),
        Some("b")
    );
    assert_eq!(
        who(json!({ "user_id": "", "sub": "b", "exp": exp }))
            .await
            .as_deref(),
        Some("b")
    );
    assert_eq!(
        who(json!({ "user_id": 42, "sub": "b", "exp": exp }))
            .await
            .as_deref(),
        Some("b")
    );
    assert_eq!(who(json!({ "exp": exp })).await, None);
    assert_eq!(who(json!({ "sub": 7, "exp": exp })).await, None);
    assert_eq!(
        who(json!({ "sub": "x".repeat(256), "exp": exp })).await,
        None
    );
}

async fn mismatched_path_user_is_403(app: TestApp) {
    let id = app.create_titled("alice", "a").await;
    for (m, p) in [
        (Method::GET, "/api/alice/tasks".to_owned()),
        (Method::POST, "/api/alice/tasks".to_owned()),
        (Method::GET, format!("/api/alice/tasks/{id}")),
        (Method::PUT, format!("/api/alice/tasks/{id}")),
        (Method::PATCH, format!("/api/alice/tasks/{id}")),
        (Method::PATCH, format!("/api/alice/tasks/{id}/complete")),
        (Method::DELETE, format!("/api/alice/tasks/{id}")),
        (Method::GET, "/api/alice/stats".to_owned()),
    ] {
        let resp = app
            .call(
                m.clone(),
                &p,
                Some("mallory"),
                Some(&json!({ "title": "x" })),
            )
            .await;
        assert_detail(resp, 403, "User ID mismatch").await;
    }
    // Unchanged.
    let t: Value = app.get_task("alice", id).await.json().await.unwrap();
    assert_eq!((&t["title"], &t["completed"]), (&json!("a"), &json!(false)));
}

async fn token_claims_fill_the_users_table(app: TestApp) {
    let t = sign(
        Algorithm::HS256,
        SECRET,
        json!({ "sub": "carol", "email": "carol@example.com", "name": "Carol", "exp": now() + 60 }),
    );
    let resp = app.me_with(&t).await;
    let me: Value = resp.json().await.unwrap();
    assert_eq!(me["email"], "carol@example.com");
    assert_eq!(me["name"], "Carol");
    let row: (String, Option<String>, Option<String>) = match app.backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&app.database_url).await.unwrap();
            sqlx::query_as("SELECT id, email, name FROM users WHERE id = 'carol'")
                .fetch_one(&pool)
                .await
                .unwrap()
        }
        Backend::Postgres => {
            let pool = crate::helpers::pg_pool(&app.database_url).await;
            sqlx::query_as("SELECT id, email, name FROM users WHERE id = 'carol'")
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(
        row,
        (
            "carol".into(),
            Some("carol@example.com".into()),
            Some("Carol".into())
        )
    );
}

/// Settings-dependent checks; the database does not matter for them.
async fn app_with(tweak: impl FnOnce(&mut todo_api::config::Settings)) -> TestApp {
    TestApp::spawn_with(Backend::Sqlite, "auth", tweak)
        .await
        .unwrap()
}

#[tokio::test]
async fn issuer_and_audience_are_checked_when_configured() {
    let app = app_with(|s| {
        s.auth.jwt_issuer = Some("https://auth.example.com".into());
        s.auth.jwt_audience = Some("https://app.example.com, https://other.example.com".into());
    })
    .await;
    let status = |claims: Value| {
        let app = &app;
        async move {
            let t = sign(Algorithm::HS256, SECRET, claims);
            with_header(app, &format!("Bearer {t}")).await.status()
        }
    };
    let iss = "https://auth.example.com";
    let exp = now() + 60;
    assert_eq!(
        status(json!({ "sub": "u", "exp": exp, "iss": iss, "aud": "https://app.example.com" }))
            .await,
        200
    );
    assert_eq!(
        status(
            json!({ "sub": "u", "exp": exp, "iss": iss, "aud": ["x", "https://other.example.com"] })
        )
        .await,
        200,
        "aud as an array"
    );
    assert_eq!(status(json!({ "sub": "u", "exp": exp, "iss": "https://evil", "aud": "https://app.example.com" })).await, 401);
    assert_eq!(
        status(json!({ "sub": "u", "exp": exp, "iss": iss, "aud": "https://evil" })).await,
        401
    );
    assert_eq!(
        status(json!({ "sub": "u", "exp": exp })).await,
        401,
        "both required once configured"
    );
}

#[tokio::test]
async fn user_claim_and_leeway_are_configurable() {
    let app = app_with(|s| {
        s.auth.jwt_user_claim = Some("sub".into());
        s.auth.jwt_leeway_seconds = 0;
    })
    .await;
    let t = sign(
        Algorithm::HS256,
        SECRET,
        json!({ "user_id": "a", "sub": "b", "exp": now() + 60 }),
    );
    let me: Value = app.me_with(&t).await.json().await.unwrap();
    assert_eq!(me["id"], "b", "user_id is not consulted");
    let t = sign(
        Algorithm::HS256,
        SECRET,
        json!({ "sub": "b", "exp": now() - 5 }),
    );
    assert_eq!(
        with_header(&app, &format!("Bearer {t}")).await.status(),
        401
    );
}

#[tokio::test]
async fn without_a_secret_hmac_tokens_are_refused() {
    let app = app_with(|s| {
        s.auth.better_auth_secret = None;
        s.auth.better_auth_url = Some("https://auth.example.com".into());
    })
    .await;
    let t = sign(
        Algorithm::HS256,
        SECRET,
        json!({ "sub": "u", "exp": now() + 60 }),
    );
    assert_401(with_header(&app, &format!("Bearer {t}")).await, true).await;
}
