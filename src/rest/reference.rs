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
    Base, Reply,
    refs::{Brief, kind, path_id},
    reply,
};
use crate::registry::rows::ByIndex;
use crate::{
    app::App,
    auth::{Principal, Scope},
    error::Error,
    registry::read::{self, Readable},
};

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
        move |State(app): State<App>,
              principal: Principal,
              Path(path): Path<String>,
              headers: HeaderMap| { detail(app, principal, kind, path, headers) },
    )
}

/// The brief object `path` of `kind`, if the caller may see it.
async fn detail(
    app: App,
    principal: Principal,
    kind: &'static str,
    path: String,
    headers: HeaderMap,
) -> Reply {
    let scope = principal.scope();
    let (db, path) = (&app.db, path.as_str());
    let (id, name) = match kind {
        kind::TENANTS => named::<tenant::Entity>(db, &scope, path, |t| t.name).await?,
        kind::CLUSTERS => named::<cluster::Entity>(db, &scope, path, |c| c.name).await?,
        kind::ENDPOINTS => named::<proxmox_endpoint::Entity>(db, &scope, path, |e| e.name).await?,
        kind::USERS => named::<user::Entity>(db, &scope, path, |u| u.username).await?,
        _ => named::<cloud_image_template::Entity>(db, &scope, path, |t| t.name).await?,
    };
    reply(
        StatusCode::OK,
        Brief::new(&Base::of(&headers), kind, id, Some(&name)),
    )
}

/// The id and name of the row of `E` that `path` names, if `scope` may see it. Whether `scope`
/// may read `E` at all is answered first, as before the path is looked at.
async fn named<E: Readable>(
    db: &sea_orm::DatabaseConnection,
    scope: &Scope,
    path: &str,
    name: impl FnOnce(E::Model) -> String,
) -> Result<(i64, String), Error>
where
    E::Model: ByIndex + Sync + Send,
{
    read::may_read::<E>(scope)?;
    let id = path_id::<E>(path)?;
    let row = read::get::<E>(db, scope, id).await?;
    Ok((id.get(), name(row)))
}
