//! Definition writes through the API (SPEC §1.1, §3.2): field rules reported together, patch
//! semantics, uniqueness, deletion.

use entity::{cluster, tenant};
use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::support::{TestApp, clone_input, code, fields, gid, key_of};

const CREATE: &str = "mutation ($input: CreateImageDefinitionInput!) {
    createImageDefinition(input: $input) {
        id name slug description enabled builderType targetNode sourceTemplateVmid isoUrl
        isoChecksum isoStorage defaultStorage defaultBridge osFamily osRelease defaultCiuser
        provisionerRecipe defaultVariables proxmoxEndpoint { id } targetCluster { id }
        allowedTenants { id }
    }
}";

const UPDATE: &str = "mutation ($id: ID!, $input: UpdateImageDefinitionInput!) {
    updateImageDefinition(id: $id, input: $input) {
        id name slug builderType targetCluster { id } sourceTemplateVmid isoUrl description
        allowedTenants { id }
    }
}";

async fn create(app: &TestApp, input: Value) -> Value {
    app.as_user(&app.admin, CREATE, json!({"input": input}))
        .await
}

/// The fields named in a `BAD_USER_INPUT` / `CONFLICT` error.

#[tokio::test]
async fn a_definition_is_created_with_the_defaults_of_the_spec() {
    let app = TestApp::new().await;
    let world = app.world().await;
    let body = create(&app, clone_input(&world, "Ubuntu 24.04", "ubuntu-2404")).await;
    let created = &body["data"]["createImageDefinition"];
    assert_eq!(created["enabled"], true, "{body}");
    assert_eq!(created["builderType"], "PROXMOX_CLONE");
    assert_eq!(created["defaultBridge"], "vmbr0");
    assert_eq!(created["defaultCiuser"], "ubuntu");
    assert_eq!(created["defaultVariables"], json!({}));
    assert_eq!(created["description"], "");
    assert_eq!(created["allowedTenants"], json!([]));
    assert_eq!(
        created["targetCluster"]["id"],
        gid::<cluster::Entity>(world.cluster)
    );
}

#[tokio::test]
async fn each_field_rule_names_its_field() {
    let app = TestApp::new().await;
    let world = app.world().await;
    let cases: Vec<(&str, Value, &str)> = vec![
        ("empty name", json!({"name": "   "}), "name"),
        ("long name", json!({"name": "n".repeat(256)}), "name"),
        ("bad slug", json!({"slug": "not a slug"}), "slug"),
        (
            "bad checksum",
            json!({"isoUrl": "https://e.net/a.iso", "isoChecksum": "md5:123"}),
            "isoChecksum",
        ),
        (
            "missing checksum",
            json!({"isoUrl": "https://e.net/a.iso"}),
            "isoChecksum",
        ),
        (
            "file url",
            json!({"isoUrl": "file:///etc/passwd", "isoChecksum": format!("sha256:{}", "a".repeat(64))}),
            "isoUrl",
        ),
        (
            "credentials in url",
            json!({"isoUrl": "https://u:p@e.net/a.iso", "isoChecksum": format!("sha256:{}", "a".repeat(64))}),
            "isoUrl",
        ),
        (
            "long url",
            json!({"isoUrl": format!("https://e.net/{}", "a".repeat(600)), "isoChecksum": format!("sha256:{}", "a".repeat(64))}),
            "isoUrl",
        ),
        (
            "bad iso volume",
            json!({"isoStorage": "u.iso"}),
            "isoStorage",
        ),
        (
            "vmid too small",
            json!({"sourceTemplateVmid": 99}),
            "sourceTemplateVmid",
        ),
        (
            "vmid too large",
            json!({"sourceTemplateVmid": 1_000_000_000}),
            "sourceTemplateVmid",
        ),
        (
            "unknown variable",
            json!({"defaultVariables": {"colour": "red"}}),
            "defaultVariables",
        ),
        (
            "wrong variable type",
            json!({"defaultVariables": {"cores": "four"}}),
            "defaultVariables",
        ),
        (
            "variable out of range",
            json!({"defaultVariables": {"memory_mb": 12}}),
            "defaultVariables",
        ),
        (
            "bad bridge",
            json!({"defaultBridge": "vm br0"}),
            "defaultBridge",
        ),
        (
            "bad ciuser",
            json!({"defaultCiuser": "Root!"}),
            "defaultCiuser",
        ),
        (
            "long description",
            json!({"description": "d".repeat(64 * 1024 + 1)}),
            "description",
        ),
        ("empty node", json!({"targetNode": ""}), "targetNode"),
        (
            "empty storage",
            json!({"defaultStorage": ""}),
            "defaultStorage",
        ),
        ("empty release", json!({"osRelease": ""}), "osRelease"),
        (
            "clone without cluster",
            json!({"targetClusterId": null}),
            "targetClusterId",
        ),
        (
            "clone without vmid",
            json!({"sourceTemplateVmid": null}),
            "sourceTemplateVmid",
        ),
        (
            "iso without source",
            json!({"builderType": "PROXMOX_ISO"}),
            "isoUrl",
        ),
        (
            "unknown endpoint",
            json!({"proxmoxEndpointId": "999999"}),
            "proxmoxEndpointId",
        ),
        (
            "unknown cluster",
            json!({"targetClusterId": "999999"}),
            "targetClusterId",
        ),
        (
            "unknown tenant",
            json!({"allowedTenantIds": ["999999"]}),
            "allowedTenantIds",
        ),
        (
            "malformed id",
            json!({"proxmoxEndpointId": "abc"}),
            "proxmoxEndpointId",
        ),
    ];
    for (case, change, field) in cases {
        let mut input = clone_input(&world, "Rules", "rules");
        if let (Some(input), Some(change)) = (input.as_object_mut(), change.as_object()) {
            input.extend(change.clone());
        }
        let body = create(&app, input).await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{case}: {body}");
        assert!(fields(&body).contains(&field.to_owned()), "{case}: {body}");
    }
    assert_eq!(app.count("image_definition").await, 0);
}

#[tokio::test]
async fn all_violations_of_a_request_are_reported_together() {
    let app = TestApp::new().await;
    let world = app.world().await;
    let mut input = clone_input(&world, "", "bad slug");
    input["sourceTemplateVmid"] = json!(5);
    input["defaultBridge"] = json!("!");
    let body = create(&app, input).await;
    let mut named = fields(&body);
    named.sort();
    assert_eq!(
        named,
        ["defaultBridge", "name", "slug", "sourceTemplateVmid"],
        "{body}"
    );
}

#[tokio::test]
async fn server_owned_fields_are_refused() {
    let app = TestApp::new().await;
    let world = app.world().await;
    let mut input = clone_input(&world, "Owned", "owned");
    input["created"] = json!("2020-01-01T00:00:00Z");
    let body = create(&app, input).await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    assert!(body.get("data").is_none());
}

#[tokio::test]
async fn names_and_slugs_are_unique_even_under_concurrent_inserts() {
    let app = TestApp::new().await;
    let world = app.world().await;
    app.create_definition(clone_input(&world, "Taken", "taken"))
        .await;
    let body = create(&app, clone_input(&world, "Taken", "other")).await;
    assert_eq!(code(&body), "CONFLICT", "{body}");
    assert_eq!(fields(&body), ["name"]);
    let body = create(&app, clone_input(&world, "Other", "taken")).await;
    assert_eq!(code(&body), "CONFLICT", "{body}");
    assert_eq!(fields(&body), ["slug"]);

    let bodies = join_all((0..10).map(|_| create(&app, clone_input(&world, "Racy", "racy")))).await;
    let created = bodies.iter().filter(|b| b.get("errors").is_none()).count();
    let conflicts = bodies.iter().filter(|b| code(b) == "CONFLICT").count();
    assert_eq!((created, conflicts), (1, 9), "{bodies:?}");
    assert_eq!(app.count("image_definition").await, 2);
}

#[tokio::test]
async fn updates_are_patches_checked_against_the_merged_result() {
    let app = TestApp::new().await;
    let world = app.world().await;
    let mut input = clone_input(&world, "Patch me", "patch-me");
    input["description"] = json!("kept");
    input["allowedTenantIds"] = json!([world.t1.to_string()]);
    let id = app.create_definition(input).await;
    let update = |input: Value| {
        let app = &app;
        let id = id.clone();
        async move {
            app.as_user(&app.admin, UPDATE, json!({"id": id, "input": input}))
                .await
        }
    };

    let body = update(json!({"name": "Patched"})).await;
    let updated = &body["data"]["updateImageDefinition"];
    assert_eq!(updated["name"], "Patched", "{body}");
    assert_eq!(
        updated["description"], "kept",
        "absent fields are unchanged"
    );
    assert_eq!(
        updated["allowedTenants"],
        json!([{"id": gid::<tenant::Entity>(world.t1)}])
    );

    // Clearing the cluster breaks the clone builder rule of the merged result.
    let body = update(json!({"targetClusterId": null})).await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    assert_eq!(fields(&body), ["targetClusterId"]);

    // Switching to ISO with a source and clearing the clone fields is fine.
    let body = update(json!({
        "builderType": "PROXMOX_ISO", "isoStorage": "local:iso/u.iso",
        "targetClusterId": null, "sourceTemplateVmid": null
    }))
    .await;
    let updated = &body["data"]["updateImageDefinition"];
    assert_eq!(updated["builderType"], "PROXMOX_ISO", "{body}");
    assert_eq!(updated["targetCluster"], Value::Null);
    assert_eq!(updated["sourceTemplateVmid"], Value::Null);

    // `null` on a required field is refused; an empty tenant list opens the definition.
    let body = update(json!({"name": null})).await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    assert_eq!(fields(&body), ["name"]);
    let body = update(json!({"allowedTenantIds": []})).await;
    assert_eq!(
        body["data"]["updateImageDefinition"]["allowedTenants"],
        json!([]),
        "{body}"
    );

    let missing = app
        .as_user(
            &app.admin,
            UPDATE,
            json!({"id": "999999", "input": {"name": "x"}}),
        )
        .await;
    assert_eq!(code(&missing), "NOT_FOUND", "{missing}");
}

#[tokio::test]
async fn a_definition_with_builds_cannot_be_deleted() {
    let app = TestApp::new().await;
    let world = app.world().await;
    let delete = "mutation ($id: ID!) { deleteImageDefinition(id: $id) }";
    let empty = app
        .create_definition(clone_input(&world, "Empty", "empty"))
        .await;
    let body = app.as_user(&app.admin, delete, json!({"id": empty})).await;
    assert_eq!(
        body["data"]["deleteImageDefinition"],
        empty.as_str(),
        "{body}"
    );

    let used = app
        .create_definition(clone_input(&world, "Used", "used"))
        .await;
    let id = key_of(&used);
    app.seed()
        .build(
            id,
            world.endpoint,
            entity::enums::BuildStatus::Completed,
            crate::support::at(0),
            None,
            |_| {},
        )
        .await;
    let body = app.as_user(&app.admin, delete, json!({"id": used})).await;
    assert_eq!(code(&body), "CONFLICT", "{body}");
    assert_eq!(app.count("image_definition").await, 1);
    assert_eq!(app.count("image_build").await, 1);
}

#[tokio::test]
async fn awkward_names_round_trip_exactly() {
    let app = TestApp::new().await;
    let world = app.world().await;
    let names = [
        "O'Brien \"quoted\" image",
        "100% done_with_underscores",
        "🦀 rusty ünïcödé 画像",
        "x'); DROP TABLE image_definition; --",
        "back\\slash and tab\there",
    ];
    for (i, name) in names.iter().enumerate() {
        let mut input = clone_input(&world, name, &format!("awkward-{i}"));
        input["description"] = json!(name);
        let body = create(&app, input).await;
        assert_eq!(
            body["data"]["createImageDefinition"]["name"], *name,
            "{body}"
        );
        let found = app
            .data(
                "query ($name: String!) { imageDefinitions(filter: {name: {exact: $name}}) { nodes { name description } } }",
                json!({"name": name}),
            )
            .await;
        assert_eq!(
            found["imageDefinitions"]["nodes"],
            json!([{"name": name, "description": name}])
        );
    }
    assert_eq!(app.count("image_definition").await, names.len() as i64);
}

#[tokio::test]
async fn reference_rows_still_in_use_cannot_be_deleted() {
    let app = TestApp::new().await;
    let world = app.world().await;
    let mut input = clone_input(&world, "Pinned", "pinned");
    input["allowedTenantIds"] = json!([world.t1.to_string()]);
    app.create_definition(input).await;
    for (mutation, id) in [
        ("deleteTenant", world.t1),
        ("deleteCluster", world.cluster),
        ("deleteProxmoxEndpoint", world.endpoint),
    ] {
        let body = app
            .as_user(
                &app.admin,
                &format!("mutation ($id: ID!) {{ {mutation}(id: $id) }}"),
                json!({"id": id.to_string()}),
            )
            .await;
        assert_eq!(code(&body), "CONFLICT", "{mutation}: {body}");
    }
    // The unused tenant goes.
    let body = app
        .as_user(
            &app.admin,
            "mutation ($id: ID!) { deleteTenant(id: $id) }",
            json!({"id": world.t2.to_string()}),
        )
        .await;
    assert_eq!(
        body["data"]["deleteTenant"],
        gid::<tenant::Entity>(world.t2),
        "{body}"
    );
}

/// A field error names fields as the door names them, in `extensions.fields` (or REST's keys)
/// and in the message alike — a field named inside a message too: GraphQL camelCase, REST
/// NetBox's snake_case (and the relation's name, `proxmox_endpoint`, not its column's).
#[tokio::test]
async fn messages_name_fields_as_each_door_does() {
    let app = TestApp::new().await;
    let world = app.world().await;
    let mut input = clone_input(&world, "Iso", "iso");
    input["builderType"] = json!("PROXMOX_ISO");
    input["isoUrl"] = json!("https://mirror.example.net/a.iso");
    input["defaultStorage"] = json!("");
    input["proxmoxEndpointId"] = json!("987654");
    let body = create(&app, input).await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    let error = &body["errors"][0];
    assert_eq!(
        error["extensions"]["fields"],
        json!({
            "defaultStorage": ["is required"],
            "isoChecksum": ["is required when `isoUrl` is set"],
            "proxmoxEndpointId": ["does not name an endpoint"],
        }),
        "{body}"
    );
    let message = error["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("invalid input: "), "{message}");
    for part in [
        "defaultStorage: is required",
        "isoChecksum: is required when `isoUrl` is set",
        "proxmoxEndpointId: does not name an endpoint",
    ] {
        assert!(message.contains(part), "{part} in {message}");
    }
    assert!(!message.contains('_'), "no snake_case name: {message}");

    let mut body = crate::rest::definition_body(&world, "Iso", "iso");
    body["builder_type"] = json!("proxmox-iso");
    body["iso_url"] = json!("https://mirror.example.net/a.iso");
    body["default_storage"] = json!("");
    body["proxmox_endpoint"] = json!(987_654);
    let reply = crate::rest::call(
        &app,
        axum::http::Method::POST,
        "/image-definitions/",
        Some(&app.admin),
        Some(body),
    )
    .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(
        reply.body,
        json!({
            "default_storage": ["is required"],
            "iso_checksum": ["is required when `iso_url` is set"],
            "proxmox_endpoint": ["does not name an endpoint"],
        })
    );
}
