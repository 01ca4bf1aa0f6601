//! The frontends that already exist (docs/frontends.md) and tags (docs/api.md#tags): each
//! convention through HTTP, each with a control that what a seed client
//! sends keeps its meaning. The requests are written in the styles of the
//! real frontends we tried (our own samples, not their code).

use reqwest::Method;
use serde_json::{Value, json};
use todo_api::config::{DeleteResponse, Envelope, JsonCase, PutSemantics, Settings};

use crate::helpers::{TestApp, assert_422, assert_detail};

crate::both_backends!(
    camel_case_body_fields_are_the_same_fields,
    enums_are_case_insensitive_with_status_synonyms,
    query_aliases_and_sort_spellings,
    toggle_is_an_alias_of_complete,
    tags_are_stored_filtered_and_counted_per_user,
    bad_tags_are_refused_and_nothing_is_stored,
    put_replaces_by_default,
);

crate::both_backends_with!(
    camel_json_case_shapes_every_body => |s: &mut Settings| s.conventions.json_case = JsonCase::Camel,
    named_envelope_wraps_lists_tasks_and_errors => |s: &mut Settings| s.conventions.response_envelope = Envelope::Named,
    data_envelope_wraps_every_success_body => |s: &mut Settings| s.conventions.response_envelope = Envelope::Data,
    put_merge_is_a_partial_update => |s: &mut Settings| s.conventions.put_semantics = PutSemantics::Merge,
    is_completed_key_and_json_delete => |s: &mut Settings| {
        s.conventions.response_is_completed = true;
        s.conventions.delete_response = DeleteResponse::Json;
    },
);

async fn body_of(
    app: &TestApp,
    method: Method,
    path: &str,
    user: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let resp = app.call(method, path, Some(user), body.as_ref()).await;
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        },
    )
}

async fn camel_case_body_fields_are_the_same_fields(app: TestApp) {
    // A form that posts camelCase: `dueDate`, `isCompleted`.
    let t = app
        .create(
            "cam",
            json!({ "title": "camel", "dueDate": "2030-01-02", "isCompleted": true,
                    "userId": "someone-else", "createdAt": "2000-01-01T00:00:00Z", "id": 999 }),
        )
        .await;
    assert_eq!(t["due_date"], "2030-01-02T00:00:00.000000Z");
    assert_eq!(t["completed"], true);
    assert_eq!(t["user_id"], "cam", "userId in a body is never trusted");
    assert_ne!(t["id"], 999);
    assert_ne!(t["created_at"], "2000-01-01T00:00:00.000000Z");
    let id = t["id"].as_i64().unwrap();
    // `is_completed`, and both spellings at once: the camelCase one wins
    // (an edit spread over a task read earlier).
    let (s, p) = body_of(
        &app,
        Method::PATCH,
        &format!("/api/tasks/{id}"),
        "cam",
        Some(json!({ "is_completed": false })),
    )
    .await;
    assert_eq!((s, &p["completed"]), (200, &json!(false)));
    let (s, p) = body_of(&app, Method::PATCH, &format!("/api/tasks/{id}"), "cam",
        Some(json!({ "due_date": "2030-01-02", "dueDate": "2031-05-06", "completed": false, "isCompleted": true }))).await;
    assert_eq!(s, 200);
    assert_eq!(p["due_date"], "2031-05-06T00:00:00.000000Z");
    assert_eq!(p["completed"], true);
    // An error names the spelling that was sent.
    let resp = app
        .call(
            Method::POST,
            "/api/tasks",
            Some("cam"),
            Some(&json!({ "title": "x", "dueDate": "soon" })),
        )
        .await;
    assert_422(resp, &[json!(["body", "dueDate"])]).await;
    // Control: the seeds' snake_case is read as before, and the response
    // is snake_case by default.
    let seed = app
        .create(
            "cam",
            json!({ "title": "seed", "due_date": "2030-03-04", "completed": false }),
        )
        .await;
    assert_eq!(seed["due_date"], "2030-03-04T00:00:00.000000Z");
    assert_eq!(seed["completed"], false);
    assert!(seed.get("dueDate").is_none() && seed.get("created_at").is_some());
    assert_eq!(
        app.list("cam", "").await.1,
        2,
        "the refused create stored nothing"
    );
}

async fn enums_are_case_insensitive_with_status_synonyms(app: TestApp) {
    let t = app
        .create(
            "en",
            json!({ "title": "a", "priority": "High", "category": "WORK", "status": "done" }),
        )
        .await;
    assert_eq!(
        (&t["priority"], &t["category"], &t["completed"]),
        (&json!("high"), &json!("work"), &json!(true))
    );
    for (word, completed) in [
        ("Pending", false),
        ("incomplete", false),
        ("TODO", false),
        ("active", false),
        ("open", false),
        ("Complete", true),
        ("DONE", true),
        ("completed", true),
    ] {
        let t = app
            .create(
                "en",
                json!({ "title": word, "status": word, "priority": "low" }),
            )
            .await;
        assert_eq!(t["completed"], completed, "{word}");
        assert_eq!(t["status"], if completed { "completed" } else { "pending" });
    }
    // In the filter too.
    let (_, pending) = app.list("en", "status=incomplete").await;
    let (_, done) = app.list("en", "status=Done").await;
    let (_, all) = app.list("en", "status=ALL").await;
    assert_eq!((pending, done, all), (5, 4, 9));
    assert_eq!(app.list("en", "priority=HIGH&category=Work").await.1, 1);
    // Control: the seeds' lowercase words mean what they meant.
    assert_eq!(app.list("en", "status=pending").await.1, 5);
    assert_eq!(app.list("en", "status=completed&priority=high").await.1, 1);
    // An unknown value is still the 422 naming the allowed ones; nothing stored.
    let resp = app
        .call(
            Method::POST,
            "/api/tasks",
            Some("en"),
            Some(&json!({ "title": "b", "priority": "urgent", "status": "finished" })),
        )
        .await;
    let body = assert_422(
        resp,
        &[json!(["body", "status"]), json!(["body", "priority"])],
    )
    .await;
    assert!(
        body["detail"][1]["msg"]
            .as_str()
            .unwrap()
            .contains("'low', 'medium' or 'high'"),
        "{body}"
    );
    let resp = app
        .call(Method::GET, "/api/tasks?status=finished", Some("en"), None)
        .await;
    assert_422(resp, &[json!(["query", "status"])]).await;
    assert_eq!(app.list("en", "").await.1, 9);
}

async fn query_aliases_and_sort_spellings(app: TestApp) {
    for (title, due) in [
        ("milk run", "2030-01-03"),
        ("buy MILK", "2030-01-01"),
        ("bread", "2030-01-02"),
    ] {
        app.create("qa", json!({ "title": title, "due_date": due }))
            .await;
    }
    let titles = |tasks: Vec<Value>| -> Vec<String> {
        tasks
            .iter()
            .map(|t| t["title"].as_str().unwrap().to_owned())
            .collect()
    };
    // Control: the seeds' names.
    let canonical = titles(app.list("qa", "q=milk&sort=due_date&order=asc").await.0);
    assert_eq!(canonical, ["buy MILK", "milk run"]);
    for query in [
        "search=milk&sort_by=due_date&sort_order=asc",
        "search=milk&sortBy=dueDate&sortOrder=ASC",
        "q=milk&sort=dueDate&order=asc",
        // The canonical name wins when both are given.
        "q=milk&search=bread&sort=due_date&sortBy=title&order=asc&sortOrder=desc",
    ] {
        assert_eq!(titles(app.list("qa", query).await.0), canonical, "{query}");
    }
    // `-field` is descending; an explicit order wins over it.
    assert_eq!(
        titles(app.list("qa", "sort=-dueDate").await.0),
        ["milk run", "bread", "buy MILK"]
    );
    assert_eq!(
        titles(app.list("qa", "sort_by=-due_date&order=asc").await.0),
        ["buy MILK", "bread", "milk run"]
    );
    assert_eq!(
        titles(app.list("qa", "sort=createdAt&order=asc").await.0),
        ["milk run", "buy MILK", "bread"]
    );
    // FastAPI's `skip` is `offset`.
    assert_eq!(
        titles(app.list("qa", "sort=created_at&order=asc&skip=2").await.0),
        ["bread"]
    );
    // An alias's bad value is named as sent.
    let resp = app
        .call(Method::GET, "/api/tasks?sortBy=colour", Some("qa"), None)
        .await;
    assert_422(resp, &[json!(["query", "sortBy"])]).await;
    // Another user's tasks are not searched.
    assert_eq!(app.list("other", "search=milk").await.1, 0);
}

async fn toggle_is_an_alias_of_complete(app: TestApp) {
    let id = app.create_titled("tg", "flip").await;
    for (prefix, expected) in [("/api/tasks", true), ("/api/tg/tasks", false)] {
        let (s, t) = body_of(
            &app,
            Method::PATCH,
            &format!("{prefix}/{id}/toggle"),
            "tg",
            None,
        )
        .await;
        assert_eq!((s, &t["completed"]), (200, &json!(expected)));
    }
    // Control: `/complete` still toggles, and the two agree on versions.
    let resp = app
        .call(
            Method::PATCH,
            &format!("/api/tasks/{id}/complete"),
            Some("tg"),
            None,
        )
        .await;
    let etag = resp.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(resp.json::<Value>().await.unwrap()["completed"], true);
    let stale = app
        .client
        .patch(app.url(&format!("/api/tasks/{id}/toggle")))
        .bearer_auth(app.token("tg"))
        .header("if-match", "\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 412);
    let fresh = app
        .client
        .patch(app.url(&format!("/api/tasks/{id}/toggle")))
        .bearer_auth(app.token("tg"))
        .header("if-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.status(), 200);
    // Another user's task is the same 404 as a missing one.
    for path in [
        format!("/api/tasks/{id}/toggle"),
        format!("/api/tasks/{}/toggle", id + 100),
    ] {
        assert_detail(
            app.call(Method::PATCH, &path, Some("intruder"), None).await,
            404,
            "Task not found",
        )
        .await;
    }
    let resp = app
        .call(
            Method::PATCH,
            &format!("/api/tg/tasks/{id}/toggle"),
            Some("intruder"),
            None,
        )
        .await;
    assert_detail(resp, 403, "User ID mismatch").await;
    let t: Value = app.get_task("tg", id).await.json().await.unwrap();
    assert_eq!(t["completed"], false, "five toggles, one refused");
}

async fn tags_are_stored_filtered_and_counted_per_user(app: TestApp) {
    // An array, and a comma-separated string (blank pieces dropped,
    // duplicates compared case-insensitively, the first spelling kept).
    let a = app
        .create(
            "alice",
            json!({ "title": "a", "tags": ["Errand", " urgent ", "ERRAND"] }),
        )
        .await;
    assert_eq!(a["tags"], json!(["Errand", "urgent"]));
    let b = app
        .create("alice", json!({ "title": "b", "tags": "errand, home,," }))
        .await;
    assert_eq!(b["tags"], json!(["errand", "home"]));
    let plain = app.create("alice", json!({ "title": "c" })).await;
    assert_eq!(plain["tags"], json!([]), "every task body has tags");
    app.create(
        "bob",
        json!({ "title": "bob's", "tags": ["errand", "secret"] }),
    )
    .await;
    let ids = |tasks: Vec<Value>| -> Vec<i64> {
        tasks.iter().map(|t| t["id"].as_i64().unwrap()).collect()
    };
    let (a_id, b_id) = (a["id"].as_i64().unwrap(), b["id"].as_i64().unwrap());
    // `tag=`: case-insensitive; repeated, a task must carry all of them.
    let mut both = ids(app
        .list("alice", "tag=ERRAND&sort=created_at&order=asc")
        .await
        .0);
    both.sort();
    assert_eq!(both, [a_id, b_id]);
    assert_eq!(
        ids(app.list("alice", "tag=errand&tag=Urgent").await.0),
        [a_id]
    );
    assert_eq!(
        app.list("alice", "tag=errand&tag=secret").await.1,
        0,
        "Bob's tag is not Alice's"
    );
    assert_eq!(
        app.list("alice", "tag=err").await.1,
        0,
        "a tag matches whole"
    );
    // GET /api/tags (both styles): counts per user, the first spelling.
    for path in ["/api/tags", "/api/alice/tags"] {
        let (s, tags) = body_of(&app, Method::GET, path, "alice", None).await;
        assert_eq!(s, 200);
        assert_eq!(
            tags,
            json!([{ "name": "Errand", "count": 2 }, { "name": "home", "count": 1 }, { "name": "urgent", "count": 1 }])
        );
    }
    let (_, bob) = body_of(&app, Method::GET, "/api/tags", "bob", None).await;
    assert_eq!(
        bob,
        json!([{ "name": "errand", "count": 1 }, { "name": "secret", "count": 1 }])
    );
    assert_detail(
        app.call(Method::GET, "/api/alice/tags", Some("bob"), None)
            .await,
        403,
        "User ID mismatch",
    )
    .await;
    // PATCH sets them; PUT without `tags` keeps them (a seed client's edit
    // form knows nothing of tags); PUT with `tags` replaces; `null` clears.
    let (_, p) = body_of(
        &app,
        Method::PATCH,
        &format!("/api/tasks/{a_id}"),
        "alice",
        Some(json!({ "tags": ["work"] })),
    )
    .await;
    assert_eq!(p["tags"], json!(["work"]));
    let (_, p) = body_of(
        &app,
        Method::PUT,
        &format!("/api/tasks/{a_id}"),
        "alice",
        Some(json!({ "title": "a2" })),
    )
    .await;
    assert_eq!((&p["title"], &p["tags"]), (&json!("a2"), &json!(["work"])));
    let (_, p) = body_of(
        &app,
        Method::PUT,
        &format!("/api/tasks/{a_id}"),
        "alice",
        Some(json!({ "title": "a3", "tags": "x,y" })),
    )
    .await;
    assert_eq!(p["tags"], json!(["x", "y"]));
    let (_, p) = body_of(
        &app,
        Method::PATCH,
        &format!("/api/tasks/{a_id}"),
        "alice",
        Some(json!({ "tags": null })),
    )
    .await;
    assert_eq!(p["tags"], json!([]));
    // Bob cannot tag Alice's task.
    let resp = app
        .call(
            Method::PATCH,
            &format!("/api/tasks/{b_id}"),
            Some("bob"),
            Some(&json!({ "tags": ["mine"] })),
        )
        .await;
    assert_detail(resp, 404, "Task not found").await;
    let (_, tags) = body_of(&app, Method::GET, "/api/tags", "alice", None).await;
    assert_eq!(
        tags,
        json!([{ "name": "errand", "count": 1 }, { "name": "home", "count": 1 }])
    );
    // Deleting a task takes its tags with it.
    app.call(
        Method::DELETE,
        &format!("/api/tasks/{b_id}"),
        Some("alice"),
        None,
    )
    .await;
    let (_, tags) = body_of(&app, Method::GET, "/api/tags", "alice", None).await;
    assert_eq!(tags, json!([]));
}

async fn bad_tags_are_refused_and_nothing_is_stored(app: TestApp) {
    let long = "x".repeat(51);
    let ok50 = "y".repeat(50);
    let resp = app
        .call(
            Method::POST,
            "/api/tasks",
            Some("bt"),
            Some(&json!({ "title": "t", "tags": ["ok", long] })),
        )
        .await;
    assert_422(resp, &[json!(["body", "tags", 1])]).await;
    let many: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
    let resp = app
        .call(
            Method::POST,
            "/api/tasks",
            Some("bt"),
            Some(&json!({ "title": "t", "tags": many })),
        )
        .await;
    assert_422(resp, &[json!(["body", "tags", 20])]).await;
    let resp = app
        .call(
            Method::POST,
            "/api/tasks",
            Some("bt"),
            Some(&json!({ "title": "t", "tags": format!("a,{long}") })),
        )
        .await;
    assert_422(resp, &[json!(["body", "tags", 1])]).await;
    for bad in [
        json!(5),
        json!([1]),
        json!([""]),
        json!(["a\u{1}b"]),
        json!({ "a": 1 }),
    ] {
        let resp = app
            .call(
                Method::POST,
                "/api/tasks",
                Some("bt"),
                Some(&json!({ "title": "t", "tags": bad })),
            )
            .await;
        assert_eq!(resp.status(), 422, "{bad}");
    }
    assert_eq!(
        app.list("bt", "").await.1,
        0,
        "nothing stored from a refused request"
    );
    // A refused PATCH changes nothing either.
    let t = app
        .create("bt", json!({ "title": "t", "tags": [ok50.clone()] }))
        .await;
    let id = t["id"].as_i64().unwrap();
    let resp = app
        .call(
            Method::PATCH,
            &format!("/api/tasks/{id}"),
            Some("bt"),
            Some(&json!({ "title": "new", "tags": [long] })),
        )
        .await;
    assert_eq!(resp.status(), 422);
    let now: Value = app.get_task("bt", id).await.json().await.unwrap();
    assert_eq!(now, t);
    let resp = app
        .call(
            Method::GET,
            &format!("/api/tasks?tag={long}"),
            Some("bt"),
            None,
        )
        .await;
    assert_422(resp, &[json!(["query", "tag"])]).await;
}

async fn put_replaces_by_default(app: TestApp) {
    // Control for PUT_SEMANTICS: a kanban move without a title is the seed
    // contract's 422, and a full PUT resets what it omits.
    let t = app
        .create(
            "pr",
            json!({ "title": "card", "priority": "high", "description": "d" }),
        )
        .await;
    let id = t["id"].as_i64().unwrap();
    let resp = app
        .call(
            Method::PUT,
            &format!("/api/tasks/{id}"),
            Some("pr"),
            Some(&json!({ "completed": true, "priority": "low" })),
        )
        .await;
    assert_422(resp, &[json!(["body", "title"])]).await;
    let (s, p) = body_of(
        &app,
        Method::PUT,
        &format!("/api/tasks/{id}"),
        "pr",
        Some(json!({ "title": "card" })),
    )
    .await;
    assert_eq!(
        (s, &p["priority"], &p["description"]),
        (200, &json!("medium"), &Value::Null)
    );
}

async fn put_merge_is_a_partial_update(app: TestApp) {
    let t = app
        .create(
            "pm",
            json!({ "title": "card", "priority": "high", "description": "d" }),
        )
        .await;
    let id = t["id"].as_i64().unwrap();
    // The kanban move: no title, only what changed.
    let (s, p) = body_of(
        &app,
        Method::PUT,
        &format!("/api/tasks/{id}"),
        "pm",
        Some(json!({ "completed": true, "priority": "low" })),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        (
            &p["title"],
            &p["description"],
            &p["priority"],
            &p["completed"]
        ),
        (&json!("card"), &json!("d"), &json!("low"), &json!(true))
    );
    // Still validated; still guarded by If-Match; still per user.
    let resp = app
        .call(
            Method::PUT,
            &format!("/api/tasks/{id}"),
            Some("pm"),
            Some(&json!({ "title": "" })),
        )
        .await;
    assert_422(resp, &[json!(["body", "title"])]).await;
    let resp = app
        .call(
            Method::PUT,
            &format!("/api/tasks/{id}"),
            Some("other"),
            Some(&json!({ "completed": false })),
        )
        .await;
    assert_detail(resp, 404, "Task not found").await;
    let stale = app
        .client
        .put(app.url(&format!("/api/tasks/{id}")))
        .bearer_auth(app.token("pm"))
        .header("if-match", "\"1\"")
        .json(&json!({ "completed": false }))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 412);
    let now: Value = app.get_task("pm", id).await.json().await.unwrap();
    assert_eq!(now["completed"], true);
    // The document says PUT takes the PATCH body.
    let doc = app.document().await;
    let put = &doc["paths"]["/api/tasks/{id}"]["put"]["requestBody"]["content"]["application/json"]
        ["schema"];
    assert_eq!(put["$ref"], "#/components/schemas/TaskPatch");
}

async fn camel_json_case_shapes_every_body(app: TestApp) {
    let created = app
        .call(
            Method::POST,
            "/api/tasks",
            Some("cc"),
            Some(&json!({ "title": "c", "dueDate": "2030-01-01", "tags": ["a"] })),
        )
        .await;
    assert_eq!(created.status(), 201);
    let t: Value = created.json().await.unwrap();
    for key in [
        "id",
        "userId",
        "title",
        "description",
        "completed",
        "status",
        "priority",
        "category",
        "dueDate",
        "createdAt",
        "updatedAt",
        "tags",
    ] {
        assert!(t.get(key).is_some(), "{key} in {t}");
    }
    assert!(
        t.get("due_date").is_none() && t.get("created_at").is_none(),
        "{t}"
    );
    assert_eq!(t["dueDate"], "2030-01-01T00:00:00.000000Z");
    let id = t["id"].as_i64().unwrap();
    let (_, list) = body_of(&app, Method::GET, "/api/tasks", "cc", None).await;
    assert_eq!(list[0]["createdAt"], t["createdAt"]);
    let (_, stats) = body_of(&app, Method::GET, "/api/stats", "cc", None).await;
    assert!(
        stats.get("completionRate").is_some() && stats["byPriority"]["medium"] == 1,
        "{stats}"
    );
    let (_, me) = body_of(&app, Method::GET, "/api/me", "cc", None).await;
    assert_eq!(me["tasks"]["total"], 1);
    // Errors too: a 422's ctx keys.
    let resp = app
        .call(
            Method::POST,
            "/api/tasks",
            Some("cc"),
            Some(&json!({ "title": "x".repeat(201) })),
        )
        .await;
    let e = assert_422(resp, &[json!(["body", "title"])]).await;
    assert_eq!(e["detail"][0]["ctx"], json!({ "maxLength": 200 }));
    // An Idempotency-Key replay is in the shape in force.
    for _ in 0..2 {
        let resp = app
            .client
            .post(app.url("/api/tasks"))
            .bearer_auth(app.token("cc"))
            .header("idempotency-key", "camel-1")
            .json(&json!({ "title": "once" }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
        let body: Value = resp.json().await.unwrap();
        assert!(
            body.get("userId").is_some() && body.get("user_id").is_none(),
            "{body}"
        );
    }
    // The document describes the shape in force.
    let doc = app.document().await;
    let task = &doc["components"]["schemas"]["Task"];
    assert!(task["properties"].get("dueDate").is_some(), "{task}");
    assert!(
        task["required"]
            .as_array()
            .unwrap()
            .contains(&json!("createdAt"))
    );
    let (s, _) = body_of(&app, Method::GET, &format!("/api/tasks/{id}"), "cc", None).await;
    assert_eq!(s, 200);
}

async fn named_envelope_wraps_lists_tasks_and_errors(app: TestApp) {
    for (title, done) in [("a", true), ("b", false), ("c", false)] {
        let resp = app
            .call(
                Method::POST,
                "/api/tasks",
                Some("ne"),
                Some(&json!({ "title": title, "completed": done })),
            )
            .await;
        assert_eq!(resp.status(), 201);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["task"]["title"], title, "{body}");
    }
    let (_, list) = body_of(&app, Method::GET, "/api/tasks", "ne", None).await;
    assert_eq!(
        (
            &list["total"],
            &list["completed_count"],
            &list["pending_count"]
        ),
        (&json!(3), &json!(1), &json!(2))
    );
    assert_eq!(list["tasks"].as_array().unwrap().len(), 3);
    // The filtered list's counts; a page does not change them.
    let (_, page) = body_of(
        &app,
        Method::GET,
        "/api/tasks?status=pending&limit=1",
        "ne",
        None,
    )
    .await;
    assert_eq!(
        (
            &page["total"],
            &page["completed_count"],
            &page["pending_count"]
        ),
        (&json!(2), &json!(0), &json!(2))
    );
    assert_eq!(page["tasks"].as_array().unwrap().len(), 1);
    let (_, q) = body_of(&app, Method::GET, "/api/tasks?q=a", "ne", None).await;
    assert_eq!((&q["total"], &q["completed_count"]), (&json!(1), &json!(1)));
    let id = list["tasks"][0]["id"].as_i64().unwrap();
    let (_, one) = body_of(&app, Method::GET, &format!("/api/tasks/{id}"), "ne", None).await;
    assert_eq!(one["task"]["id"], id);
    // Errors keep `detail` and add `error`.
    let (s, e) = body_of(&app, Method::GET, "/api/tasks/999999", "ne", None).await;
    assert_eq!(s, 404);
    assert_eq!(
        e,
        json!({ "detail": "Task not found", "error": { "code": "not_found", "message": "Task not found" } })
    );
    let (s, e) = body_of(&app, Method::POST, "/api/tasks", "ne", Some(json!({}))).await;
    assert_eq!((s, &e["error"]["code"]), (422, &json!("validation_error")));
    assert_eq!(e["detail"][0]["loc"], json!(["body", "title"]));
    let resp = app.client.get(app.url("/api/tasks")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let e: Value = resp.json().await.unwrap();
    assert_eq!(e["error"]["code"], "unauthorized");
    let (_, e) = body_of(&app, Method::GET, "/api/other/tasks", "ne", None).await;
    assert_eq!(e["error"]["code"], "forbidden");
    // Stats and health stay as they are; another user sees only theirs.
    let (_, stats) = body_of(&app, Method::GET, "/api/stats", "ne", None).await;
    assert_eq!(stats["total"], 3);
    let (_, other) = body_of(&app, Method::GET, "/api/tasks", "other", None).await;
    assert_eq!((&other["total"], &other["tasks"]), (&json!(0), &json!([])));
    let health: Value = app
        .client
        .get(app.url("/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health, json!({ "status": "healthy" }));
    let doc = app.document().await;
    let list_schema = &doc["paths"]["/api/tasks"]["get"]["responses"]["200"]["content"]["application/json"]
        ["schema"];
    assert!(
        list_schema["properties"].get("completed_count").is_some(),
        "{list_schema}"
    );
}

async fn data_envelope_wraps_every_success_body(app: TestApp) {
    let (s, t) = body_of(
        &app,
        Method::POST,
        "/api/tasks",
        "de",
        Some(json!({ "title": "d" })),
    )
    .await;
    assert_eq!((s, &t["data"]["title"]), (201, &json!("d")));
    let id = t["data"]["id"].as_i64().unwrap();
    let (_, list) = body_of(&app, Method::GET, "/api/tasks", "de", None).await;
    assert_eq!(
        (&list["data"]["total"], &list["data"]["tasks"][0]["id"]),
        (&json!(1), &json!(id))
    );
    let (_, one) = body_of(
        &app,
        Method::PATCH,
        &format!("/api/tasks/{id}/complete"),
        "de",
        None,
    )
    .await;
    assert_eq!(one["data"]["completed"], true);
    let (_, stats) = body_of(&app, Method::GET, "/api/stats", "de", None).await;
    assert_eq!(stats["data"]["completed"], 1);
    let (_, tags) = body_of(&app, Method::GET, "/api/tags", "de", None).await;
    assert_eq!(tags, json!({ "data": [] }));
    let (_, me) = body_of(&app, Method::GET, "/api/me", "de", None).await;
    assert_eq!(me["data"]["id"], "de");
    let (s, e) = body_of(
        &app,
        Method::DELETE,
        &format!("/api/tasks/{id}"),
        "someone",
        None,
    )
    .await;
    assert_eq!((s, &e["error"]["code"]), (404, &json!("not_found")));
    let (s, _) = body_of(
        &app,
        Method::DELETE,
        &format!("/api/tasks/{id}"),
        "de",
        None,
    )
    .await;
    assert_eq!(
        s, 204,
        "DELETE stays empty unless DELETE_RESPONSE says otherwise"
    );
}

async fn is_completed_key_and_json_delete(app: TestApp) {
    let t = app
        .create("ic", json!({ "title": "t", "completed": true }))
        .await;
    assert_eq!(
        (&t["completed"], &t["is_completed"]),
        (&json!(true), &json!(true))
    );
    let id = t["id"].as_i64().unwrap();
    let (_, list) = body_of(&app, Method::GET, "/api/tasks", "ic", None).await;
    assert_eq!(list[0]["is_completed"], true);
    let (_, flipped) = body_of(
        &app,
        Method::PATCH,
        &format!("/api/tasks/{id}/toggle"),
        "ic",
        None,
    )
    .await;
    assert_eq!(flipped["is_completed"], false);
    // Another user's delete is still the 404; the owner's answers JSON.
    let (s, _) = body_of(
        &app,
        Method::DELETE,
        &format!("/api/tasks/{id}"),
        "other",
        None,
    )
    .await;
    assert_eq!(s, 404);
    let (s, d) = body_of(
        &app,
        Method::DELETE,
        &format!("/api/tasks/{id}"),
        "ic",
        None,
    )
    .await;
    assert_eq!(
        (s, d),
        (
            200,
            json!({ "id": id, "deleted": true, "message": "Task deleted" })
        )
    );
    assert_eq!(app.get_task("ic", id).await.status(), 404);
    let doc = app.document().await;
    let del = &doc["paths"]["/api/tasks/{id}"]["delete"]["responses"];
    assert!(
        del.get("200").is_some() && del.get("204").is_none(),
        "{del}"
    );
}

/// A preflight and a credentialed request from `origin`; the CORS headers
/// of both answers.
async fn cors_headers(app: &TestApp, origin: &str) -> [Option<String>; 4] {
    let pre = app
        .client
        .request(Method::OPTIONS, app.url("/api/tasks"))
        .header("origin", origin)
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .send()
        .await
        .unwrap();
    let get = app
        .client
        .get(app.url("/api/tasks"))
        .header("origin", origin)
        .bearer_auth(app.token("co"))
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 200);
    let h = |r: &reqwest::Response, name: &str| {
        r.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    [
        h(&pre, "access-control-allow-credentials"),
        h(&get, "access-control-allow-credentials"),
        h(&get, "access-control-allow-origin"),
        h(&get, "vary"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_allows_credentials_for_an_explicit_origin_list_only() {
    let listed = TestApp::spawn_with(
        crate::helpers::Backend::Sqlite,
        "frontends::cors_list",
        |s| {
            s.server.cors_origins = Some("http://app.example:3000, http://localhost:5173".into());
        },
    )
    .await
    .unwrap();
    let [pre, get, origin, vary] = cors_headers(&listed, "http://localhost:5173").await;
    assert_eq!(pre.as_deref(), Some("true"));
    assert_eq!(get.as_deref(), Some("true"));
    assert_eq!(
        origin.as_deref(),
        Some("http://localhost:5173"),
        "the origin echoed"
    );
    assert!(
        vary.unwrap_or_default()
            .to_ascii_lowercase()
            .contains("origin")
    );
    // An origin not on the list is not granted (no allowed origin, so a
    // browser refuses the answer whatever else is said).
    let [_, _, origin, _] = cors_headers(&listed, "http://evil.example").await;
    assert_eq!(origin, None);
    // Control: `*` (the seeds' .env) allows any origin, never credentials.
    let any = TestApp::spawn_with(
        crate::helpers::Backend::Sqlite,
        "frontends::cors_any",
        |s| {
            s.server.cors_origins = Some("*".into());
        },
    )
    .await
    .unwrap();
    let [pre, get, origin, _] = cors_headers(&any, "http://localhost:5173").await;
    assert_eq!((pre, get), (None, None));
    assert_eq!(origin.as_deref(), Some("*"));
}

/// The page a frontend on another origin would be: it calls the API with
/// `credentials: "include"` and a bearer token, and writes what happened.
fn credentialed_page(api: &str, token: &str) -> String {
    format!(
        r#"<!doctype html><html><body><pre id="out">pending</pre><script>
const out = document.getElementById("out");
fetch("{api}/api/tasks", {{
  method: "POST",
  credentials: "include",
  headers: {{ "Authorization": "Bearer {token}", "Content-Type": "application/json" }},
  body: JSON.stringify({{ title: "from the browser", dueDate: "2030-01-01", tags: "web" }}),
}})
  .then((r) => r.json().then((b) => {{ out.textContent = "OK " + r.status + " " + b.title + " " + b.tags.join(","); }}))
  .catch((e) => {{ out.textContent = "FAILED " + e; }});
</script></body></html>"#
    )
}

/// Serve `page` at `/` on a port of its own (another origin than the API).
pub async fn serve_page(page: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(move || async move { axum::response::Html(page) }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_on_another_origin_calls_with_credentials_include() {
    let Some(browser) = crate::docs::chromium() else {
        assert!(
            std::env::var("CI").is_err(),
            "chromium must be installed in CI (apt-get install chromium)"
        );
        eprintln!("SKIPPED (Chromium): install Debian's chromium to run it");
        return;
    };
    // The page's origin is known only once it listens: start it first,
    // then the API with that origin listed.
    let (tx, rx) = tokio::sync::oneshot::channel::<(String, String)>();
    let page_origin = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let page = std::sync::Arc::new(tokio::sync::OnceCell::<String>::new());
        let served = page.clone();
        let app = axum::Router::new().route(
            "/",
            axum::routing::get(move || {
                let served = served.clone();
                async move { axum::response::Html(served.get().cloned().unwrap_or_default()) }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        tokio::spawn(async move {
            let (api, token) = rx.await.unwrap();
            page.set(credentialed_page(&api, &token)).unwrap();
        });
        origin
    };
    let listed = TestApp::spawn_with(
        crate::helpers::Backend::Sqlite,
        "frontends::browser_list",
        |s| {
            s.server.cors_origins = Some(page_origin.clone());
        },
    )
    .await
    .unwrap();
    tx.send((listed.base.clone(), listed.token("browser")))
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let dom = crate::docs::rendered(browser, format!("{page_origin}/"), 10_000).await;
    assert!(
        dom.contains("OK 201 from the browser web"),
        "the page says: {dom}"
    );
    assert_eq!(listed.list("browser", "").await.1, 1);
    // Control: with `*` the browser refuses the credentialed answer.
    let any = TestApp::spawn_with(
        crate::helpers::Backend::Sqlite,
        "frontends::browser_any",
        |s| {
            s.server.cors_origins = Some("*".into());
        },
    )
    .await
    .unwrap();
    let page = serve_page(credentialed_page(&any.base, &any.token("browser"))).await;
    let dom = crate::docs::rendered(browser, format!("{page}/"), 10_000).await;
    assert!(dom.contains("FAILED"), "the page says: {dom}");
    assert!(!dom.contains("OK 201"), "{dom}");
}
