//! Concurrency: starts never exceed the limit (on one instance or two), a racing cancel and
//! complete have one winner, and idempotency keys return the first result.

use entity::enums::{BuildStatus, Role};
use futures_util::future::join_all;
use serde_json::json;

use crate::support::{RACE, TestApp, World, code};

use super::{seed_build, setup_with};

/// `max_concurrent_builds = 1`, 20 pending builds, 20 concurrent starts: exactly one runs.
async fn race_starts(apps: &[&TestApp], world: &World, definition: &str, rounds: usize) {
    let admin = &apps[0].admin;
    for round in 0..rounds {
        let mut ids = Vec::new();
        for _ in 0..20 {
            ids.push(seed_build(apps[0], world, definition, BuildStatus::Pending).await);
        }
        let requests = ids.iter().enumerate().map(|(i, id)| {
            let app = apps[i % apps.len()];
            async move { app.lifecycle(admin, "startImageBuild", id, "").await }
        });
        let bodies = join_all(requests).await;
        let started: Vec<_> = bodies
            .iter()
            .filter(|b| b.get("errors").is_none())
            .collect();
        let refused = bodies
            .iter()
            .filter(|b| code(b) == "CONCURRENCY_LIMIT")
            .inspect(|b| assert_eq!(b["errors"][0]["extensions"]["limit"], 1))
            .count();
        assert_eq!(started.len(), 1, "round {round}: {bodies:?}");
        assert_eq!(refused, 19, "round {round}: {bodies:?}");
        let running = apps[0]
            .data(
                "{ imageBuilds(filter: {status: {eq: RUNNING}}) { totalCount nodes { id } } }",
                json!({}),
            )
            .await;
        assert_eq!(running["imageBuilds"]["totalCount"], 1);
        let id = running["imageBuilds"]["nodes"][0]["id"]
            .as_str()
            .expect("an id")
            .to_owned();
        let body = apps[0].lifecycle(admin, "cancelImageBuild", &id, "").await;
        assert!(body.get("errors").is_none(), "{body}");
    }
}

#[tokio::test]
async fn concurrent_starts_never_exceed_the_limit() {
    let (app, world, definition) = setup_with(RACE).await;
    app.enable_factory(json!({"imageFactoryMaxConcurrentBuilds": 1}))
        .await;
    race_starts(&[&app], &world, &definition, 8).await;
}

#[tokio::test]
async fn concurrent_starts_on_two_instances_never_exceed_the_limit() {
    if crate::support::postgres().is_none() {
        eprintln!(
            "skipped: two instances share a database on PostgreSQL only (set TEST_DATABASE_URL)"
        );
        return;
    }
    let (app, world, definition) = setup_with(RACE).await;
    app.enable_factory(json!({"imageFactoryMaxConcurrentBuilds": 1}))
        .await;
    let other = app.second_instance(RACE).await;
    race_starts(&[&app, &other], &world, &definition, 8).await;
}

#[tokio::test]
async fn cancel_and_complete_racing_on_one_build_have_one_winner() {
    let (app, world, definition) = setup_with(RACE).await;
    for _ in 0..10 {
        let id = seed_build(&app, &world, &definition, BuildStatus::Running).await;
        let events_before = app.count("build_event").await;
        let (a, b) = tokio::join!(
            app.lifecycle(&app.admin, "cancelImageBuild", &id, ""),
            app.lifecycle(&app.admin, "completeImageBuild", &id, ""),
        );
        let winners = [&a, &b]
            .iter()
            .filter(|body| body.get("errors").is_none())
            .count();
        assert_eq!(winners, 1, "{a} {b}");
        let loser = if a.get("errors").is_some() { &a } else { &b };
        assert_eq!(code(loser), "INVALID_STATUS_TRANSITION", "{loser}");
        assert_eq!(app.count("build_event").await, events_before + 1);
    }
}

#[tokio::test]
async fn idempotency_keys_return_the_first_result() {
    let (app, _world, definition) = setup_with(RACE).await;
    let input = json!({"definitionId": definition, "outputVmid": 9400, "idempotencyKey": "abc-1"});
    let first = app.queue_build(&app.admin, input.clone()).await;
    let second = app.queue_build(&app.admin, input.clone()).await;
    let id = &first["data"]["queueImageBuild"]["id"];
    assert!(id.is_string(), "{first}");
    assert_eq!(&second["data"]["queueImageBuild"]["id"], id, "{second}");
    assert_eq!(app.count("image_build").await, 1);

    // Concurrently, with a fresh key: one build, the same answer for all.
    let input = json!({"definitionId": definition, "outputVmid": 9401, "idempotencyKey": "abc-2"});
    let bodies = join_all((0..10).map(|_| app.queue_build(&app.admin, input.clone()))).await;
    let ids: Vec<_> = bodies
        .iter()
        .map(|b| b["data"]["queueImageBuild"]["id"].clone())
        .collect();
    assert!(
        ids.iter().all(|i| i == &ids[0] && i.is_string()),
        "{bodies:?}"
    );
    assert_eq!(app.count("image_build").await, 2);

    // The same key with another input.
    let other = json!({"definitionId": definition, "outputVmid": 9999, "idempotencyKey": "abc-1"});
    let body = app.queue_build(&app.admin, other).await;
    assert_eq!(code(&body), "IDEMPOTENCY_KEY_REUSED", "{body}");
    assert_eq!(app.count("image_build").await, 2);

    // Keys belong to their principal.
    let (_, operator) = app.user(Role::Operator, &[], true).await;
    let body = app.queue_build(&operator, input).await;
    assert_ne!(body["data"]["queueImageBuild"]["id"], ids[0], "{body}");
}
