//! Citus (issue 14): every statement the Store sends about a user's data is
//! routed to one shard. Runs where `TEST_CITUS_WORKERS` names the workers of
//! the coordinator in `TEST_DATABASE_URL` (scripts/citus.sh; CI's Citus
//! step, which checks that it ran).

use chrono::Utc;
use serde_json::json;
use todo_api::db::sql::{self, Arg, Dialect, Statement, Target};
use todo_api::tasks::list::ListQuery;
use todo_api::tasks::model::{parse_input, parse_patch};

use crate::helpers::{Backend, TestApp, citus_workers};

/// The statements that may touch every shard, and why: administrators' and
/// the periodic sweep's, never a request's.
const MULTI_SHARD_ALLOWED: [&str; 1] = [
    // The Idempotency-Key sweep (IDEMPOTENCY_SWEEP_SECONDS): every user's
    // expired records, in batches.
    "sweep_keys",
];

/// `EXPLAIN` of `stmt` through the coordinator, as one text. The arguments
/// are written into the text as literals: Citus plans a statement with its
/// parameters' values (a generic plan of `$1` cannot be distributed).
async fn explain(conn: &mut sqlx::PgConnection, stmt: &Statement) -> String {
    let quote = |s: &str| format!("'{}'", s.replace('\'', "''"));
    let mut text = stmt.sql.clone();
    // From the last placeholder down, so that `$1` does not eat `$10`.
    for (i, arg) in stmt.args.iter().enumerate().rev() {
        let literal = match arg {
            Arg::Int(v) => format!("{v}::bigint"),
            Arg::SmallInt(v) => format!("{v}::smallint"),
            Arg::Bool(v) => v.to_string(),
            Arg::Text(v) | Arg::OptText(Some(v)) => format!("{}::text", quote(v)),
            Arg::OptText(None) => "NULL::text".into(),
            Arg::Time(t) | Arg::OptTime(Some(t)) => {
                format!("{}::timestamptz", quote(&t.to_rfc3339()))
            }
            Arg::OptTime(None) => "NULL::timestamptz".into(),
        };
        text = text.replace(&format!("${}", i + 1), &literal);
    }
    sqlx::query_scalar::<_, String>(&format!("EXPLAIN {text}"))
        .fetch_all(conn)
        .await
        .unwrap_or_else(|e| panic!("EXPLAIN {text}: {e}"))
        .join("\n")
}

/// One shard: the distributed plan has a single task (a router query).
fn single_shard(plan: &str) -> bool {
    let tasks: Vec<&str> = plan
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Task Count: "))
        .collect();
    !tasks.is_empty() && tasks.iter().all(|n| *n == "1")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_store_statement_routes_to_one_shard() {
    if citus_workers().is_none() {
        eprintln!("SKIPPED (Citus): set TEST_CITUS_WORKERS (scripts/citus.sh) to run it");
        return;
    }
    let app = TestApp::spawn(Backend::Postgres, "citus::routing")
        .await
        .expect("TEST_DATABASE_URL is the coordinator");
    let id = app.create_titled("u", "a task").await;
    let mut conn = crate::helpers::pg_connect(&app.database_url).await;
    let (d, now, user) = (Dialect::Postgres, Utc::now(), "u");
    let input = parse_input(&json!({ "title": "t", "tags": ["a"] })).unwrap();
    let patch = parse_patch(&json!({ "title": "p", "tags": "b" })).unwrap();
    let versions = [1, 2];
    let at = Target {
        user,
        id,
        versions: Some(&versions),
    };
    let plain = Target {
        user,
        id,
        versions: None,
    };
    let full = ListQuery::parse(Some(
        "status=pending&priority=high&category=work&due_before=2030-01-01&due_after=2020-01-01\
         &overdue=false&q=milk&tag=a&tag=b&sort=due_date&order=asc&limit=10&offset=5",
    ))
    .unwrap();
    let statements: Vec<(&str, Statement)> = vec![
        (
            "upsert_user",
            sql::upsert_user(d, user, Some("e"), None, now),
        ),
        ("insert_task", sql::insert_task(d, user, &input, now, 100)),
        (
            "forget_stale_keys",
            sql::forget_stale_keys(d, user, "k", now, now),
        ),
        ("claim_key", sql::claim_key(d, user, "k", "h", now)),
        ("get_key", sql::get_key(d, user, "k")),
        (
            "record_key",
            sql::record_key(d, user, "k", id, 1, "{}".into()),
        ),
        ("release_key", sql::release_key(d, user, "k")),
        ("get_task", sql::get_task(d, user, id)),
        ("delete_task", sql::delete_task(d, user, id, None)),
        (
            "delete_task at versions",
            sql::delete_task(d, user, id, Some(&versions)),
        ),
        ("replace_task", sql::replace_task(d, plain, &input, now)),
        (
            "patch_task at versions",
            sql::patch_task(d, at, &patch, now),
        ),
        ("toggle_task", sql::toggle_task(d, plain, now)),
        (
            "list_tasks",
            sql::list_tasks(d, user, &ListQuery::default().filter, 50, 0, now),
        ),
        (
            "list_tasks, every filter",
            sql::list_tasks(d, user, &full.filter, 10, 5, now),
        ),
        (
            "count_tasks, every filter",
            sql::count_tasks(d, user, &full.filter, now),
        ),
        ("stats", sql::stats(d, user, now)),
        ("tagged", sql::tagged(d, user)),
        ("sweep_keys", sql::sweep_keys(d, now, 1000)),
    ];
    let mut multi = Vec::new();
    for (name, stmt) in &statements {
        let plan = explain(&mut conn, stmt).await;
        assert!(
            plan.contains("Citus"),
            "{name} is not a distributed plan:\n{plan}"
        );
        if !single_shard(&plan) {
            multi.push(*name);
            assert!(
                MULTI_SHARD_ALLOWED.contains(name),
                "{name} is not routed to one shard:\n{}\n{plan}",
                stmt.sql
            );
        }
    }
    // The allowed exceptions are what they claim: multi-shard.
    assert_eq!(
        multi, MULTI_SHARD_ALLOWED,
        "the list of exceptions is exact"
    );
}
