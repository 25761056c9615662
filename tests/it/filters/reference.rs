//! Malformed filter values, and the filters of the reference lists.

use entity::{
    cluster,
    enums::{EndpointMode, Role},
    proxmox_endpoint,
};
use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, Set};
use serde_json::json;

use crate::support::{TestApp, code};

use super::{List, case, expect};

#[tokio::test]
async fn malformed_filter_values_are_bad_user_input() {
    let app = TestApp::new().await;
    for (list, filter, field) in [
        (List::Definitions, json!({"id": {"eq": "abc"}}), "id"),
        (
            List::Definitions,
            json!({"tenant": {"in": ["1", "x"]}}),
            "tenant",
        ),
        (
            List::Definitions,
            json!({"not": {"proxmoxEndpoint": {"gt": "-3"}}}),
            "proxmoxEndpoint",
        ),
        (List::Builds, json!({"createdBy": {"eq": "0"}}), "createdBy"),
        (
            List::Builds,
            json!({"or": [{"definition": {"lte": "1.5"}}]}),
            "definition",
        ),
    ] {
        let (field_name, input, _) = list.parts();
        let body = app
            .as_user(
                &app.admin,
                &format!("query($f: {input}) {{ {field_name}(filter: $f) {{ totalCount }} }}"),
                json!({ "f": filter }),
            )
            .await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{filter}: {body}");
        assert!(
            body["errors"][0]["extensions"]["fields"][field].is_array(),
            "{filter}: the error should name `{field}`: {body}"
        );
    }
}

#[tokio::test]
async fn reference_lists_filter() {
    let app = TestApp::new().await;
    let world = app.world().await;
    let seed = app.seed();
    let db = &app.app.db;

    // A second cluster owned by t1.
    let c2 = seed.cluster("pve-lab").await;
    let mut row = cluster::Entity::find_by_id(c2)
        .one(db)
        .await
        .expect("read")
        .expect("cluster")
        .into_active_model();
    row.tenant_id = Set(Some(world.t1));
    row.update(db).await.expect("update cluster");

    // A second endpoint that differs in everything.
    let e2 = seed.endpoint("edge-api").await;
    let mut row = proxmox_endpoint::Entity::find_by_id(e2)
        .one(db)
        .await
        .expect("read")
        .expect("endpoint")
        .into_active_model();
    row.port = Set(443);
    row.domain = Set(Some("pve.example.net".into()));
    row.enabled = Set(false);
    row.allow_writes = Set(false);
    row.mode = Set(EndpointMode::Standalone);
    row.tenant_id = Set(Some(world.t2));
    row.update(db).await.expect("update endpoint");

    seed.template("tpl-one", world.cluster, 9001, &[world.t1])
        .await;
    seed.template("tpl-any", c2, 9002, &[]).await;

    let (t1, t2) = (world.t1.to_string(), world.t2.to_string());
    #[rustfmt::skip]
    let cases = [
        case(json!({"name": {"contains": "One"}}), &["Tenant One"]),
        case(json!({"slug": {"exact": "tenant-two"}}), &["Tenant Two"]),
        case(json!({"id": {"gt": t1}}), &["Tenant Two"]),
        case(json!({"q": "tenant"}), &["Tenant One", "Tenant Two"]),
    ];
    expect(&app, List::Tenants, cases).await;
    #[rustfmt::skip]
    let cases = [
        case(json!({"tenant": {"eq": t1}}), &["pve-lab"]),
        case(json!({"tenant": {"isNull": true}}), &["pve-prod"]),
        case(json!({"clusterType": {"exact": "proxmox"}}), &["pve-lab", "pve-prod"]),
        case(json!({"name": {"iContains": "LAB"}}), &["pve-lab"]),
        case(json!({"not": {"tenant": {"eq": t1}}}), &["pve-prod"]),
    ];
    expect(&app, List::Clusters, cases).await;
    #[rustfmt::skip]
    let cases = [
        case(json!({"port": {"gt": 1000}}), &["pve-api"]),
        case(json!({"port": {"lte": 443}}), &["edge-api"]),
        case(json!({"domain": {"isNull": true}}), &["pve-api"]),
        case(json!({"domain": {"endsWith": ".net"}}), &["edge-api"]),
        case(json!({"enabled": {"eq": false}}), &["edge-api"]),
        case(json!({"allowWrites": {"eq": true}}), &["pve-api"]),
        case(json!({"mode": {"eq": "STANDALONE"}}), &["edge-api"]),
        case(json!({"mode": {"in": ["CLUSTER", "UNDEFINED"]}}), &["pve-api"]),
        case(json!({"tenant": {"eq": t2}}), &["edge-api"]),
        case(json!({"not": {"domain": {"contains": "example"}}}), &["pve-api"]),
        // `q` also looks in the nullable domain; its negation still includes the NULL rows.
        case(json!({"q": "EXAMPLE"}), &["edge-api"]),
        case(json!({"not": {"q": "example"}}), &["pve-api"]),
        case(json!({"not": {"q": "edge"}}), &["pve-api"]),
    ];
    expect(&app, List::Endpoints, cases).await;
    #[rustfmt::skip]
    let cases = [
        case(json!({"tenant": {"eq": t1}}), &["tpl-one"]),
        case(json!({"tenant": {"isNull": true}}), &["tpl-any"]),
        case(json!({"sourceVmid": {"gt": 9001}}), &["tpl-any"]),
        case(json!({"cluster": {"eq": c2.to_string()}}), &["tpl-any"]),
        case(json!({"osFamily": {"eq": "UBUNTU"}}), &["tpl-any", "tpl-one"]),
        case(json!({"isActive": {"eq": false}}), &[]),
        case(json!({"name": {"startsWith": "tpl-o"}}), &["tpl-one"]),
    ];
    expect(&app, List::Templates, cases).await;
    let (viewer, _) = app.user(Role::Viewer, &[world.t1], false).await;
    let (worker, _) = app.user(Role::Worker, &[], false).await;
    let usernames = users_by_id(&app).await;
    let (viewer, worker) = (&usernames[&viewer], &usernames[&worker]);
    #[rustfmt::skip]
    let cases = [
        case(json!({"role": {"eq": "VIEWER"}}), &[viewer]),
        case(json!({"role": {"in": ["ADMIN", "WORKER"]}}), &["admin", worker]),
        case(json!({"tenant": {"eq": t1}}), &[viewer]),
        case(json!({"tenant": {"isNull": true}}), &["admin", worker]),
        case(json!({"username": {"exact": "admin"}}), &["admin"]),
        case(json!({"isActive": {"eq": true}}), &["admin", viewer, worker]),
    ];
    expect(&app, List::Users, cases).await;
}

/// Every user name by id.
async fn users_by_id(app: &TestApp) -> std::collections::HashMap<i32, String> {
    entity::user::Entity::find()
        .all(&app.app.db)
        .await
        .expect("users")
        .into_iter()
        .map(|u| (u.id, u.username))
        .collect()
}
