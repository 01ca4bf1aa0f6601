//! Tokens verified with keys from a JWKS (docs/auth.md, 11): every key type,
//! the cache, rotation, outages and attacks, against a fake JWKS server.

use std::time::{Duration, Instant};

use reqwest::{Method, Response};
use serde_json::{Value, json};
use todo_api::config::Settings;

use crate::helpers::{Backend, SECRET, TestApp};
use crate::keys::{FakeJwks, Mode, TestKey, b64, better_auth_claims, hs256};

/// A server that trusts `jwks` as its Better Auth (JWKS and iss/aud).
async fn app_for(
    backend: Backend,
    test: &str,
    jwks: &FakeJwks,
    tweak: impl FnOnce(&mut Settings),
) -> Option<TestApp> {
    let base = jwks.base.clone();
    TestApp::spawn_with(backend, test, move |s| {
        s.auth.better_auth_url = Some(base);
        tweak(s);
    })
    .await
}

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Response {
    let mut req = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    req.send().await.unwrap()
}

async fn status(app: &TestApp, token: &str) -> u16 {
    call(app, Method::GET, "/api/tasks", token, None)
        .await
        .status()
        .as_u16()
}

/// A refused token: 401 with `error="invalid_token"`, whatever the reason.
async fn assert_refused(app: &TestApp, token: &str, what: &str) {
    let resp = call(app, Method::GET, "/api/tasks", token, None).await;
    assert_eq!(resp.status(), 401, "{what}");
    assert_eq!(
        resp.headers()["www-authenticate"],
        r#"Bearer error="invalid_token""#,
        "{what}"
    );
}

/// Every algorithm, the key it is signed with and how the JWK is published.
fn key_matrix() -> Vec<(&'static str, TestKey, Option<&'static str>)> {
    vec![
        ("EdDSA", TestKey::new("ed25519", "ed-1"), Some("EdDSA")),
        (
            "Ed25519",
            TestKey::new("ed25519-other", "ed-2"),
            Some("Ed25519"),
        ),
        ("ES256", TestKey::new("ec-P-256", "p256"), Some("ES256")),
        ("ES384", TestKey::new("ec-P-384", "p384"), None),
        ("ES512", TestKey::new("ec-P-521", "p521"), Some("ES512")),
        ("RS256", TestKey::new("rsa", "rsa"), None),
        ("RS384", TestKey::new("rsa", "rsa"), None),
        ("RS512", TestKey::new("rsa", "rsa"), None),
        ("PS256", TestKey::new("rsa", "rsa"), None),
        ("PS384", TestKey::new("rsa", "rsa"), None),
        ("PS512", TestKey::new("rsa", "rsa"), None),
    ]
}

fn published_keys() -> Vec<Value> {
    let mut keys: Vec<Value> = Vec::new();
    for (_, key, alg) in key_matrix() {
        let jwk = key.jwk(alg);
        if !keys.iter().any(|k| k["kid"] == jwk["kid"]) {
            keys.push(jwk);
        }
    }
    // Entries that cannot be used are skipped, not fatal to the set.
    let mut no_use = TestKey::new("ed25519", "enc-only").jwk(None);
    no_use["use"] = json!("enc");
    keys.extend([
        json!({"kty": "OKP", "crv": "Ed448", "x": "AAAA", "kid": "ed448"}),
        json!({"kty": "EC", "crv": "P-256", "x": "bad", "y": "bad", "kid": "broken"}),
        json!({"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}),
        json!("not even an object"),
        no_use,
    ]);
    keys
}

async fn every_key_type_works_end_to_end(backend: Backend, test: &str) {
    let jwks = FakeJwks::start(published_keys()).await;
    let Some(app) = app_for(backend, test, &jwks, |_| {}).await else {
        return;
    };
    let mut created = Vec::new();
    for (alg, key, _) in key_matrix() {
        let user = format!("user-{alg}");
        let token = key.sign(alg, &better_auth_claims(&jwks.base, &user));
        let resp = call(
            &app,
            Method::POST,
            "/api/tasks",
            &token,
            Some(json!({"title": alg})),
        )
        .await;
        assert_eq!(resp.status(), 201, "{alg}");
        let id = resp.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
        let list: Value = call(&app, Method::GET, "/api/tasks", &token, None)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(list.as_array().unwrap().len(), 1, "{alg}: {list}");
        assert_eq!(list[0]["title"], alg);
        let me: Value = call(&app, Method::GET, "/api/me", &token, None)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(me["id"], user.as_str());
        assert_eq!(me["email"], format!("{user}@example.com"));
        created.push((alg, token, id));
    }
    // Each user sees only their own task, whatever key signed the tokens.
    for (alg, token, _) in &created {
        for (other, _, id) in &created {
            let path = format!("/api/tasks/{id}");
            let got = call(&app, Method::GET, &path, token, None).await.status();
            assert_eq!(
                got,
                if alg == other { 200 } else { 404 },
                "{alg} reads {other}"
            );
        }
    }
    // A token without a kid is accepted only when one key fits its alg.
    let claims = better_auth_claims(&jwks.base, "no-kid");
    let p521 = TestKey::new("ec-P-521", "p521");
    assert_eq!(
        status(&app, &p521.sign_header(&json!({"alg": "ES512"}), &claims)).await,
        200
    );
    let rsa = TestKey::new("rsa", "rsa");
    assert_eq!(
        status(&app, &rsa.sign_header(&json!({"alg": "RS256"}), &claims)).await,
        200
    );
    let ed = TestKey::new("ed25519", "ed-1");
    let two_ed_keys = ed.sign_header(&json!({"alg": "EdDSA"}), &claims);
    assert_refused(&app, &two_ed_keys, "two Ed25519 keys, no kid").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_key_type_works_end_to_end_sqlite() {
    every_key_type_works_end_to_end(Backend::Sqlite, "jwks::every_key_type_sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_key_type_works_end_to_end_postgres() {
    every_key_type_works_end_to_end(Backend::Postgres, "jwks::every_key_type_postgres").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_unknown_kids_refetches_once_per_cooldown() {
    let key = TestKey::new("ed25519", "real");
    let jwks = FakeJwks::start(vec![key.jwk(Some("EdDSA"))]).await;
    let app = app_for(Backend::Sqlite, "jwks::flood", &jwks, |s| {
        s.auth.jwks_cooldown_seconds = 5;
    })
    .await
    .unwrap();
    let claims = better_auth_claims(&jwks.base, "flooder");
    let hostile = [
        "../../../../etc/passwd",
        "' OR '1'='1",
        "real'; DROP TABLE tasks; --",
        "%2e%2e%2f",
        "real\u{0}",
        "http://169.254.169.254/latest",
    ];
    let forged: Vec<String> = (0..300)
        .map(|i| {
            let kid = match hostile.get(i) {
                Some(k) => (*k).to_owned(),
                None => format!("bogus-{i}"),
            };
            TestKey::new("ed25519", &kid).sign("EdDSA", &claims)
        })
        .collect();
    // The refresher's first fetch; then wait out its cooldown.
    jwks.wait_for_hits(1).await;
    assert_eq!(status(&app, &key.sign("EdDSA", &claims)).await, 200);
    tokio::time::sleep(Duration::from_millis(5100)).await;
    let before = jwks.hits();

    let started = Instant::now();
    let statuses = futures::future::join_all(forged.iter().map(|token| status(&app, token))).await;
    assert!(statuses.iter().all(|&s| s == 401), "{statuses:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the flood must fit in one cooldown for the count below to hold"
    );
    assert_eq!(jwks.hits() - before, 1, "300 unknown kids, one refetch");
    // Still one fetch at most while the cooldown lasts; another after it.
    assert_eq!(
        status(
            &app,
            &TestKey::new("ed25519", "late").sign("EdDSA", &claims)
        )
        .await,
        401
    );
    assert_eq!(jwks.hits() - before, 1);
    tokio::time::sleep(Duration::from_millis(5100)).await;
    assert_eq!(
        status(
            &app,
            &TestKey::new("ed25519", "later").sign("EdDSA", &claims)
        )
        .await,
        401
    );
    assert_eq!(jwks.hits() - before, 2);
    // The real key was never affected.
    assert_eq!(status(&app, &key.sign("EdDSA", &claims)).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_keys_are_picked_up_and_withdrawn_keys_stop_working() {
    let old = TestKey::new("ed25519", "2026-old");
    let new = TestKey::new("ec-P-256", "2026-new");
    let jwks = FakeJwks::start(vec![old.jwk(Some("EdDSA"))]).await;
    let app = app_for(Backend::Sqlite, "jwks::rotation", &jwks, |s| {
        s.auth.jwks_cooldown_seconds = 1;
    })
    .await
    .unwrap();
    let claims = better_auth_claims(&jwks.base, "rotating");
    let old_token = old.sign("EdDSA", &claims);
    let new_token = new.sign("ES256", &claims);
    jwks.wait_for_hits(1).await;
    assert_eq!(status(&app, &old_token).await, 200);

    // Rotation: the new key signs; the old one stays published (grace
    // period). The periodic refresh is 5 minutes away: the unknown kid alone
    // makes the API refetch (the cooldown since the first fetch has passed).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    jwks.set_keys(vec![old.jwk(Some("EdDSA")), new.jwk(Some("ES256"))]);
    assert_eq!(
        status(&app, &new_token).await,
        200,
        "new kid fetched on first sight"
    );
    assert_eq!(
        status(&app, &old_token).await,
        200,
        "old key still published"
    );
    assert_eq!(jwks.hits(), 2);

    // The old key is withdrawn: it stops working once the set is refetched,
    // here triggered by another unknown kid after the cooldown.
    jwks.set_keys(vec![new.jwk(Some("ES256"))]);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let probe = TestKey::new("ed25519", "unknown").sign("EdDSA", &claims);
    assert_eq!(status(&app, &probe).await, 401);
    assert_eq!(jwks.hits(), 3);
    assert_eq!(status(&app, &old_token).await, 401, "withdrawn key refused");
    assert_eq!(status(&app, &new_token).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn periodic_refresh_honours_max_age() {
    let a = TestKey::new("ed25519", "a");
    let b = TestKey::new("ec-P-384", "b");
    let jwks = FakeJwks::start(vec![a.jwk(None), b.jwk(None)]).await;
    jwks.set_cache_control("max-age=2");
    let app = app_for(Backend::Sqlite, "jwks::max_age", &jwks, |s| {
        s.auth.jwks_cooldown_seconds = 1;
        s.auth.jwks_refresh_seconds = 3600;
    })
    .await
    .unwrap();
    let claims = better_auth_claims(&jwks.base, "periodic");
    let b_token = b.sign("ES384", &claims);
    jwks.wait_for_hits(1).await;
    assert_eq!(status(&app, &b_token).await, 200);
    // Withdraw b; no request carries an unknown kid, so only the periodic
    // refresh (after max-age) can notice.
    jwks.set_keys(vec![a.jwk(None)]);
    let hits = jwks.hits();
    jwks.wait_for_hits(hits + 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(status(&app, &b_token).await, 401);
    assert_eq!(status(&app, &a.sign("EdDSA", &claims)).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jwks_outage_keeps_cached_keys_and_never_hangs() {
    let key = TestKey::new("ed25519", "cached");
    let jwks = FakeJwks::start(vec![key.jwk(Some("EdDSA"))]).await;
    jwks.set_cache_control("max-age=1");
    let app = app_for(Backend::Sqlite, "jwks::outage", &jwks, |s| {
        s.auth.jwks_cooldown_seconds = 1;
    })
    .await
    .unwrap();
    let claims = better_auth_claims(&jwks.base, "outage");
    let token = key.sign("EdDSA", &claims);
    jwks.wait_for_hits(1).await;
    assert_eq!(status(&app, &token).await, 200);
    let failed_fetches = || async {
        let text = app
            .client
            .get(app.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let line = text
            .lines()
            .find(|l| l.starts_with(r#"jwks_refreshes_total{outcome="failed"}"#))
            .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap());
        line.unwrap_or(0.0)
    };
    let failed_before = failed_fetches().await;

    for mode in [Mode::Failing, Mode::Hanging] {
        jwks.set_mode(mode);
        // Let the refresher fail (or hang) at least once.
        let hits = jwks.hits();
        jwks.wait_for_hits(hits + 1).await;
        let started = Instant::now();
        assert_eq!(
            status(&app, &token).await,
            200,
            "{mode:?}: cached key works"
        );
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{mode:?}: no wait for the JWKS"
        );
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let unknown = TestKey::new("ed25519", "unknown").sign("EdDSA", &claims);
        let started = Instant::now();
        assert_eq!(status(&app, &unknown).await, 401, "{mode:?}");
        // The JWKS fetch timeout (2 s) bounds the wait, lock included.
        assert!(
            started.elapsed() < Duration::from_millis(3000),
            "{mode:?}: 401 within the timeout, took {:?}",
            started.elapsed()
        );
    }
    // Failed refreshes show in /metrics (counters are process-wide in tests).
    assert!(failed_fetches().await >= failed_before + 2.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_start_with_the_jwks_down_still_serves_hs256() {
    // Port 1 (tcpmux): nothing listens there.
    let app = TestApp::spawn_with(Backend::Sqlite, "jwks::cold_start", |s| {
        s.auth.jwks_url = Some("http://127.0.0.1:1/api/auth/jwks".into());
    })
    .await
    .unwrap();
    let hs256 = app.token("hs-user");
    assert_eq!(status(&app, &hs256).await, 200);
    let claims = better_auth_claims("http://unused", "eddsa-user");
    let token = TestKey::new("ed25519", "k").sign("EdDSA", &claims);
    let started = Instant::now();
    assert_refused(&app, &token, "JWKS unreachable").await;
    assert!(started.elapsed() < Duration::from_millis(3000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issuer_and_audience_default_to_better_auth_url() {
    let key = TestKey::new("ec-P-256", "claims");
    let jwks = FakeJwks::start(vec![key.jwk(Some("ES256"))]).await;
    let app = app_for(Backend::Sqlite, "jwks::claims", &jwks, |_| {})
        .await
        .unwrap();
    let base = jwks.base.clone();
    let good = better_auth_claims(&base, "claims-user");
    let with = |patch: Value| {
        let mut c = good.clone();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        key.sign("ES256", &c)
    };
    let now = chrono::Utc::now().timestamp();
    assert_eq!(status(&app, &key.sign("ES256", &good)).await, 200);
    let slash = format!("{base}/");
    for ok in [
        json!({"aud": [base, "https://other.example"]}),
        json!({"iss": slash}),
        json!({"exp": now - 10}),
        json!({"nbf": now + 10}),
    ] {
        assert_eq!(status(&app, &with(ok.clone())).await, 200, "{ok}");
    }
    for bad in [
        json!({"aud": "https://other.example"}),
        json!({"aud": ["https://other.example"]}),
        json!({"aud": null}),
        json!({"iss": "https://evil.example"}),
        json!({"iss": null}),
        json!({"exp": null}),
        json!({"exp": now - 60}),
        json!({"nbf": now + 60}),
        json!({"sub": null, "id": null}),
    ] {
        assert_refused(&app, &with(bad.clone()), &bad.to_string()).await;
    }
    // The same rules hold for HS256 tokens once BETTER_AUTH_URL is set.
    assert_eq!(status(&app, &hs256(SECRET, None, &good)).await, 200);
    assert_refused(&app, &app.token("no-iss"), "HS256 without iss/aud").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attacks_on_jwks_verification_are_refused() {
    let ed = TestKey::new("ed25519", "ed");
    let rsa = TestKey::new("rsa", "rsa");
    let p256 = TestKey::new("ec-P-256", "p256");
    let p384_as_p256 = TestKey::new("ec-P-384", "p256");
    let jwks = FakeJwks::start(vec![
        ed.jwk(Some("EdDSA")),
        rsa.jwk(Some("RS256")),
        p256.jwk(None),
    ])
    .await;
    let app = app_for(Backend::Sqlite, "jwks::attacks", &jwks, |_| {})
        .await
        .unwrap();
    let claims = better_auth_claims(&jwks.base, "victim");
    let ed_token = ed.sign("EdDSA", &claims);
    // Control: the genuine tokens work, so every refusal below is the attack's.
    assert_eq!(status(&app, &ed_token).await, 200);
    assert_eq!(status(&app, &rsa.sign("RS256", &claims)).await, 200);
    assert_eq!(status(&app, &p256.sign("ES256", &claims)).await, 200);

    let parts: Vec<&str> = ed_token.split('.').collect();
    let mut attacks: Vec<(String, String)> = Vec::new();
    let mut add = |what: &str, token: String| attacks.push((what.to_owned(), token));

    add(
        "alg none",
        format!(
            "{}.{}.",
            b64(&json!({"alg": "none", "kid": "ed"})),
            parts[1]
        ),
    );
    add(
        "alg None",
        format!("{}.{}.", b64(&json!({"alg": "None"})), parts[1]),
    );
    // Algorithm confusion: HS256 keyed with the public key the JWKS publishes.
    for (name, public) in [
        ("RSA public PEM", rsa.public_pem()),
        ("Ed25519 public PEM", ed.public_pem()),
        (
            "Ed25519 JWK x",
            ed.jwk(None)["x"].as_str().unwrap().to_owned(),
        ),
    ] {
        let token = hs256(&public, Some("rsa"), &claims);
        add(&format!("HS256 keyed with the {name}"), token);
    }
    add(
        "kid not in the set",
        TestKey::new("ed25519", "nope").sign("EdDSA", &claims),
    );
    add(
        "kid with a path",
        TestKey::new("ed25519", "../../jwks").sign("EdDSA", &claims),
    );
    add(
        "kid with SQL",
        TestKey::new("ed25519", "ed' OR '1'='1").sign("EdDSA", &claims),
    );
    add(
        "kid of 300 bytes",
        TestKey::new("ed25519", &"k".repeat(300)).sign("EdDSA", &claims),
    );
    let mut huge = claims.clone();
    huge["pad"] = json!("x".repeat(9000));
    add("token over 8 KiB", ed.sign("EdDSA", &huge));
    add(
        "bad base64 header",
        format!("{}!.{}.{}", parts[0], parts[1], parts[2]),
    );
    add(
        "bad base64 payload",
        format!("{}.{}*.{}", parts[0], parts[1], parts[2]),
    );
    add(
        "bad base64 signature",
        format!("{}.{}.{}$", parts[0], parts[1], parts[2]),
    );
    add(
        "padded base64",
        format!("{}.{}.{}==", parts[0], parts[1], parts[2]),
    );
    add(
        "truncated signature",
        format!("{}.{}.{}", parts[0], parts[1], &parts[2][..20]),
    );
    // A genuine signature moved onto another user's payload.
    let other = ed.sign("EdDSA", &better_auth_claims(&jwks.base, "attacker"));
    let other_payload = other.split('.').nth(1).unwrap();
    add(
        "valid signature, another sub",
        format!("{}.{}.{}", parts[0], other_payload, parts[2]),
    );
    // The right key type and kid, but another issuer's key.
    add(
        "another issuer's Ed25519 key",
        TestKey::new("ed25519-other", "ed").sign("EdDSA", &claims),
    );
    add(
        "another issuer's P-384 key, kid of a P-256",
        p384_as_p256.sign("ES384", &claims),
    );
    let es256_header = b64(&json!({"alg": "ES256", "kid": "ed"}));
    add(
        "ES256 header over an Ed25519 signature",
        format!("{es256_header}.{}.{}", parts[1], parts[2]),
    );
    add(
        "PS256 against a key published as RS256",
        rsa.sign("PS256", &claims),
    );
    add(
        "ES512 against a P-256 key",
        TestKey::new("ec-P-521", "p256").sign("ES512", &claims),
    );
    add(
        "crit header",
        ed.sign_header(
            &json!({"alg": "EdDSA", "kid": "ed", "crit": ["exp"]}),
            &claims,
        ),
    );
    add("two dots too many", format!("{ed_token}.{}", parts[2]));

    for (what, token) in &attacks {
        assert_refused(&app, token, what).await;
    }
    // Nothing an attack did reached the victim's data.
    let list: Value = call(&app, Method::GET, "/api/tasks", &ed_token, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list, json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_secret_hs256_tokens_are_refused() {
    let ed = TestKey::new("ed25519", "ed");
    let jwks = FakeJwks::start(vec![ed.jwk(None)]).await;
    let app = app_for(Backend::Sqlite, "jwks::no_secret", &jwks, |s| {
        s.auth.better_auth_secret = None;
    })
    .await
    .unwrap();
    let claims = better_auth_claims(&jwks.base, "jwks-only");
    assert_eq!(status(&app, &ed.sign("EdDSA", &claims)).await, 200);
    // An empty secret cannot be used to forge a token either.
    for secret in ["", SECRET] {
        let token = hs256(secret, None, &claims);
        assert_refused(&app, &token, "HS256 without a configured secret").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_minted_just_after_an_empty_fetch_works_at_once() {
    // Better Auth mints its first key lazily, at the first token request: the
    // API's start-up fetch may well find an empty set.
    let jwks = FakeJwks::start(vec![]).await;
    let app = app_for(Backend::Sqlite, "jwks::lazy_first_key", &jwks, |_| {})
        .await
        .unwrap();
    jwks.wait_for_hits(1).await;
    let key = TestKey::new("ed25519", "first");
    jwks.set_keys(vec![key.jwk(None)]);
    let token = key.sign("EdDSA", &better_auth_claims(&jwks.base, "early-bird"));
    // Within the default 10 s cooldown, yet accepted: an empty set's cooldown
    // is 1 s and a request waits out what is left of it.
    assert_eq!(status(&app, &token).await, 200);
    assert_eq!(jwks.hits(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verified_tokens_are_remembered_until_they_expire() {
    use crate::metrics::{sample, scrape};
    let key = TestKey::new("ed25519", "cached");
    let jwks = FakeJwks::start(vec![key.jwk(Some("EdDSA"))]).await;
    let app = app_for(Backend::Sqlite, "jwks::token_cache", &jwks, |s| {
        s.auth.jwt_leeway_seconds = 0;
    })
    .await
    .unwrap();
    jwks.wait_for_hits(1).await;
    let hits = r#"token_cache_total{result="hit"}"#;
    let misses = r#"token_cache_total{result="miss"}"#;

    // Tokens that expire in 3 seconds, one of each kind.
    let mut claims = better_auth_claims(&jwks.base, "cached-user");
    let exp = chrono::Utc::now().timestamp() + 3;
    claims["exp"] = json!(exp);
    let eddsa = key.sign("EdDSA", &claims);
    let hmac = hs256(SECRET, None, &claims);
    let before = scrape(&app).await;
    for _ in 0..10 {
        assert_eq!(status(&app, &eddsa).await, 200);
        assert_eq!(status(&app, &hmac).await, 200);
    }
    // Other tests share the process-wide counters, so these are lower
    // bounds; without the cache no test would count a single hit.
    let after = scrape(&app).await;
    assert!(sample(&after, hits) - sample(&before, hits) >= 18.0);
    assert!(sample(&after, misses) - sample(&before, misses) >= 2.0);

    // A forged token with a remembered token's header and payload is not a
    // hit: the cache is keyed by the whole token, signature included.
    let (signed, _) = eddsa.rsplit_once('.').unwrap();
    assert_refused(&app, &format!("{signed}.{}", "A".repeat(86)), "forged").await;

    // Remembered or not, an expired token is refused.
    let wait = exp - chrono::Utc::now().timestamp();
    tokio::time::sleep(Duration::from_millis(
        u64::try_from(wait).unwrap_or(0) * 1000 + 300,
    ))
    .await;
    assert_refused(&app, &eddsa, "expired EdDSA token").await;
    assert_refused(&app, &hmac, "expired HS256 token").await;
}

/// Better Auth's `jwt()` copies the user row into the token: a field named
/// `user_id` (which a deployment may let users edit) must not name the user
/// of a JWKS-verified token. Its user is `sub` unless `JWT_USER_CLAIM` says
/// otherwise; HS256 tokens keep `user_id,sub` (seed 000).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_tokens_name_their_user_by_sub_unless_configured() {
    let key = TestKey::new("ed25519", "claim-rule");
    let jwks = FakeJwks::start(vec![key.jwk(Some("EdDSA"))]).await;
    let app = app_for(Backend::Sqlite, "jwks::claim_rule", &jwks, |_| {})
        .await
        .unwrap();
    let mut claims = better_auth_claims(&jwks.base, "real-user");
    claims["user_id"] = json!("victim");
    let me = |token: String| {
        let app = &app;
        async move {
            let resp = call(app, Method::GET, "/api/me", &token, None).await;
            assert_eq!(resp.status(), 200);
            resp.json::<Value>().await.unwrap()["id"].clone()
        }
    };
    assert_eq!(me(key.sign("EdDSA", &claims)).await, "real-user");
    assert_eq!(me(hs256(SECRET, None, &claims)).await, "victim");
    // The victim's tasks stay theirs.
    let victim = hs256(SECRET, None, &claims);
    let made = call(
        &app,
        Method::POST,
        "/api/tasks",
        &victim,
        Some(json!({"title": "v"})),
    )
    .await;
    assert_eq!(made.status(), 201);
    let listed = call(
        &app,
        Method::GET,
        "/api/tasks",
        &key.sign("EdDSA", &claims),
        None,
    )
    .await;
    assert_eq!(listed.json::<Value>().await.unwrap(), json!([]));
    // Set explicitly, the claim list applies to every token.
    let explicit = app_for(Backend::Sqlite, "jwks::claim_rule_set", &jwks, |s| {
        s.auth.jwt_user_claim = Some("user_id,sub".into());
    })
    .await
    .unwrap();
    let resp = call(
        &explicit,
        Method::GET,
        "/api/me",
        &key.sign("EdDSA", &claims),
        None,
    )
    .await;
    assert_eq!(resp.json::<Value>().await.unwrap()["id"], "victim");
}

/// `JWT_ISSUER=` and `JWT_AUDIENCE=` (blank, as a `.env` or compose leaves
/// them) are unset: the checks stay on, with `BETTER_AUTH_URL`'s defaults.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blank_issuer_and_audience_keep_the_checks_on() {
    let jwks = FakeJwks::start(vec![]).await;
    let app = app_for(Backend::Sqlite, "jwks::blank_iss", &jwks, |s| {
        s.auth.jwt_issuer = Some(String::new());
        s.auth.jwt_audience = Some(" ".into());
    })
    .await
    .unwrap();
    let mut foreign = better_auth_claims("https://evil.example", "u");
    assert_refused(&app, &hs256(SECRET, None, &foreign), "foreign iss and aud").await;
    foreign["iss"] = json!(jwks.base);
    assert_refused(&app, &hs256(SECRET, None, &foreign), "foreign aud").await;
    let good = better_auth_claims(&jwks.base, "u");
    assert_eq!(status(&app, &hs256(SECRET, None, &good)).await, 200);
}
