//! The build lifecycle through the API (SPEC §2): transitions, gates, concurrency, catalog
//! publish, timeouts and idempotency.

use entity::{
    cluster,
    enums::{BuildStatus, Role},
    image_build, tenant,
};
use futures_util::future::join_all;
use packer_gateway::registry::lifecycle;
use serde_json::{Value, json};

use crate::support::{TestApp, World, at, clone_input, code, gid, key_of};

const ALL: [BuildStatus; 5] = [
    BuildStatus::Pending,
    BuildStatus::Running,
    BuildStatus::Failed,
    BuildStatus::Completed,
    BuildStatus::Cancelled,
];

fn gql(status: BuildStatus) -> &'static str {
    match status {
        BuildStatus::Pending => "PENDING",
        BuildStatus::Running => "RUNNING",
        BuildStatus::Failed => "FAILED",
        BuildStatus::Completed => "COMPLETED",
        BuildStatus::Cancelled => "CANCELLED",
    }
}

/// The mutation that asks for `to`, with its extra arguments.
fn mutation_to(to: BuildStatus) -> (&'static str, &'static str) {
    match to {
        BuildStatus::Pending => ("rebuildImage", ""),
        BuildStatus::Running => ("startImageBuild", ", backendBuildId: \"packer-1\""),
        BuildStatus::Completed => ("completeImageBuild", ""),
        BuildStatus::Failed => ("failImageBuild", ", error: \"disk full\""),
        BuildStatus::Cancelled => ("cancelImageBuild", ""),
    }
}

/// A world with the factory on (and room for many running builds) and one definition.
async fn setup() -> (TestApp, World, String) {
    let app = TestApp::new().await;
    let world = app.world().await;
    app.enable_factory(json!({"imageFactoryMaxConcurrentBuilds": 1000}))
        .await;
    let definition = app
        .create_definition(clone_input(&world, "Ubuntu 24.04", "ubuntu-2404"))
        .await;
    (app, world, definition)
}

async fn seed_build(app: &TestApp, world: &World, definition: &str, status: BuildStatus) -> String {
    let definition = key_of(definition);
    let id = app
        .seed()
        .build(
            definition,
            world.endpoint,
            status,
            at(-60),
            Some(app.admin_id),
            |_| {},
        )
        .await;
    gid::<image_build::Entity>(id)
}

#[tokio::test]
async fn every_pair_of_statuses_follows_the_transition_table() {
    let (app, world, definition) = setup().await;
    for from in ALL {
        for to in ALL {
            let id = seed_build(&app, &world, &definition, from).await;
            let events_before = app.count("build_event").await;
            let builds_before = app.count("image_build").await;
            let (mutation, args) = mutation_to(to);
            let body = app.lifecycle(&app.admin, mutation, &id, args).await;
            let pair = format!("{from:?} -> {to:?}: {body}");
            if lifecycle::allowed(from, to) {
                assert!(body.get("errors").is_none(), "{pair}");
                let build = &body["data"][mutation];
                assert_eq!(build["status"], gql(to), "{pair}");
                assert_eq!(app.count("build_event").await, events_before + 1, "{pair}");
                let last = build["events"]
                    .as_array()
                    .and_then(|e| e.last())
                    .cloned()
                    .unwrap_or_default();
                assert_eq!(last["toStatus"], gql(to), "{pair}");
                match to {
                    BuildStatus::Pending => {
                        assert_eq!(build["rebuildOf"]["id"], id.as_str(), "{pair}");
                        assert_ne!(build["id"], id.as_str(), "a rebuild is a new build");
                        assert_eq!(app.count("image_build").await, builds_before + 1);
                    }
                    BuildStatus::Running => {
                        assert!(build["startedAt"].is_string(), "{pair}");
                        assert_eq!(build["timeoutSeconds"], 14_400, "{pair}");
                        assert_eq!(build["backendBuildId"], "packer-1", "{pair}");
                    }
                    BuildStatus::Failed => {
                        assert!(build["completedAt"].is_string(), "{pair}");
                        assert_eq!(build["error"], "disk full", "{pair}");
                    }
                    BuildStatus::Completed | BuildStatus::Cancelled => {
                        assert!(build["completedAt"].is_string(), "{pair}");
                    }
                }
            } else {
                assert_eq!(code(&body), "INVALID_STATUS_TRANSITION", "{pair}");
                let extensions = &body["errors"][0]["extensions"];
                assert_eq!(extensions["from"], gql(from), "{pair}");
                assert_eq!(extensions["to"], gql(to), "{pair}");
                assert_eq!(app.count("build_event").await, events_before, "{pair}");
                assert_eq!(app.count("image_build").await, builds_before, "{pair}");
                let status = app
                    .data(
                        "query ($id: ID!) { imageBuild(id: $id) { status } }",
                        json!({"id": id}),
                    )
                    .await;
                assert_eq!(status["imageBuild"]["status"], gql(from), "{pair}");
            }
        }
    }
}

#[tokio::test]
async fn a_queued_build_has_defaults_an_event_and_its_creator() {
    let (app, _world, definition) = setup().await;
    let (_, operator) = app.user(Role::Operator, &[], true).await;
    let body = app
        .queue_build(
            &operator,
            json!({"definitionId": definition, "outputVmid": 9100}),
        )
        .await;
    let build = &body["data"]["queueImageBuild"];
    assert_eq!(build["status"], "PENDING", "{body}");
    let today = chrono::Utc::now();
    assert_eq!(
        build["outputName"],
        format!("ubuntu-2404-{}", today.format("%Y%m%d"))
    );
    assert_eq!(build["imageVersion"], today.format("%Y-%m-%d").to_string());
    assert!(
        build["createdBy"]["username"]
            .as_str()
            .is_some_and(|u| u.starts_with("user"))
    );
    assert_eq!(build["events"][0]["fromStatus"], json!(null));
    assert_eq!(build["events"][0]["toStatus"], "PENDING");
    assert_eq!(build["events"].as_array().map(Vec::len), Some(1));
}

/// Each gate of SPEC §2.2, in order: every check below fails several gates at once, and the
/// first one in the spec's order is the one reported; nothing is ever created.
#[tokio::test]
async fn queue_gates_apply_in_order_and_create_nothing() {
    let app = TestApp::new().await;
    let world = app.world().await;
    let mut input = clone_input(&world, "ISO", "iso");
    input["builderType"] = json!("PROXMOX_ISO");
    input["isoUrl"] = json!("https://mirror.example.net/u.iso");
    input["isoChecksum"] = json!(format!("sha256:{}", "0".repeat(64)));
    input["enabled"] = json!(false);
    input["allowedTenantIds"] = json!([world.t2.to_string()]);
    let definition = app.create_definition(input).await;
    app.data(
        "mutation ($id: ID!) { updateProxmoxEndpoint(id: $id, input: {allowWrites: false}) { id } }",
        json!({"id": world.endpoint.to_string()}),
    )
    .await;
    let (_, viewer) = app.user(Role::Viewer, &[world.t2], true).await;
    let (_, outsider) = app.user(Role::Operator, &[world.t1], true).await;
    let queue = json!({"definitionId": definition, "outputVmid": 50, "variables": {"cores": 0}});
    let expect = |body: &Value, wanted: &str, feature: Option<&str>| {
        assert_eq!(code(body), wanted, "{body}");
        if let Some(feature) = feature {
            assert_eq!(
                body["errors"][0]["extensions"]["feature"], feature,
                "{body}"
            );
        }
    };

    // 1. role, then visibility.
    expect(
        &app.queue_build(&viewer, queue.clone()).await,
        "FORBIDDEN",
        None,
    );
    expect(
        &app.queue_build(&outsider, queue.clone()).await,
        "NOT_FOUND",
        None,
    );
    assert_nothing_created(&app).await;
    // 2. the master switch.
    expect(
        &app.queue_build(&app.admin, queue.clone()).await,
        "FEATURE_DISABLED",
        Some("image_factory"),
    );
    app.enable_factory(json!({})).await;
    // 3. the definition.
    expect(
        &app.queue_build(&app.admin, queue.clone()).await,
        "DEFINITION_DISABLED",
        None,
    );
    app.data(
        "mutation ($id: ID!) { updateImageDefinition(id: $id, input: {enabled: true}) { id } }",
        json!({"id": definition}),
    )
    .await;
    // 4. the endpoint.
    expect(
        &app.queue_build(&app.admin, queue.clone()).await,
        "ENDPOINT_WRITES_DISABLED",
        None,
    );
    app.data(
        "mutation ($id: ID!) { updateProxmoxEndpoint(id: $id, input: {allowWrites: true}) { id } }",
        json!({"id": world.endpoint.to_string()}),
    )
    .await;
    // 5. ISO builds.
    expect(
        &app.queue_build(&app.admin, queue.clone()).await,
        "FEATURE_DISABLED",
        Some("iso_builds"),
    );
    app.enable_factory(json!({"imageFactoryAllowIsoBuilds": true}))
        .await;
    // 6. custom variables, then their rules.
    expect(
        &app.queue_build(&app.admin, queue.clone()).await,
        "FEATURE_DISABLED",
        Some("custom_variables"),
    );
    app.enable_factory(json!({"imageFactoryAllowCustomVariables": true}))
        .await;
    let body = app.queue_build(&app.admin, queue.clone()).await;
    expect(&body, "BAD_USER_INPUT", None);
    assert!(
        body["errors"][0]["extensions"]["fields"]["variables"].is_array(),
        "{body}"
    );
    // 7. the field rules of the request.
    let mut fixed = queue.clone();
    fixed["variables"] = json!({"cores": 4});
    let body = app.queue_build(&app.admin, fixed.clone()).await;
    expect(&body, "BAD_USER_INPUT", None);
    assert!(
        body["errors"][0]["extensions"]["fields"]["outputVmid"].is_array(),
        "{body}"
    );
    assert_nothing_created(&app).await;

    fixed["outputVmid"] = json!(9100);
    let body = app.queue_build(&app.admin, fixed).await;
    assert_eq!(
        body["data"]["queueImageBuild"]["status"], "PENDING",
        "{body}"
    );
    assert_eq!(app.count("image_build").await, 1);
    assert_eq!(app.count("build_event").await, 1);
}

async fn assert_nothing_created(app: &TestApp) {
    assert_eq!(app.count("image_build").await, 0);
    assert_eq!(app.count("build_event").await, 0);
}

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
    let (app, world, definition) = setup().await;
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
    let (app, world, definition) = setup().await;
    app.enable_factory(json!({"imageFactoryMaxConcurrentBuilds": 1}))
        .await;
    let other = app.second_instance(&[]).await;
    race_starts(&[&app, &other], &world, &definition, 8).await;
}

#[tokio::test]
async fn cancel_and_complete_racing_on_one_build_have_one_winner() {
    let (app, world, definition) = setup().await;
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
async fn a_completed_build_is_published_to_the_catalog() {
    let (app, world, _) = setup().await;
    let mut input = clone_input(&world, "Debian 12", "debian-12");
    input["osFamily"] = json!("DEBIAN");
    input["osRelease"] = json!("12");
    input["defaultCiuser"] = json!("debian");
    input["allowedTenantIds"] = json!([world.t1.to_string()]);
    let definition = app.create_definition(input).await;
    let publish = |name: &'static str| {
        let app = &app;
        let definition = definition.clone();
        async move {
            let queued = app
                .queue_build(
                    &app.admin,
                    json!({"definitionId": definition, "outputVmid": 9200, "outputName": name}),
                )
                .await;
            let id = queued["data"]["queueImageBuild"]["id"]
                .as_str()
                .expect("queued")
                .to_owned();
            app.lifecycle(&app.admin, "startImageBuild", &id, "").await;
            app.lifecycle(&app.admin, "completeImageBuild", &id, "")
                .await
        }
    };
    let first = publish("debian-12-base").await;
    let template = &first["data"]["completeImageBuild"]["cloudImageTemplate"];
    assert_eq!(template["name"], "debian-12-base", "{first}");
    assert_eq!(template["slug"], "debian-12-base-9200");
    let entry = app
        .data(
            "query ($id: ID!) { cloudImageTemplate(id: $id) { sourceVmid osFamily osRelease defaultCiuser isActive cluster { id } allowedTenants { id } } }",
            json!({"id": template["id"]}),
        )
        .await;
    assert_eq!(
        entry["cloudImageTemplate"],
        json!({"sourceVmid": 9200, "osFamily": "DEBIAN", "osRelease": "12", "defaultCiuser": "debian",
               "isActive": true, "cluster": {"id": gid::<cluster::Entity>(world.cluster)},
               "allowedTenants": [{"id": gid::<tenant::Entity>(world.t1)}]})
    );
    // The same (cluster, VMID) again updates the same entry.
    let second = publish("debian-12-base-v2").await;
    let again = &second["data"]["completeImageBuild"]["cloudImageTemplate"];
    assert_eq!(again["id"], template["id"], "{second}");
    assert_eq!(again["name"], "debian-12-base-v2");
    assert_eq!(app.count("cloud_image_template").await, 1);
}

#[tokio::test]
async fn a_build_without_target_cluster_is_not_published() {
    let (app, world, _) = setup().await;
    app.enable_factory(json!({"imageFactoryAllowIsoBuilds": true}))
        .await;
    let mut input = clone_input(&world, "ISO only", "iso-only");
    input["builderType"] = json!("PROXMOX_ISO");
    input["targetClusterId"] = Value::Null;
    input["isoStorage"] = json!("local:iso/u.iso");
    let definition = app.create_definition(input).await;
    let queued = app
        .queue_build(
            &app.admin,
            json!({"definitionId": definition, "outputVmid": 9300}),
        )
        .await;
    let id = queued["data"]["queueImageBuild"]["id"]
        .as_str()
        .expect("queued")
        .to_owned();
    app.lifecycle(&app.admin, "startImageBuild", &id, "").await;
    let done = app
        .lifecycle(&app.admin, "completeImageBuild", &id, "")
        .await;
    assert_eq!(
        done["data"]["completeImageBuild"]["cloudImageTemplate"],
        Value::Null,
        "{done}"
    );
    assert_eq!(app.count("cloud_image_template").await, 0);
}

#[tokio::test]
async fn the_reaper_fails_builds_that_ran_too_long() {
    let (app, world, definition) = setup().await;
    let old = seed_build(&app, &world, &definition, BuildStatus::Pending).await;
    let young = seed_build(&app, &world, &definition, BuildStatus::Pending).await;
    app.lifecycle(&app.admin, "startImageBuild", &old, "").await;
    app.lifecycle(&app.admin, "startImageBuild", &young, "")
        .await;
    // Nothing is due yet.
    let reaped = lifecycle::reap(&app.app.db, &app.app.events, at(0))
        .await
        .expect("reap");
    assert!(reaped.is_empty());
    // The reaper's clock is injected: 4 hours and a second later, both are due.
    let reaped = lifecycle::reap(&app.app.db, &app.app.events, at(14_401))
        .await
        .expect("reap");
    assert_eq!(reaped.len(), 2);
    let build = app
        .data(
            "query ($id: ID!) { imageBuild(id: $id) { status error completedAt events { toStatus actor { id } message } } }",
            json!({"id": old}),
        )
        .await;
    assert_eq!(build["imageBuild"]["status"], "FAILED");
    assert_eq!(build["imageBuild"]["error"], "job timed out after 14400 s");
    let last = build["imageBuild"]["events"]
        .as_array()
        .and_then(|e| e.last())
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        last,
        json!({"toStatus": "FAILED", "actor": null, "message": "job timed out after 14400 s"})
    );
    // A late report from the backend is refused.
    let late = app
        .lifecycle(&app.admin, "completeImageBuild", &old, "")
        .await;
    assert_eq!(code(&late), "INVALID_STATUS_TRANSITION", "{late}");
}

#[tokio::test]
async fn idempotency_keys_return_the_first_result() {
    let (app, _world, definition) = setup().await;
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

#[tokio::test]
async fn settings_keep_their_ranges_and_stay_single() {
    let app = TestApp::new().await;
    let update = |input: Value| {
        let app = &app;
        async move {
            app.as_user(
                &app.admin,
                "mutation ($input: UpdatePluginSettingsInput!) { updatePluginSettings(input: $input) { imageFactoryMaxConcurrentBuilds imageFactoryDefaultJobTimeout } }",
                json!({"input": input}),
            )
            .await
        }
    };
    for bad in [
        json!({"imageFactoryMaxConcurrentBuilds": 0}),
        json!({"imageFactoryMaxConcurrentBuilds": 1001}),
        json!({"imageFactoryDefaultJobTimeout": 59}),
        json!({"imageFactoryDefaultJobTimeout": 604_801}),
    ] {
        let body = update(bad.clone()).await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{bad}: {body}");
        let field = bad
            .as_object()
            .and_then(|o| o.keys().next().cloned())
            .unwrap_or_default();
        assert!(
            body["errors"][0]["extensions"]["fields"][&field].is_array(),
            "{body}"
        );
    }
    let ok = update(
        json!({"imageFactoryMaxConcurrentBuilds": 1000, "imageFactoryDefaultJobTimeout": 60}),
    )
    .await;
    assert_eq!(
        ok["data"]["updatePluginSettings"]["imageFactoryMaxConcurrentBuilds"], 1000,
        "{ok}"
    );
    let bodies =
        join_all((1..=20).map(|n| update(json!({"imageFactoryMaxConcurrentBuilds": n})))).await;
    assert!(
        bodies.iter().all(|b| b.get("errors").is_none()),
        "{bodies:?}"
    );
    assert_eq!(app.count("plugin_settings").await, 1);
    let settings = app
        .data(
            "{ pluginSettings { imageFactoryDefaultJobTimeout } }",
            json!({}),
        )
        .await;
    assert_eq!(
        settings["pluginSettings"]["imageFactoryDefaultJobTimeout"], 60,
        "patches only touch their fields"
    );
}
