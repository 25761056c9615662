//! The REST door shows only what the reader may see.

use std::collections::BTreeSet;

use axum::{
    body::Body,
    http::{Method, Request, StatusCode, header},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::Value;

use crate::support::row_of;

use super::{Who, World, world};

/// The global id of the object of type `ty` that REST shows with the integer `id`.
fn global(ty: &str, id: &Value) -> String {
    URL_SAFE_NO_PAD.encode(format!("{ty}:{id}"))
}

/// A REST `GET` as `who`: status and JSON body.
async fn rest(world: &World, who: Who, path: &str) -> (StatusCode, Value) {
    let mut request = Request::builder()
        .method(Method::GET)
        .uri(format!("/api/plugins/packer/{path}"));
    if let Some(token) = world.token(who) {
        request = request.header(header::AUTHORIZATION, format!("Token {token}"));
    }
    let (status, _, body) = world
        .app
        .send(request.body(Body::empty()).expect("a request"))
        .await;
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

/// Checks a brief related object of a REST representation: for a type the reader sees, one of
/// it, named; for one it may not read at all, `{id, url}` only (or, `nullable`, null).
fn brief(world: &World, who: Who, value: &Value, ty: &str, nullable: bool) {
    if value.is_null() {
        return;
    }
    let id = global(ty, &value["id"]);
    match world.visible(who).get(ty) {
        Some(ids) => {
            assert!(
                ids.contains(&id),
                "{who:?} got the brief {ty} {id}: {value}"
            );
            assert!(value["name"].is_string(), "{value}");
        }
        None => {
            assert!(!nullable, "{who:?} got a {ty} it may not read: {value}");
            assert!(
                value.get("name").is_none() && value.get("display").is_none(),
                "{value}"
            );
        }
    }
}

#[tokio::test]
async fn the_rest_door_shows_only_what_the_reader_may_see() {
    let world = world().await;
    for who in [Who::Anonymous, Who::TenantViewer] {
        let visible = world.visible(who);
        let (status, list) = rest(&world, who, "image-definitions/?limit=1000").await;
        assert_eq!(status, StatusCode::OK, "{list}");
        let results = list["results"].as_array().cloned().unwrap_or_default();
        let listed: BTreeSet<String> = results
            .iter()
            .map(|d| global("ImageDefinition", &d["id"]))
            .collect();
        assert_eq!(listed, visible["ImageDefinition"], "{who:?}");
        for definition in &results {
            brief(
                &world,
                who,
                &definition["proxmox_endpoint"],
                "ProxmoxEndpoint",
                false,
            );
            brief(&world, who, &definition["target_cluster"], "Cluster", false);
            for tenant in definition["allowed_tenants"]
                .as_array()
                .into_iter()
                .flatten()
            {
                brief(&world, who, tenant, "Tenant", false);
            }
        }
        let (status, list) = rest(&world, who, "image-builds/?limit=1000").await;
        assert_eq!(status, StatusCode::OK, "{list}");
        let results = list["results"].as_array().cloned().unwrap_or_default();
        let listed: BTreeSet<String> = results
            .iter()
            .map(|b| global("ImageBuild", &b["id"]))
            .collect();
        assert_eq!(listed, visible["ImageBuild"], "{who:?}");
        for build in &results {
            brief(&world, who, &build["definition"], "ImageDefinition", true);
            assert!(build["definition"].is_object(), "{build}");
            brief(&world, who, &build["rebuild_of"], "ImageBuild", true);
            brief(
                &world,
                who,
                &build["proxmox_endpoint"],
                "ProxmoxEndpoint",
                false,
            );
            brief(&world, who, &build["created_by"], "User", false);
            brief(
                &world,
                who,
                &build["cloud_image_template"],
                "CloudImageTemplate",
                true,
            );
        }
        for (kind, ty) in [
            ("image-definitions", "ImageDefinition"),
            ("image-builds", "ImageBuild"),
            ("tenants", "Tenant"),
            ("clusters", "Cluster"),
            ("proxmox-endpoints", "ProxmoxEndpoint"),
            ("users", "User"),
            ("cloud-image-templates", "CloudImageTemplate"),
        ] {
            for id in &world.all[ty] {
                let row = row_of(id);
                let (status, body) = rest(&world, who, &format!("{kind}/{row}/")).await;
                let expected = match visible.get(ty) {
                    Some(ids) if ids.contains(id) => StatusCode::OK,
                    Some(_) => StatusCode::NOT_FOUND,
                    None => StatusCode::UNAUTHORIZED,
                };
                assert_eq!(status, expected, "{who:?} {kind}/{row}/: {body}");
                if status == StatusCode::OK {
                    assert_eq!(global(ty, &body["id"]), *id, "{body}");
                }
            }
        }
        let (status, _) = rest(&world, who, "settings/").await;
        let expected = match who {
            Who::Anonymous => StatusCode::UNAUTHORIZED,
            Who::TenantViewer => StatusCode::OK,
        };
        assert_eq!(status, expected, "{who:?} settings/");
    }
    // The seed is what the sets say (the administrator sees all of it, over both doors).
    let (_, list) = rest_as_admin(&world, "image-builds/?limit=1000").await;
    let listed: BTreeSet<String> = list["results"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| global("ImageBuild", &b["id"]))
        .collect();
    assert_eq!(listed, world.all["ImageBuild"]);
}

async fn rest_as_admin(world: &World, path: &str) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(Method::GET)
        .uri(format!("/api/plugins/packer/{path}"))
        .header(header::AUTHORIZATION, format!("Token {}", world.app.admin))
        .body(Body::empty())
        .expect("a request");
    let (status, _, body) = world.app.send(request).await;
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}
