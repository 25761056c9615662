//! The REST surface (SPEC §6) through the real router: the second door onto the same core, so the
//! same roles, visibility, gates, lifecycle and events hold as over GraphQL.

mod access;
mod builds;
mod definitions;
mod lists;
mod settings;

use axum::{
    body::Body,
    http::{HeaderMap, Method, Request, StatusCode, header},
};
use serde_json::{Value, json};

use crate::support::{TestApp, World};

/// The host every request names; URLs in responses are absolute under it.
pub const HOST: &str = "gw.example";
/// The absolute root of the surface.
pub const API: &str = "http://gw.example/api/plugins/packer";

/// A response: status, headers, JSON body (`Value::Null` when empty).
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

/// Sends `method path` (relative to `/api/plugins/packer`) as `token` (NetBox's `Token` scheme),
/// with `body` as JSON.
pub async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Reply {
    let mut request = Request::builder()
        .method(method)
        .uri(format!("/api/plugins/packer{path}"))
        .header(header::HOST, HOST);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Token {token}"));
    }
    let request = match body {
        Some(body) => request
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string())),
        None => request.body(Body::empty()),
    }
    .expect("a request");
    let (status, headers, text) = app.send(request).await;
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
    };
    Reply {
        status,
        headers,
        body,
    }
}

/// `GET path` as `token`.
pub async fn get(app: &TestApp, path: &str, token: &str) -> Reply {
    call(app, Method::GET, path, Some(token), None).await
}

/// A valid `proxmox-clone` definition body on `world`.
pub fn definition_body(world: &World, name: &str, slug: &str) -> Value {
    json!({
        "name": name,
        "slug": slug,
        "proxmox_endpoint": world.endpoint,
        "target_cluster": world.cluster,
        "target_node": "pve1",
        "source_template_vmid": 9000,
        "default_storage": "local-lvm",
        "os_family": "ubuntu",
        "os_release": "24.04",
        "provisioner_recipe": "ubuntu-base",
    })
}

/// Creates a definition over REST as admin; returns its id.
pub async fn create_definition(app: &TestApp, body: Value) -> i64 {
    let reply = call(
        app,
        Method::POST,
        "/image-definitions/",
        Some(&app.admin),
        Some(body),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["id"].as_i64().expect("an id")
}

/// Turns the image factory on over REST, with `extra` settings.
pub async fn enable_factory(app: &TestApp, extra: Value) {
    let mut body = json!({"image_factory_enabled": true});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let reply = call(
        app,
        Method::PATCH,
        "/settings/",
        Some(&app.admin),
        Some(body),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

/// The values of `key` in the results of a list body.
pub fn column(body: &Value, key: &str) -> Vec<Value> {
    body["results"]
        .as_array()
        .unwrap_or_else(|| panic!("a list: {body}"))
        .iter()
        .map(|row| row[key].clone())
        .collect()
}
