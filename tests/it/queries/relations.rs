//! Relation fields: every one resolves, and nested relations respect visibility.

use entity::enums::{BuildStatus, Role};
use serde_json::{Value, json};

use crate::support::{TestApp, at};

use super::{build_id, definition_id, graph, id, user_id};

#[tokio::test]
async fn every_relation_field_resolves() {
    let app = TestApp::new().await;
    let g = graph(&app).await;
    let data = app
        .data(
            "query($completed: ID!, $rebuild: ID!) {
               completed: imageBuild(id: $completed) {
                 definition { id name }
                 proxmoxEndpoint { id name tenant { name } }
                 createdBy { id username tenants { name } }
                 cloudImageTemplate { name cluster { name tenant { name } } allowedTenants { name } }
                 rebuildOf { id }
                 events { fromStatus toStatus message actor { username } build { id } }
               }
               rebuild: imageBuild(id: $rebuild) {
                 createdBy { id } cloudImageTemplate { id } rebuildOf { id status }
                 events { fromStatus toStatus actor { id } }
               }
             }",
            json!({ "completed": id(g.completed), "rebuild": id(g.rebuild) }),
        )
        .await;
    let completed = &data["completed"];
    assert_eq!(
        completed["definition"]["id"],
        json!(definition_id(g.definition))
    );
    assert_eq!(completed["proxmoxEndpoint"]["name"], json!("pve-api"));
    assert_eq!(
        completed["proxmoxEndpoint"]["tenant"]["name"],
        json!("Tenant Two")
    );
    assert_eq!(completed["createdBy"]["id"], json!(user_id(g.user)));
    assert_eq!(
        completed["createdBy"]["tenants"],
        json!([{"name": "Tenant One"}])
    );
    let template = &completed["cloudImageTemplate"];
    assert_eq!(template["name"], json!("ubuntu-2404-20260101"));
    assert_eq!(template["cluster"]["name"], json!("pve-prod"));
    assert_eq!(template["cluster"]["tenant"]["name"], json!("Tenant One"));
    assert_eq!(template["allowedTenants"], json!([{"name": "Tenant Two"}]));
    assert_eq!(completed["rebuildOf"], Value::Null);
    let events = completed["events"].as_array().expect("events");
    let steps: Vec<(&Value, &Value, &Value)> = events
        .iter()
        .map(|e| (&e["fromStatus"], &e["toStatus"], &e["message"]))
        .collect();
    assert_eq!(
        steps,
        [
            (&Value::Null, &json!("PENDING"), &json!("")),
            (&json!("PENDING"), &json!("RUNNING"), &json!("started")),
            (&json!("RUNNING"), &json!("COMPLETED"), &json!("done")),
        ]
    );
    assert!(
        events
            .iter()
            .all(|e| e["build"]["id"] == json!(build_id(g.completed)))
    );
    assert_eq!(events[1]["actor"]["username"], json!("admin"));

    let rebuild = &data["rebuild"];
    assert_eq!(rebuild["createdBy"], Value::Null);
    assert_eq!(rebuild["cloudImageTemplate"], Value::Null);
    assert_eq!(
        rebuild["rebuildOf"],
        json!({"id": build_id(g.completed), "status": "COMPLETED"})
    );
    assert_eq!(
        rebuild["events"],
        json!([{"fromStatus": null, "toStatus": "PENDING", "actor": null}])
    );

    let data = app
        .data(
            "query($id: ID, $bare: ID) {
               full: imageDefinition(id: $id) {
                 proxmoxEndpoint { name } targetCluster { name tenant { name } }
                 allowedTenants { name } latestBuild { id }
                 builds { nodes { id } totalCount }
               }
               bare: imageDefinition(id: $bare) {
                 targetCluster { name } allowedTenants { name } latestBuild { id }
                 builds { nodes { id } totalCount pageInfo { hasNextPage endCursor } }
               }
             }",
            json!({ "id": id(g.definition), "bare": id(g.bare) }),
        )
        .await;
    let full = &data["full"];
    assert_eq!(full["proxmoxEndpoint"]["name"], json!("pve-api"));
    assert_eq!(
        full["targetCluster"],
        json!({"name": "pve-prod", "tenant": {"name": "Tenant One"}})
    );
    assert_eq!(
        full["allowedTenants"],
        json!([{"name": "Tenant One"}, {"name": "Tenant Two"}]),
        "by name"
    );
    assert_eq!(full["latestBuild"]["id"], json!(build_id(g.rebuild)));
    assert_eq!(
        full["builds"],
        json!({"nodes": [{"id": build_id(g.rebuild)}, {"id": build_id(g.completed)}],
               "totalCount": 2})
    );
    assert_eq!(
        data["bare"],
        json!({
            "targetCluster": null, "allowedTenants": [], "latestBuild": null,
            "builds": {"nodes": [], "totalCount": 0,
                       "pageInfo": {"hasNextPage": false, "endCursor": null}}
        })
    );
}

#[tokio::test]
async fn nested_relations_respect_visibility() {
    let app = TestApp::new().await;
    let g = graph(&app).await;
    app.seed()
        .build(
            g.bare,
            g.endpoint,
            BuildStatus::Pending,
            at(0),
            None,
            |_| {},
        )
        .await;
    let (_, viewer) = app.user(Role::Viewer, &[g.t1], false).await;
    // The catalog entry of `completed` is for t2 only: a t1 viewer sees the build but not it.
    let body = app
        .as_user(
            &viewer,
            "query($id: ID!) { imageBuild(id: $id) { id cloudImageTemplate { id }
                 definition { builds { totalCount } } } }",
            json!({ "id": id(g.completed) }),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(
        body["data"]["imageBuild"]["cloudImageTemplate"],
        Value::Null
    );
    assert_eq!(
        body["data"]["imageBuild"]["definition"]["builds"]["totalCount"],
        json!(2)
    );
}
