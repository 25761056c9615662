//! Reference-data writes (SPEC §1.4): defaults, rules and uniqueness.

use serde_json::{Value, json};

use crate::support::{TestApp, code, fields, gid};

async fn run(app: &TestApp, query: &str, variables: Value) -> Value {
    app.as_user(&app.admin, query, variables).await
}

#[tokio::test]
async fn endpoints_have_the_defaults_and_rules_of_the_spec() {
    let app = TestApp::new().await;
    let create = "mutation ($input: CreateProxmoxEndpointInput!) { createProxmoxEndpoint(input: $input) { id port mode verifySsl allowWrites enabled domain ipAddress } }";
    let body = run(&app, create, json!({"input": {"name": "pve"}})).await;
    assert_eq!(
        body["data"]["createProxmoxEndpoint"],
        json!({"id": body["data"]["createProxmoxEndpoint"]["id"], "port": 8006, "mode": "UNDEFINED",
               "verifySsl": false, "allowWrites": false, "enabled": true, "domain": null, "ipAddress": null}),
        "{body}"
    );
    for (input, field) in [
        (json!({"name": "a", "port": 0}), "port"),
        (json!({"name": "b", "port": 65_536}), "port"),
        (json!({"name": "c", "domain": "not a domain"}), "domain"),
        (json!({"name": "d", "ipAddress": "10.0.0.300"}), "ipAddress"),
        (json!({"name": "  "}), "name"),
        (json!({"name": "e", "tenantId": "999999"}), "tenantId"),
    ] {
        let body = run(&app, create, json!({"input": input})).await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{input}: {body}");
        assert_eq!(fields(&body), [field], "{input}: {body}");
    }
    let body = run(&app, create, json!({"input": {"name": "pve"}})).await;
    assert_eq!(
        (code(&body), fields(&body)),
        ("CONFLICT", vec!["name".to_owned()]),
        "{body}"
    );
    let ok = run(&app, create, json!({"input": {"name": "pve2", "domain": "pve2.example.net", "ipAddress": "2001:db8::1", "port": 443}})).await;
    assert!(ok.get("errors").is_none(), "{ok}");
}

#[tokio::test]
async fn tenants_and_clusters_are_unique_and_validated() {
    let app = TestApp::new().await;
    let tenant =
        "mutation ($input: CreateTenantInput!) { createTenant(input: $input) { id name slug } }";
    let body = run(
        &app,
        tenant,
        json!({"input": {"name": "Acme", "slug": "acme"}}),
    )
    .await;
    assert_eq!(body["data"]["createTenant"]["slug"], "acme", "{body}");
    for (input, wanted, field) in [
        (
            json!({"name": "Acme", "slug": "acme-2"}),
            "CONFLICT",
            "name",
        ),
        (
            json!({"name": "Acme 2", "slug": "acme"}),
            "CONFLICT",
            "slug",
        ),
        (
            json!({"name": "Acme 3", "slug": "a c m e"}),
            "BAD_USER_INPUT",
            "slug",
        ),
    ] {
        let body = run(&app, tenant, json!({"input": input})).await;
        assert_eq!(
            (code(&body), fields(&body)),
            (wanted, vec![field.to_owned()]),
            "{input}: {body}"
        );
    }
    let cluster = "mutation ($input: CreateClusterInput!) { createCluster(input: $input) { id clusterType tenant { slug } } }";
    let tenant_id = body_id(&run(&app, "{ tenants { nodes { id } } }", json!({})).await);
    let body = run(
        &app,
        cluster,
        json!({"input": {"name": "pve-prod", "tenantId": tenant_id}}),
    )
    .await;
    assert_eq!(
        body["data"]["createCluster"]["clusterType"], "proxmox",
        "{body}"
    );
    assert_eq!(body["data"]["createCluster"]["tenant"]["slug"], "acme");
    let body = run(&app, cluster, json!({"input": {"name": "pve-prod"}})).await;
    assert_eq!(code(&body), "CONFLICT", "{body}");
}

fn body_id(body: &Value) -> Value {
    body["data"]["tenants"]["nodes"][0]["id"].clone()
}

#[tokio::test]
async fn catalog_entries_are_unique_per_cluster_and_vmid() {
    let app = TestApp::new().await;
    let world = app.world().await;
    let create = "mutation ($input: CreateCloudImageTemplateInput!) { createCloudImageTemplate(input: $input) { id defaultCiuser isActive osFamily allowedTenants { id } } }";
    let input = |slug: &str, vmid: i32| {
        json!({"input": {"name": "ubuntu", "slug": slug, "clusterId": world.cluster.to_string(),
                         "sourceVmid": vmid, "osFamily": "UBUNTU", "allowedTenantIds": [world.t1.to_string()]}})
    };
    let body = run(&app, create, input("ubuntu-9000", 9000)).await;
    let created = &body["data"]["createCloudImageTemplate"];
    assert_eq!(created["defaultCiuser"], "cloud-user", "{body}");
    assert_eq!(created["isActive"], true);
    assert_eq!(
        created["allowedTenants"],
        json!([{"id": gid::<entity::tenant::Entity>(world.t1)}])
    );
    let body = run(&app, create, input("another-slug", 9000)).await;
    assert_eq!(
        (code(&body), fields(&body)),
        ("CONFLICT", vec!["sourceVmid".to_owned()]),
        "{body}"
    );
    let body = run(&app, create, input("ubuntu-9000", 9001)).await;
    assert_eq!(
        (code(&body), fields(&body)),
        ("CONFLICT", vec!["slug".to_owned()]),
        "{body}"
    );
    let body = run(&app, create, input("low-vmid", 99)).await;
    assert_eq!(
        (code(&body), fields(&body)),
        ("BAD_USER_INPUT", vec!["sourceVmid".to_owned()]),
        "{body}"
    );
}
