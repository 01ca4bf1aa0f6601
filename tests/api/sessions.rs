//! Better Auth session tokens (`bearer()` plugin; docs/auth.md, 11), looked up in
//! its `session` table: raw and signed forms, expiry, caching, isolation.

use std::time::{Duration, Instant};

use reqwest::{Method, Response};
use serde_json::{Value, json};
use todo_api::auth::sign_session_token;
use todo_api::config::Secret;

use crate::helpers::{Backend, SECRET, TestApp};

/// Better Auth's tables as its PostgreSQL migration creates them.
const BETTER_AUTH_SCHEMA: &str = r#"
CREATE TABLE "user" (id text PRIMARY KEY, name text NOT NULL, email text NOT NULL UNIQUE,
  "emailVerified" boolean NOT NULL DEFAULT false, image text,
  "createdAt" timestamptz NOT NULL DEFAULT now(), "updatedAt" timestamptz NOT NULL DEFAULT now());
CREATE TABLE "session" (id text PRIMARY KEY, "expiresAt" timestamptz NOT NULL,
  token text NOT NULL UNIQUE, "createdAt" timestamptz NOT NULL DEFAULT now(),
  "updatedAt" timestamptz NOT NULL DEFAULT now(), "ipAddress" text, "userAgent" text,
  "userId" text NOT NULL REFERENCES "user"(id) ON DELETE CASCADE);
"#;

fn random_token() -> String {
    use rand::distr::{Alphanumeric, SampleString};
    Alphanumeric.sample_string(&mut rand::rng(), 32)
}

async fn get(app: &TestApp, path: &str, token: &str) -> Response {
    app.client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// A user with a session that expires in `expires_in` seconds; its token.
async fn session(conn: &mut sqlx::PgConnection, user: &str, expires_in: i64) -> String {
    let token = random_token();
    sqlx::query(r#"INSERT INTO "user" (id, name, email) VALUES ($1, $1, $1 || '@example.com') ON CONFLICT DO NOTHING"#)
        .bind(user)
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query(
        r#"INSERT INTO "session" (id, "expiresAt", token, "userId")
           VALUES ($1, now() + make_interval(secs => $2), $1, $3)"#,
    )
    .bind(&token)
    .bind(expires_in as f64)
    .bind(user)
    .execute(&mut *conn)
    .await
    .unwrap();
    token
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_tokens_raw_and_signed_are_accepted_from_the_session_table() {
    let Some(app) = TestApp::spawn_with(Backend::Postgres, "sessions::shared_db", |s| {
        s.auth.better_auth_sessions = true;
        s.auth.better_auth_session_cache_seconds = 2;
    })
    .await
    else {
        return;
    };
    let mut conn = crate::helpers::pg_connect(&app.database_url).await;
    sqlx::raw_sql(BETTER_AUTH_SCHEMA)
        .execute(&mut conn)
        .await
        .unwrap();
    let alice = session(&mut conn, "alice-ba-id", 3600).await;
    let bob = session(&mut conn, "bob-ba-id", 3600).await;
    let expired = session(&mut conn, "carol-ba-id", -5).await;
    let secret = Secret::new(SECRET);

    // Raw, signed, and signed as a URL-encoded cookie value.
    let signed = sign_session_token(&secret, &alice);
    let encoded = signed
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    for token in [&alice, &signed, &encoded] {
        let me: Value = get(&app, "/api/me", token).await.json().await.unwrap();
        assert_eq!(me["id"], "alice-ba-id", "{token}");
    }
    let created = app
        .client
        .post(app.url("/api/tasks"))
        .bearer_auth(&signed)
        .json(&json!({"title": "from a session"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();

    // Bob's session is Bob: Alice's task is not his.
    assert_eq!(
        get(&app, &format!("/api/tasks/{id}"), &bob).await.status(),
        404
    );
    let bobs: Value = get(&app, "/api/tasks", &bob).await.json().await.unwrap();
    assert_eq!(bobs, json!([]));
    let path = format!("/api/alice-ba-id/tasks/{id}");
    assert_eq!(get(&app, &path, &bob).await.status(), 403);
    assert_eq!(get(&app, &path, &alice).await.status(), 200);

    // Refused: expired, unknown, a wrong HMAC, a signature of another token.
    let wrong_hmac = format!("{alice}.{}", "A".repeat(43) + "=");
    let borrowed = format!("{bob}.{}", signed.split_once('.').unwrap().1);
    for (what, token) in [
        ("expired", expired.clone()),
        ("unknown", random_token()),
        ("wrong HMAC", wrong_hmac),
        ("Alice's signature on Bob's token", borrowed),
        ("SQL", "' OR 1=1 --".to_owned()),
    ] {
        let resp = get(&app, "/api/tasks", &token).await;
        assert_eq!(resp.status(), 401, "{what}");
    }
    // JWTs keep working beside sessions.
    assert_eq!(
        get(&app, "/api/tasks", &app.token("jwt-user"))
            .await
            .status(),
        200
    );

    // Lookups are cached briefly: a signed-out session still works until the
    // cache entry (2 s here) runs out, then it does not.
    let dave = session(&mut conn, "dave-ba-id", 3600).await;
    assert_eq!(get(&app, "/api/tasks", &dave).await.status(), 200);
    let signed_out = Instant::now();
    sqlx::query(r#"DELETE FROM "session" WHERE token = $1"#)
        .bind(&dave)
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(get(&app, "/api/tasks", &dave).await.status(), 200, "cached");
    assert!(signed_out.elapsed() < Duration::from_secs(2));
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert_eq!(
        get(&app, "/api/tasks", &dave).await.status(),
        401,
        "expired from cache"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_hmac_is_refused_without_a_database_query() {
    // The session database is unreachable: any lookup would be a 503. Port 1
    // (tcpmux) is closed here; a freed random port could be taken by another
    // test's server meanwhile.
    let app = TestApp::spawn_with(Backend::Sqlite, "sessions::no_query", |s| {
        s.auth.better_auth_session_db_url = Some("postgres://postgres@127.0.0.1:1/auth".into());
    })
    .await
    .unwrap();
    let token = random_token();
    let secret = Secret::new(SECRET);
    let started = Instant::now();
    let wrong = sign_session_token(&Secret::new("another-secret-of-32-bytes-or-more"), &token);
    assert_eq!(get(&app, "/api/tasks", &wrong).await.status(), 401);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "no connection attempt"
    );
    // A correctly signed token does go to the database, which is down: 503.
    let resp = get(&app, "/api/tasks", &sign_session_token(&secret, &token)).await;
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "1");
    assert_eq!(get(&app, "/api/tasks", &token).await.status(), 503);
    // Method and path do not matter to the check.
    let resp = app
        .client
        .request(Method::DELETE, app.url("/api/tasks/1"))
        .bearer_auth(&wrong)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}
