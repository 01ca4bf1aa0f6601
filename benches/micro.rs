//! Micro-benchmarks (criterion): token verification per algorithm, without
//! the verified-token cache ("cold": signature and claims checked every time)
//! and with it ("cached"), and JSON encoding of a 20-task list.
//!
//!   cargo bench --bench micro
//!
//! The JWKS comes from the same fake Better Auth endpoint the tests use, so
//! the keys go through the server's own JWKS cache.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use todo_api::auth::Authenticator;
use todo_api::auth::jwks::JwksSettings;
use todo_api::config::{AuthConfig, Secret};
use todo_api::tasks::model::{Category, Priority, Task};

#[allow(dead_code)]
#[path = "../tests/api/keys.rs"]
mod keys;

use keys::{FakeJwks, TestKey, better_auth_claims, hs256};

const SECRET: &str = "bench-secret-that-is-at-least-32-bytes-long";

fn authenticator(jwks: &FakeJwks, token_cache_size: u64) -> Authenticator {
    Authenticator::new(&AuthConfig {
        secret: Some(Secret::new(SECRET)),
        issuers: vec![jwks.base.clone()],
        audiences: vec![jwks.base.clone()],
        user_claims: vec!["sub".into()],
        jwks_user_claims: vec!["sub".into()],
        leeway: Duration::from_secs(30),
        token_cache_size,
        jwks: Some(JwksSettings {
            url: format!("{}/api/auth/jwks", jwks.base),
            timeout: Duration::from_secs(2),
            cooldown: Duration::from_secs(10),
            refresh: Duration::from_secs(3600),
        }),
        sessions: None,
    })
}

fn tokens(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ed = TestKey::new("ed25519", "ed");
    let ec = TestKey::new("ec-P-256", "ec");
    let rsa = TestKey::new("rsa", "rsa");
    let jwks = rt.block_on(FakeJwks::start(vec![
        ed.jwk(Some("EdDSA")),
        ec.jwk(Some("ES256")),
        rsa.jwk(Some("RS256")),
    ]));
    let claims = better_auth_claims(&jwks.base, "bench-user");
    let cases = [
        ("HS256", hs256(SECRET, None, &claims)),
        ("EdDSA", ed.sign("EdDSA", &claims)),
        ("ES256", ec.sign("ES256", &claims)),
        ("RS256", rsa.sign("RS256", &claims)),
    ];
    let (cold, cached) = rt.block_on(async {
        let cold = authenticator(&jwks, 0);
        let cached = authenticator(&jwks, 10_000);
        jwks.wait_for_hits(2).await;
        // Every token verifies (and the cached authenticator remembers it).
        for (alg, token) in &cases {
            for auth in [&cold, &cached] {
                let who = auth.verify(token).await.unwrap_or_else(|_| panic!("{alg}"));
                assert_eq!(who.user_id, "bench-user");
            }
        }
        (cold, cached)
    });
    let mut group = c.benchmark_group("verify");
    for (alg, token) in &cases {
        group.bench_function(format!("{alg}/cold"), |b| {
            b.to_async(&rt)
                .iter(|| async { cold.verify(token).await.is_ok() })
        });
        group.bench_function(format!("{alg}/cached"), |b| {
            b.to_async(&rt)
                .iter(|| async { cached.verify(token).await.is_ok() })
        });
    }
    group.finish();
}

fn json(c: &mut Criterion) {
    let at = Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap();
    let tasks: Vec<Task> = (0..20)
        .map(|i| Task {
            id: 1000 + i,
            user_id: "bench-user".into(),
            title: format!("Task number {i}"),
            description: (i % 2 == 0).then(|| format!("Details of task {i}, with some words")),
            completed: i % 3 == 0,
            status: if i % 3 == 0 { "completed" } else { "pending" },
            priority: Priority::ALL[(i % 3) as usize],
            category: Category::ALL[(i % 4) as usize],
            due_date: (i % 2 == 1).then_some(at),
            created_at: at,
            updated_at: at,
            tags: vec!["errand".into()],
            version: 1,
        })
        .collect();
    c.bench_function("json/20-task list", |b| {
        b.iter(|| serde_json::to_vec(std::hint::black_box(&tasks)).unwrap())
    });
    // What JSON_CASE=camel adds: the handler's body with its keys renamed
    // in one pass over its bytes (as `shape::reshape` does), and, for
    // comparison, through a parsed tree (as it does when a key is added).
    let bytes = serde_json::to_vec(&tasks).unwrap();
    c.bench_function("json/20-task list, camelCase keys (bytes)", |b| {
        b.iter(|| todo_api::http::shape::camel_keys_bytes(std::hint::black_box(&bytes)).unwrap())
    });
    c.bench_function("json/20-task list, camelCase keys (tree)", |b| {
        b.iter(|| {
            let v: serde_json::Value =
                serde_json::from_slice(std::hint::black_box(&bytes)).unwrap();
            serde_json::to_vec(&todo_api::http::shape::camel_keys(v)).unwrap()
        })
    });
}

criterion_group!(benches, tokens, json);
criterion_main!(benches);
