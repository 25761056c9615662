//! Queueing: a queued build's defaults, event and creator, and the queue's gates in order.

use entity::enums::Role;
use serde_json::{Value, json};

use crate::support::{TestApp, clone_input, code};

use super::setup;

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
