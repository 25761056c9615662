//! `me`, and that no secret is exposed by the schema.

use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};
use entity::enums::Role;
use serde_json::json;

use crate::support::TestApp;

use super::{graph, id, user_id};

#[tokio::test]
async fn me_is_the_caller() {
    let app = TestApp::new().await;
    let g = graph(&app).await;
    let data = app
        .data(
            "{ me { id username role email isActive tenants { name } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data["me"],
        json!({"id": user_id(app.admin_id), "username": "admin", "role": "ADMIN",
               "email": "admin@example.net", "isActive": true, "tenants": []})
    );
    let (viewer_id, viewer) = app.user(Role::Viewer, &[g.t2, g.t1], false).await;
    let body = app
        .as_user(&viewer, "{ me { id role tenants { name } } }", json!({}))
        .await;
    assert_eq!(
        body["data"]["me"],
        json!({"id": user_id(viewer_id), "role": "VIEWER",
               "tenants": [{"name": "Tenant One"}, {"name": "Tenant Two"}]})
    );
    // Another user's e-mail is for administrators only.
    let body = app
        .as_user(
            &viewer,
            "query($id: ID!) { user(id: $id) { username email } }",
            json!({"id": id(app.admin_id)}),
        )
        .await;
    assert_eq!(
        body["data"]["user"],
        json!({"username": "admin", "email": null})
    );
}

#[tokio::test]
async fn no_secret_is_exposed_by_the_schema() {
    let sdl = packer_gateway::graphql::sdl();
    let document = async_graphql::parser::parse_schema(&sdl).expect("the SDL parses");
    let forbidden = ["hash", "secret", "password", "credential", "privatekey"];
    let mut names = Vec::new();
    for definition in &document.definitions {
        let TypeSystemDefinition::Type(definition) = definition else {
            continue;
        };
        let definition = &definition.node;
        let owner = definition.name.node.to_string();
        match &definition.kind {
            TypeKind::Object(object) => {
                for field in &object.fields {
                    names.push((owner.clone(), field.node.name.node.to_string()));
                    for argument in &field.node.arguments {
                        names.push((owner.clone(), argument.node.name.node.to_string()));
                    }
                }
            }
            TypeKind::Interface(interface) => {
                for field in &interface.fields {
                    names.push((owner.clone(), field.node.name.node.to_string()));
                }
            }
            TypeKind::InputObject(input) => {
                for field in &input.fields {
                    names.push((owner.clone(), field.node.name.node.to_string()));
                }
            }
            _ => {}
        }
    }
    assert!(names.len() > 100, "the walk found the fields");
    for (owner, name) in &names {
        let lower = name.to_lowercase();
        assert!(
            !forbidden.iter().any(|word| lower.contains(word)),
            "{owner}.{name} looks like a secret"
        );
    }
    // No Proxmox credential of any kind on an endpoint, and no stored key on a token.
    for (owner, name) in &names {
        let lower = name.to_lowercase();
        if owner == "ProxmoxEndpoint" {
            assert!(
                !["token", "user", "key", "pass"]
                    .iter()
                    .any(|w| lower.contains(w)),
                "ProxmoxEndpoint.{name}"
            );
        }
        if owner == "ApiToken" {
            assert!(
                !lower.starts_with("key") || lower == "keyprefix",
                "ApiToken.{name}"
            );
        }
    }
}
