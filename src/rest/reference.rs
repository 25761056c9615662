//! `tenants/{id}/`, `clusters/{id}/`, `proxmox-endpoints/{id}/`, `cloud-image-templates/{id}/`
//! and `users/{id}/`: the reference objects definitions and builds point at, served read-only in
//! their brief form `{id, url, display, name}`, so that every `url` this surface renders resolves.
//! Their full form and their writes are GraphQL's.

use axum::{
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    routing::{MethodRouter, get},
};
use entity::{cloud_image_template, cluster, proxmox_endpoint, tenant, user};

use super::{
    Base, Reply, id,
    refs::{Brief, kind},
    reply,
};
use crate::{app::App, auth::Action, registry::read};

/// The reference kinds served.
pub const KINDS: [&str; 5] = [
    kind::TENANTS,
    kind::CLUSTERS,
    kind::ENDPOINTS,
    kind::USERS,
    kind::TEMPLATES,
];

/// The route of `GET <kind>/{id}/`.
pub fn route(kind: &'static str) -> MethodRouter<App> {
    get(
        move |State(app): State<App>, Path(path): Path<String>, headers: HeaderMap| {
            detail(app, kind, path, headers)
        },
    )
}

/// The brief object `path` of `kind`, if the caller may see it.
async fn detail(app: App, kind: &'static str, path: String, headers: HeaderMap) -> Reply {
    let principal = super::principal(&app, &headers).await?;
    principal.authorize(Action::ReadReference)?;
    let id = id(&path)?;
    let (db, scope) = (&app.db, &principal.scope());
    let name = match kind {
        kind::TENANTS => read::get::<tenant::Entity>(db, scope, id).await?.name,
        kind::CLUSTERS => read::get::<cluster::Entity>(db, scope, id).await?.name,
        kind::ENDPOINTS => {
            read::get::<proxmox_endpoint::Entity>(db, scope, id)
                .await?
                .name
        }
        kind::USERS => read::get::<user::Entity>(db, scope, id).await?.username,
        _ => {
            read::get::<cloud_image_template::Entity>(db, scope, id)
                .await?
                .name
        }
    };
    reply(
        StatusCode::OK,
        Brief::new(&Base::of(&headers), kind, id, Some(&name)),
    )
}
