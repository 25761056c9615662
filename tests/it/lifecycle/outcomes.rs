//! After a build: catalog publish, and the reaper's timeouts.

use entity::{cluster, enums::BuildStatus, tenant};
use packer_gateway::registry::lifecycle;
use serde_json::{Value, json};

use crate::support::{at, clone_input, code, gid};

use super::{seed_build, setup};

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
