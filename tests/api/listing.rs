//! Listing: filters, search, sort, pagination (docs/api.md#listing).

use std::collections::HashSet;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_422};

crate::both_backends!(
    filters_by_status_priority_category,
    due_date_bounds_are_inclusive_and_overdue_is_pending_past_due,
    search_is_case_insensitive_and_literal,
    every_sort_is_total_with_due_dates_last,
    pages_never_skip_or_repeat,
    link_and_total_count_describe_the_page,
    invalid_parameters_are_all_reported,
);

async fn filters_by_status_priority_category(app: TestApp) {
    let a = app
        .create(
            "u",
            json!({ "title": "a", "priority": "high", "category": "work" }),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let b = app
        .create(
            "u",
            json!({ "title": "b", "completed": true, "category": "work" }),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let c = app
        .create(
            "u",
            json!({ "title": "c", "priority": "low", "category": "home" }),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let ids = |q: &'static str| app.list_ids("u", q);
    assert_eq!(ids("").await, vec![c, b, a], "newest first by default");
    assert_eq!(ids("status=all").await, vec![c, b, a]);
    assert_eq!(ids("status=pending").await, vec![c, a]);
    assert_eq!(ids("status=completed").await, vec![b]);
    assert_eq!(ids("priority=high").await, vec![a]);
    assert_eq!(ids("priority=medium").await, vec![b]);
    assert_eq!(ids("category=work").await, vec![b, a]);
    assert_eq!(ids("category=work&status=pending").await, vec![a]);
    assert_eq!(ids("category=personal").await, Vec::<i64>::new());
    let (_, total) = app.list("u", "category=work").await;
    assert_eq!(total, 2);
}

async fn due_date_bounds_are_inclusive_and_overdue_is_pending_past_due(app: TestApp) {
    let mk = |title: &'static str, due: Value, done: bool| {
        let app = &app;
        async move {
            app.create(
                "u",
                json!({ "title": title, "due_date": due, "completed": done }),
            )
            .await["id"]
                .as_i64()
                .unwrap()
        }
    };
    let past = mk("past", json!("2001-05-05T12:00:00Z"), false).await;
    let past_done = mk("past done", json!("2001-05-05T12:00:00Z"), true).await;
    let jan10 = mk("jan10", json!("2030-01-10T15:30:00+00:00"), false).await;
    let none = mk("none", Value::Null, false).await;
    let set = |mut v: Vec<i64>| {
        v.sort();
        v
    };
    assert_eq!(
        set(app.list_ids("u", "due_before=2030-01-10").await),
        set(vec![past, past_done, jan10]),
        "a plain date includes the whole day"
    );
    assert_eq!(
        set(app.list_ids("u", "due_before=2030-01-10T15:30:00Z").await),
        set(vec![past, past_done, jan10]),
        "the exact bound is included"
    );
    assert_eq!(
        app.list_ids("u", "due_after=2030-01-10T15:30:00Z").await,
        vec![jan10]
    );
    assert_eq!(
        app.list_ids("u", "due_after=2030-01-10T15:30:01Z").await,
        Vec::<i64>::new()
    );
    assert_eq!(app.list_ids("u", "overdue=true").await, vec![past]);
    assert_eq!(
        set(app.list_ids("u", "overdue=false").await),
        set(vec![past_done, jan10, none])
    );
}

async fn search_is_case_insensitive_and_literal(app: TestApp) {
    let coffee = app
        .create(
            "u",
            json!({ "title": "Buy CAFÉ beans", "description": "dark roast" }),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let sale = app
        .create(
            "u",
            json!({ "title": "50% off", "description": "snake_case_name" }),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let quote = app.create_titled("u", "O'Brien; DROP TABLE tasks;--").await;
    assert_eq!(app.list_ids("u", "q=café").await, vec![coffee]);
    assert_eq!(
        app.list_ids("u", "q=ROAST").await,
        vec![coffee],
        "description too"
    );
    assert_eq!(app.list_ids("u", "q=50%25").await, vec![sale]);
    assert_eq!(app.list_ids("u", "q=%25").await, vec![sale], "% is literal");
    assert_eq!(app.list_ids("u", "q=e_c").await, vec![sale], "_ is literal");
    assert_eq!(app.list_ids("u", "q=_").await, vec![sale]);
    assert_eq!(app.list_ids("u", "q=%5C").await, Vec::<i64>::new());
    assert_eq!(app.list_ids("u", "q=drop%20table").await, vec![quote]);
    assert_eq!(app.list("u", "").await.1, 3, "nothing was dropped");
}

async fn every_sort_is_total_with_due_dates_last(app: TestApp) {
    // Titles and priorities repeat so that ties are broken by id.
    let specs = [
        ("b", "high", Some("2030-03-01")),
        ("a", "low", None),
        ("b", "medium", Some("2030-01-01")),
        ("a", "high", Some("2030-03-01")),
        ("c", "low", None),
    ];
    let mut tasks = Vec::new();
    for (title, priority, due) in specs {
        tasks.push(
            app.create(
                "u",
                json!({ "title": title, "priority": priority, "due_date": due }),
            )
            .await,
        );
    }
    let rank = |p: &Value| {
        ["low", "medium", "high"]
            .iter()
            .position(|x| p == x)
            .unwrap()
    };
    for sort in ["created_at", "updated_at", "due_date", "priority", "title"] {
        for order in ["asc", "desc"] {
            let mut expected = tasks.clone();
            expected.sort_by(|x, y| {
                let id = x["id"].as_i64().cmp(&y["id"].as_i64());
                let key = match sort {
                    "priority" => rank(&x["priority"]).cmp(&rank(&y["priority"])),
                    "title" => x["title"].as_str().cmp(&y["title"].as_str()),
                    "due_date" => {
                        // Nulls last in both directions: handled below.
                        x["due_date"].as_str().cmp(&y["due_date"].as_str())
                    }
                    // Created in id order, so timestamps tie-break by id.
                    _ => std::cmp::Ordering::Equal,
                };
                let ord = key.then(id);
                if order == "desc" { ord.reverse() } else { ord }
            });
            if sort == "due_date" {
                let (dated, undated): (Vec<Value>, Vec<Value>) =
                    expected.into_iter().partition(|t| !t["due_date"].is_null());
                let mut undated = undated;
                undated.sort_by_key(|t| t["id"].as_i64());
                if order == "desc" {
                    undated.reverse();
                }
                expected = dated.into_iter().chain(undated).collect();
            }
            let want: Vec<i64> = expected.iter().map(|t| t["id"].as_i64().unwrap()).collect();
            let got = app
                .list_ids("u", &format!("sort={sort}&order={order}"))
                .await;
            assert_eq!(got, want, "sort={sort}&order={order}");
        }
    }
}

async fn pages_never_skip_or_repeat(app: TestApp) {
    let mut all = HashSet::new();
    for i in 0..11 {
        let p = ["low", "medium", "high"][i % 3];
        all.insert(
            app.create("u", json!({ "title": "same", "priority": p }))
                .await["id"]
                .as_i64()
                .unwrap(),
        );
    }
    for sort in ["priority", "title", "due_date"] {
        let mut seen = Vec::new();
        for offset in (0..12).step_by(3) {
            let page = app
                .list_ids("u", &format!("sort={sort}&limit=3&offset={offset}"))
                .await;
            seen.extend(page);
        }
        assert_eq!(seen.len(), 11, "{sort}: {seen:?}");
        assert_eq!(seen.iter().copied().collect::<HashSet<_>>(), all, "{sort}");
    }
}

async fn link_and_total_count_describe_the_page(app: TestApp) {
    for i in 0..5 {
        app.create_titled("u", &format!("t{i}")).await;
    }
    app.create("u", json!({ "title": "done", "completed": true }))
        .await;
    let resp = app
        .call(
            Method::GET,
            "/api/tasks?status=pending&limit=2",
            Some("u"),
            None,
        )
        .await;
    assert_eq!(resp.headers()["x-total-count"], "5");
    let link = resp.headers()["link"].to_str().unwrap().to_owned();
    assert_eq!(
        link,
        "</api/tasks?status=pending&limit=2&offset=2>; rel=\"next\""
    );
    // Follow the links to the end.
    let mut next = Some(link);
    let mut count = 0;
    while let Some(link) = next {
        let target = link
            .trim_start_matches('<')
            .split('>')
            .next()
            .unwrap()
            .to_owned();
        let resp = app.call(Method::GET, &target, Some("u"), None).await;
        assert_eq!(resp.headers()["x-total-count"], "5");
        next = resp
            .headers()
            .get("link")
            .map(|v| v.to_str().unwrap().to_owned());
        count += resp.json::<Vec<Value>>().await.unwrap().len();
    }
    assert_eq!(count, 3, "the two pages after the first");
    // Past the end: empty, still counted, no next link.
    let resp = app
        .call(Method::GET, "/api/tasks?offset=50", Some("u"), None)
        .await;
    assert_eq!(resp.headers()["x-total-count"], "6");
    assert!(resp.headers().get("link").is_none());
    assert!(resp.json::<Vec<Value>>().await.unwrap().is_empty());
    // Without a limit the whole list comes back.
    let (tasks, total) = app.list("u", "").await;
    assert_eq!((tasks.len(), total), (6, 6));
}

async fn invalid_parameters_are_all_reported(app: TestApp) {
    let resp = app
        .call(
            Method::GET,
            "/api/tasks?status=finished&priority=urgent&category=x&sort=id&order=up&limit=0\
             &offset=-1&due_before=soon&due_after=2030-02-30&overdue=maybe",
            Some("u"),
            None,
        )
        .await;
    let names = [
        "status",
        "priority",
        "category",
        "sort",
        "order",
        "limit",
        "offset",
        "due_before",
        "due_after",
        "overdue",
    ];
    let locs: Vec<Value> = names.iter().map(|n| json!(["query", n])).collect();
    assert_422(resp, &locs).await;
    for q in [
        "limit=1001",
        "limit=abc",
        "offset=99999999999999999999",
        "q=%00",
    ] {
        let resp = app
            .call(Method::GET, &format!("/api/tasks?{q}"), Some("u"), None)
            .await;
        assert_eq!(resp.status(), 422, "{q}");
    }
    let resp = app
        .call(
            Method::GET,
            &format!("/api/tasks?q={}", "x".repeat(201)),
            Some("u"),
            None,
        )
        .await;
    assert_422(resp, &[json!(["query", "q"])]).await;
    // Unknown parameters are ignored.
    assert_eq!(app.list("u", "colour=red").await.1, 0);
}
