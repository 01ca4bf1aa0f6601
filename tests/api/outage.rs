//! A PostgreSQL restart under write load (issue 5): requests during the
//! outage fail fast with 503 and `Retry-After`, none hangs, the service
//! recovers by itself, and every acknowledged task is stored once.
//!
//! It restarts the local PostgreSQL server, so it is ignored in the normal
//! run and run alone by CI: `cargo test --test api outage -- --ignored`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};

/// `pg_ctlcluster <version> main <action>` on the local cluster (Debian).
fn postgres(action: &str) {
    let version = std::fs::read_dir("/etc/postgresql")
        .expect("a Debian PostgreSQL cluster in /etc/postgresql")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .next()
        .expect("a cluster version");
    let status = std::process::Command::new("pg_ctlcluster")
        .args(["--skip-systemctl-redirect", &version, "main", action])
        .status()
        .expect("pg_ctlcluster runs");
    assert!(status.success(), "pg_ctlcluster {action}: {status}");
}

#[derive(Debug, Clone)]
struct Outcome {
    status: u16,
    retry_after: bool,
    took: Duration,
    created: Option<(i64, String)>,
    at: Duration,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "restarts PostgreSQL: run alone with --ignored (CI does)"]
async fn a_postgres_restart_under_load_is_503_then_recovers_losing_nothing() {
    let Some(app) = TestApp::spawn(Backend::Postgres, "outage::restart").await else {
        return;
    };
    let app = Arc::new(app);
    let outcomes = Arc::new(Mutex::new(Vec::<Outcome>::new()));
    let started = Instant::now();
    let writers: Vec<_> = (0..6)
        .map(|w| {
            let (app, outcomes) = (app.clone(), outcomes.clone());
            tokio::spawn(async move {
                let mut n = 0;
                while started.elapsed() < Duration::from_secs(20) {
                    n += 1;
                    let title = format!("writer {w} task {n}");
                    let sent = Instant::now();
                    let resp = app
                        .call(
                            Method::POST,
                            "/api/tasks",
                            Some("steady"),
                            Some(&json!({"title": title})),
                        )
                        .await;
                    let status = resp.status().as_u16();
                    let retry_after = resp.headers().contains_key("retry-after");
                    let took = sent.elapsed();
                    let created = if status == 201 {
                        let id = resp.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
                        Some((id, title))
                    } else {
                        None
                    };
                    outcomes.lock().unwrap().push(Outcome {
                        status,
                        retry_after,
                        took,
                        created,
                        at: started.elapsed(),
                    });
                    if status != 201 {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            })
        })
        .collect();
    // A restart (as an upgrade or a failover does), then a 3 s outage.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let restart_began = started.elapsed();
    tokio::task::spawn_blocking(|| postgres("restart"))
        .await
        .unwrap();
    let restart_done = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stopped = started.elapsed();
    tokio::task::spawn_blocking(|| postgres("stop"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    tokio::task::spawn_blocking(|| postgres("start"))
        .await
        .unwrap();
    let back = started.elapsed();
    for w in writers {
        w.await.unwrap();
    }
    let outcomes = outcomes.lock().unwrap().clone();
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| o.status != 201).collect();
    eprintln!(
        "restart {restart_began:?}..{restart_done:?}, down {stopped:?}..{back:?}: \
         {} requests, {} failed ({:?}), slowest {:?}",
        outcomes.len(),
        failed.len(),
        failed
            .iter()
            .map(|o| o.status)
            .collect::<std::collections::BTreeSet<_>>(),
        outcomes.iter().map(|o| o.took).max()
    );
    for o in &failed {
        assert_eq!(o.status, 503, "only 503 during the outage: {o:?}");
        assert!(o.retry_after, "503 carries Retry-After: {o:?}");
    }
    // Bounded by the pool's 5 s acquire timeout; nothing hangs.
    assert!(
        outcomes.iter().all(|o| o.took < Duration::from_secs(7)),
        "a request hung"
    );
    // It recovered by itself: the last seconds are all successes.
    let tail: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| o.at > restart_done + Duration::from_secs(6))
        .collect();
    assert!(
        !tail.is_empty() && tail.iter().all(|o| o.status == 201),
        "no recovery"
    );
    let health = app.call(Method::GET, "/health", None, None).await;
    assert_eq!(health.status(), 200);

    // Every acknowledged create is stored, once.
    let mut stored = Vec::new();
    let total = loop {
        let (page, total) = app
            .list("steady", &format!("limit=1000&offset={}", stored.len()))
            .await;
        let done = page.is_empty();
        stored.extend(page);
        if done {
            break total;
        }
    };
    let by_id: std::collections::HashMap<i64, &str> = stored
        .iter()
        .map(|t| (t["id"].as_i64().unwrap(), t["title"].as_str().unwrap()))
        .collect();
    let acknowledged: Vec<&(i64, String)> =
        outcomes.iter().filter_map(|o| o.created.as_ref()).collect();
    for (id, title) in &acknowledged {
        assert_eq!(by_id.get(id), Some(&title.as_str()), "task {id} lost");
    }
    let mut titles: Vec<&str> = by_id.values().copied().collect();
    titles.sort_unstable();
    let n = titles.len();
    titles.dedup();
    assert_eq!(titles.len(), n, "a task stored twice");
    // A create cut by the restart may have committed unacknowledged; no more.
    assert!(
        total as usize <= acknowledged.len() + 6,
        "{total} stored, {} acknowledged",
        acknowledged.len()
    );
}
