//! The reference lookups and lists, and the plugin settings' defaults.

use entity::{enums::Role, tenant};
use sea_orm::EntityTrait;
use serde_json::{Value, json};

use crate::support::{TestApp, gid};

use super::{failed_alone, graph, id, instant};

#[tokio::test]
async fn plugin_settings_start_at_their_defaults() {
    let app = TestApp::new().await;
    let data = app
        .data(
            "{ pluginSettings { imageFactoryEnabled imageFactoryMaxConcurrentBuilds
                 imageFactoryDefaultJobTimeout imageFactoryAllowIsoBuilds
                 imageFactoryAllowCustomVariables lastUpdated } }",
            json!({}),
        )
        .await;
    let settings = &data["pluginSettings"];
    assert_eq!(settings["imageFactoryEnabled"], json!(false));
    assert_eq!(settings["imageFactoryMaxConcurrentBuilds"], json!(1));
    assert_eq!(settings["imageFactoryDefaultJobTimeout"], json!(14400));
    assert_eq!(settings["imageFactoryAllowIsoBuilds"], json!(false));
    assert_eq!(settings["imageFactoryAllowCustomVariables"], json!(false));
    instant(&settings["lastUpdated"]);
    let (_, viewer) = app.user(Role::Viewer, &[], false).await;
    let body = app
        .as_user(
            &viewer,
            "{ pluginSettings { imageFactoryEnabled } }",
            json!({}),
        )
        .await;
    assert_eq!(
        body["data"]["pluginSettings"]["imageFactoryEnabled"],
        json!(false)
    );
}

#[tokio::test]
async fn reference_lookups_and_lists() {
    let app = TestApp::new().await;
    let g = graph(&app).await;
    let seed = app.seed();
    let lab = seed.cluster("pve-lab").await;
    let edge = seed.endpoint("edge-api").await;
    seed.template("alpine-3", lab, 2000, &[]).await;
    let usernames = {
        let mut names: Vec<String> = entity::user::Entity::find()
            .all(&app.app.db)
            .await
            .expect("users")
            .into_iter()
            .map(|u| u.username)
            .collect();
        names.sort();
        names
    };
    let data = app
        .data(
            "query($t: ID!, $c: ID!, $e: ID!, $tpl: ID!, $u: ID!) {
               tenant(id: $t) { id name slug }
               cluster(id: $c) { name clusterType tenant { name } }
               proxmoxEndpoint(id: $e) { name port mode verifySsl allowWrites enabled
                                          domain ipAddress tenant { name } }
               cloudImageTemplate(id: $tpl) { name sourceVmid osFamily osRelease defaultCiuser
                                              isActive cluster { name } }
               user(id: $u) { username role tenants { name } }
               tenants { nodes { name } totalCount }
               clusters { nodes { name } }
               proxmoxEndpoints { nodes { name } }
               cloudImageTemplates { nodes { name } }
               users { nodes { username } }
             }",
            json!({"t": id(g.t1), "c": id(g.cluster), "e": id(edge), "tpl": id(g.template),
                   "u": id(g.user)}),
        )
        .await;
    assert_eq!(
        data["tenant"],
        json!({"id": gid::<tenant::Entity>(g.t1), "name": "Tenant One", "slug": "tenant-one"})
    );
    assert_eq!(
        data["cluster"],
        json!({"name": "pve-prod", "clusterType": "proxmox", "tenant": {"name": "Tenant One"}})
    );
    assert_eq!(
        data["proxmoxEndpoint"],
        json!({"name": "edge-api", "port": 8006, "mode": "CLUSTER", "verifySsl": false,
               "allowWrites": true, "enabled": true, "domain": null, "ipAddress": null,
               "tenant": null})
    );
    assert_eq!(
        data["cloudImageTemplate"],
        json!({"name": "ubuntu-2404-20260101", "sourceVmid": 1234, "osFamily": "UBUNTU",
               "osRelease": "24.04", "defaultCiuser": "cloud-user", "isActive": true,
               "cluster": {"name": "pve-prod"}})
    );
    assert_eq!(data["user"]["role"], json!("OPERATOR"));
    assert_eq!(data["user"]["tenants"], json!([{"name": "Tenant One"}]));
    let names = |list: &str, field: &str| -> Vec<Value> {
        data[list]["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .map(|n| n[field].clone())
            .collect()
    };
    assert_eq!(
        names("tenants", "name"),
        [json!("Tenant One"), json!("Tenant Two")]
    );
    assert_eq!(data["tenants"]["totalCount"], json!(2));
    assert_eq!(
        names("clusters", "name"),
        [json!("pve-lab"), json!("pve-prod")]
    );
    assert_eq!(
        names("proxmoxEndpoints", "name"),
        [json!("edge-api"), json!("pve-api")]
    );
    assert_eq!(
        names("cloudImageTemplates", "name"),
        [json!("alpine-3"), json!("ubuntu-2404-20260101")]
    );
    assert_eq!(
        names("users", "username"),
        usernames.iter().map(|u| json!(u)).collect::<Vec<_>>()
    );

    let query = "query($id: ID!) { tenant(id: $id) { id } cluster(id: $id) { id }
                 proxmoxEndpoint(id: $id) { id } cloudImageTemplate(id: $id) { id }
                 user(id: $id) { id } pluginSettings { imageFactoryEnabled } }";
    let body = app
        .as_user(&app.admin, query, json!({"id": "999999"}))
        .await;
    let errors = body["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 5, "{body}");
    assert!(
        errors
            .iter()
            .all(|e| e["extensions"]["code"] == json!("NOT_FOUND"))
    );
    for field in [
        "tenant",
        "cluster",
        "proxmoxEndpoint",
        "cloudImageTemplate",
        "user",
    ] {
        failed_alone(&body, field, "NOT_FOUND");
    }
    let body = app.as_user(&app.admin, query, json!({"id": "nope"})).await;
    assert!(
        body["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .all(|e| e["extensions"]["code"] == json!("BAD_USER_INPUT")),
        "{body}"
    );
}
