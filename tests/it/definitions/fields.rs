//! Field rules: the defaults, each rule naming its field, all violations together, server-owned
//! fields, and the messages of each door.

use entity::cluster;
use serde_json::{Value, json};

use crate::support::{TestApp, clone_input, code, fields, gid};

use super::create;

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
