//! `image-builds/`: queueing through POST and every status transition through PATCH, with the
//! core's gates, lifecycle, concurrency limit, idempotency and events — one core, two doors.

use axum::http::{Method, StatusCode};
use entity::enums::Role;
use serde_json::{Value, json};

use super::{API, call, create_definition, definition_body, enable_factory, get};
use crate::support::{TestApp, World};

async fn setup() -> (TestApp, World, i64) {
    let app = TestApp::new().await;
    let world = app.world().await;
    let definition = create_definition(&app, definition_body(&world, "Ubuntu", "ubuntu")).await;
    (app, world, definition)
}

async fn queue(app: &TestApp, token: &str, body: Value) -> super::Reply {
    call(app, Method::POST, "/image-builds/", Some(token), Some(body)).await
}

async fn patch(app: &TestApp, token: &str, build: i64, body: Value) -> super::Reply {
    call(
        app,
        Method::PATCH,
        &format!("/image-builds/{build}/"),
        Some(token),
        Some(body),
    )
    .await
}

fn id(reply: &super::Reply) -> i64 {
    reply.body["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("a build: {}", reply.body))
}

#[tokio::test]
async fn a_build_is_queued_and_moved_through_its_lifecycle_by_patches() {
    let (app, world, definition) = setup().await;
    enable_factory(&app, json!({})).await;
    let queued = queue(
        &app,
        &app.admin,
        json!({"definition": definition, "output_vmid": 9100}),
    )
    .await;
    assert_eq!(queued.status, StatusCode::CREATED, "{}", queued.body);
    let build = id(&queued);
    let b = &queued.body;
    assert_eq!(b["url"], json!(format!("{API}/image-builds/{build}/")));
    assert_eq!(
        b["status"],
        json!({"value": "pending", "label": "Pending", "color": "grey"})
    );
    assert_eq!(b["definition"]["id"], definition);
    assert_eq!(b["definition"]["name"], "Ubuntu");
    assert_eq!(
        b["definition"]["url"],
        json!(format!("{API}/image-definitions/{definition}/"))
    );
    assert_eq!(b["proxmox_endpoint"]["id"], world.endpoint);
    assert_eq!(b["created_by"]["name"], "admin");
    assert!(
        b["output_name"]
            .as_str()
            .is_some_and(|n| n.starts_with("ubuntu-"))
    );
    assert_eq!(b["display"], b["output_name"]);
    assert_eq!(b["started_at"], Value::Null);

    let running = patch(
        &app,
        &app.admin,
        build,
        json!({"status": "running", "backend_build_id": "packer-77", "netbox_job_id": 42}),
    )
    .await;
    assert_eq!(running.status, StatusCode::OK, "{}", running.body);
    assert_eq!(
        running.body["status"],
        json!({"value": "running", "label": "Running", "color": "blue"})
    );
    assert_eq!(running.body["backend_build_id"], "packer-77");
    assert_eq!(running.body["netbox_job_id"], 42);
    assert_eq!(running.body["timeout_seconds"], 14400);
    assert!(running.body["started_at"].is_string());

    // The same rows as GraphQL writes: the creation event and the start.
    assert_eq!(app.count("build_event").await, 2);
    let events = app
        .data("query($id: ID!) { imageBuild(id: $id) { events { fromStatus toStatus actor { username } } } }",
            json!({"id": build.to_string()}))
        .await;
    assert_eq!(
        events["imageBuild"]["events"],
        json!([{"fromStatus": null, "toStatus": "PENDING", "actor": {"username": "admin"}},
               {"fromStatus": "PENDING", "toStatus": "RUNNING", "actor": {"username": "admin"}}])
    );

    let completed = patch(
        &app,
        &app.admin,
        build,
        json!({"status": {"value": "completed"}, "backend_response": {"artifact": "vm-9100"}}),
    )
    .await;
    assert_eq!(completed.status, StatusCode::OK, "{}", completed.body);
    assert_eq!(completed.body["status"]["color"], "green");
    assert_eq!(
        completed.body["backend_response"],
        json!({"artifact": "vm-9100"})
    );
    let template = &completed.body["cloud_image_template"];
    assert!(
        template["name"].is_string(),
        "published to the catalog: {}",
        completed.body
    );
    let url = template["url"].as_str().expect("a url");
    let resolved = get(&app, url.trim_start_matches(API), &app.admin).await;
    assert_eq!(resolved.status, StatusCode::OK);

    // A refused transition is 409 with from and to, and changes nothing.
    let again = patch(&app, &app.admin, build, json!({"status": "running"})).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    assert_eq!(again.body["code"], "INVALID_STATUS_TRANSITION");
    assert_eq!(again.body["from"], "completed");
    assert_eq!(again.body["to"], "running");
    assert_eq!(app.count("build_event").await, 3);

    // Rebuild: a new pending build pointing at the completed one.
    let rebuilt = call(
        &app,
        Method::POST,
        &format!("/image-builds/{build}/rebuild/"),
        Some(&app.admin),
        None,
    )
    .await;
    assert_eq!(rebuilt.status, StatusCode::CREATED, "{}", rebuilt.body);
    assert_eq!(rebuilt.body["rebuild_of"]["id"], build);
    assert_eq!(
        rebuilt.body["rebuild_of"]["name"],
        completed.body["output_name"]
    );
    assert_eq!(rebuilt.body["output_vmid"], 9100);
}

#[tokio::test]
async fn fail_and_cancel_and_what_a_patch_may_not_carry() {
    let (app, _, definition) = setup().await;
    enable_factory(&app, json!({})).await;
    let body = json!({"definition": {"id": definition}, "output_vmid": 9100});
    let first = id(&queue(&app, &app.admin, body.clone()).await);
    let second = id(&queue(&app, &app.admin, body).await);

    let missing = patch(&app, &app.admin, first, json!({"status": "failed"})).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(missing.body, json!({"error": ["is required"]}));
    let failed = patch(
        &app,
        &app.admin,
        first,
        json!({"status": "failed", "error": "no such node"}),
    )
    .await;
    assert_eq!(failed.status, StatusCode::OK, "{}", failed.body);
    assert_eq!(failed.body["status"]["color"], "red");
    assert_eq!(failed.body["error"], "no such node");
    assert!(failed.body["completed_at"].is_string());

    let cancelled = patch(&app, &app.admin, second, json!({"status": "cancelled"})).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    assert_eq!(
        cancelled.body["status"],
        json!({"value": "cancelled", "label": "Cancelled", "color": "yellow"})
    );

    // No status: nothing to do. A field its transition does not take, a server-owned field,
    // a return to pending, an unknown status: all refused, by field, changing nothing.
    let events = app.count("build_event").await;
    for (body, field) in [
        (json!({"backend_build_id": "x"}), "status"),
        (json!({"status": "running", "error": "x"}), "error"),
        (
            json!({"status": "cancelled", "output_vmid": 100}),
            "output_vmid",
        ),
        (json!({"status": "running", "created_by": 1}), "created_by"),
        (json!({"status": "pending"}), "status"),
        (json!({"status": "exploded"}), "status"),
        (json!({}), "status"),
    ] {
        let reply = patch(&app, &app.admin, second, body.clone()).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            reply.body
        );
        assert!(reply.body[field].is_array(), "{body}: {}", reply.body);
    }
    assert_eq!(app.count("build_event").await, events);

    // Queueing refuses what the service sets.
    let reply = queue(
        &app,
        &app.admin,
        json!({"definition": definition, "output_vmid": 9100, "status": "running", "error": ""}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.body,
        json!({"status": ["is set by the service"], "error": ["is set by the service"]})
    );
    let reply = queue(&app, &app.admin, json!({"output_vmid": 5})).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.body["definition"], json!(["is required"]));
}

#[tokio::test]
async fn gates_idempotency_and_the_concurrency_limit() {
    let (app, _, definition) = setup().await;
    let body = json!({"definition": definition, "output_vmid": 9100});
    let disabled = queue(&app, &app.admin, body.clone()).await;
    assert_eq!(disabled.status, StatusCode::CONFLICT, "{}", disabled.body);
    assert_eq!(disabled.body["code"], "FEATURE_DISABLED");
    assert_eq!(disabled.body["feature"], "image_factory");
    assert_eq!(app.count("image_build").await, 0);

    enable_factory(&app, json!({"image_factory_max_concurrent_builds": 1})).await;
    let keyed = json!({"definition": definition, "output_vmid": 9100, "idempotency_key": "ci-1"});
    let first = queue(&app, &app.admin, keyed.clone()).await;
    let repeat = queue(&app, &app.admin, keyed).await;
    assert_eq!(id(&first), id(&repeat), "the first result");
    let reused = queue(
        &app,
        &app.admin,
        json!({"definition": definition, "output_vmid": 9200, "idempotency_key": "ci-1"}),
    )
    .await;
    assert_eq!(reused.status, StatusCode::CONFLICT, "{}", reused.body);
    assert_eq!(reused.body["code"], "IDEMPOTENCY_KEY_REUSED");
    let second = queue(&app, &app.admin, body).await;
    assert_eq!(app.count("image_build").await, 2);

    let (_, worker) = app.user(Role::Worker, &[], true).await;
    let started = patch(&app, &worker, id(&first), json!({"status": "running"})).await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.body);
    let refused = patch(&app, &worker, id(&second), json!({"status": "running"})).await;
    assert_eq!(
        refused.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        refused.body
    );
    assert_eq!(refused.body["code"], "CONCURRENCY_LIMIT");
    assert_eq!(refused.body["limit"], 1);
    let still = get(&app, &format!("/image-builds/{}/", id(&second)), &worker).await;
    assert_eq!(still.body["status"]["value"], "pending");

    // A VIEWER may read builds but report none of them.
    let (_, viewer) = app.user(Role::Viewer, &[], true).await;
    let reply = patch(&app, &viewer, id(&second), json!({"status": "cancelled"})).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
    assert_eq!(reply.body["code"], "FORBIDDEN");
}
