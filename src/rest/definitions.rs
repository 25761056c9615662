//! `image-definitions/` and `image-definitions/{id}/`: list, create, read, replace (PUT), update
//! (PATCH) and delete, each through one `registry` function.
//!
//! PUT requires every field that creation requires and, as NetBox (Django REST framework) does,
//! leaves the other fields it does not carry unchanged; PATCH changes only what it carries.

use axum::{
    body::Body,
    extract::{Path, RawQuery, State},
    http::{HeaderMap, StatusCode},
    response::IntoResponse,
};
use chrono::{DateTime, Utc};
use entity::image_definition;
use sea_orm::ActiveEnum;
use serde::Serialize;
use serde_json::Value as Json;

use super::{
    Base, Reply,
    body::{self, Fields},
    ctx, params,
    refs::{Brief, Refs, kind, path_id},
    reply,
};
use crate::{
    app::App,
    auth::Principal,
    registry::{
        definitions::{self, DefinitionField, DefinitionPatch, DefinitionSort},
        read,
    },
};

/// The fields a PUT must carry (those creation requires).
const REQUIRED: [&str; 8] = [
    "name",
    "slug",
    "proxmox_endpoint",
    "target_node",
    "default_storage",
    "os_family",
    "os_release",
    "provisioner_recipe",
];

/// A definition as REST renders it.
#[derive(Serialize)]
pub struct Definition {
    id: i32,
    url: String,
    display: String,
    name: String,
    slug: String,
    description: String,
    enabled: bool,
    builder_type: String,
    proxmox_endpoint: Option<Brief>,
    target_cluster: Option<Brief>,
    target_node: String,
    source_template_vmid: Option<i32>,
    iso_url: Option<String>,
    iso_checksum: String,
    iso_storage: String,
    default_storage: String,
    default_bridge: String,
    os_family: String,
    os_release: String,
    default_ciuser: String,
    provisioner_recipe: String,
    default_variables: Json,
    allowed_tenants: Vec<Brief>,
    created: DateTime<Utc>,
    last_updated: DateTime<Utc>,
}

fn render(row: image_definition::Model, refs: &Refs, base: &Base) -> Definition {
    Definition {
        url: base.object(kind::DEFINITIONS, row.id.into()),
        display: row.name.clone(),
        proxmox_endpoint: refs.endpoint(base, row.proxmox_endpoint_id),
        target_cluster: row.target_cluster_id.and_then(|c| refs.cluster(base, c)),
        allowed_tenants: refs.tenants(base, row.id),
        builder_type: row.builder_type.to_value(),
        os_family: row.os_family.to_value(),
        provisioner_recipe: row.provisioner_recipe.to_value(),
        id: row.id,
        name: row.name,
        slug: row.slug,
        description: row.description,
        enabled: row.enabled,
        target_node: row.target_node,
        source_template_vmid: row.source_template_vmid,
        iso_url: row.iso_url,
        iso_checksum: row.iso_checksum,
        iso_storage: row.iso_storage,
        default_storage: row.default_storage,
        default_bridge: row.default_bridge,
        os_release: row.os_release,
        default_ciuser: row.default_ciuser,
        default_variables: row.default_variables,
        created: row.created,
        last_updated: row.last_updated,
    }
}

/// One definition rendered with its relations.
async fn one(
    app: &App,
    principal: &Principal,
    headers: &HeaderMap,
    status: StatusCode,
    row: image_definition::Model,
) -> Reply {
    let refs =
        Refs::of_definitions(&app.db, &principal.scope(), std::slice::from_ref(&row)).await?;
    reply(status, render(row, &refs, &Base::of(headers)))
}

/// `GET image-definitions/`: the visible definitions, by name unless ordered otherwise.
pub async fn list(
    State(app): State<App>,
    principal: Principal,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Reply {
    let scope = principal.scope();
    let query = params::parse::<DefinitionField, DefinitionSort>(query.as_deref())?;
    let page = read::list_offset::<image_definition::Entity>(
        &app.db,
        &scope,
        &query.filter,
        query.sort.clone(),
        &query.page,
    )
    .await?;
    let refs = Refs::of_definitions(&app.db, &scope, &page.rows).await?;
    let base = Base::of(&headers);
    let results = page
        .rows
        .into_iter()
        .map(|row| render(row, &refs, &base))
        .collect();
    reply(
        StatusCode::OK,
        query.envelope(&base.list(kind::DEFINITIONS), page.count, results),
    )
}

/// `GET image-definitions/{id}/`.
pub async fn detail(
    State(app): State<App>,
    principal: Principal,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Reply {
    let row =
        read::get::<image_definition::Entity>(&app.db, &principal.scope(), path_id(&path)?).await?;
    one(&app, &principal, &headers, StatusCode::OK, row).await
}

/// `POST image-definitions/`: 201 with the new definition.
pub async fn create(
    State(app): State<App>,
    principal: Principal,
    headers: HeaderMap,
    body: Body,
) -> Reply {
    let mut fields = Fields::new(body::object(&app, &headers, body).await?);
    let patch = patch(&mut fields);
    fields.finish()?;
    let row = definitions::create(ctx(&app, &principal), patch).await?;
    one(&app, &principal, &headers, StatusCode::CREATED, row).await
}

/// `PUT image-definitions/{id}/`: every field creation requires, the others unchanged if absent.
pub async fn replace(
    State(app): State<App>,
    principal: Principal,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Reply {
    change(app, principal, path, headers, body, true).await
}

/// `PATCH image-definitions/{id}/`: only the fields sent.
pub async fn update(
    State(app): State<App>,
    principal: Principal,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Reply {
    change(app, principal, path, headers, body, false).await
}

async fn change(
    app: App,
    principal: Principal,
    path: String,
    headers: HeaderMap,
    body: Body,
    full: bool,
) -> Reply {
    let id = path_id(&path)?;
    let mut fields = Fields::new(body::object(&app, &headers, body).await?);
    if full {
        fields.require(&REQUIRED);
    }
    let patch = patch(&mut fields);
    fields.finish()?;
    let row = definitions::update(ctx(&app, &principal), id, patch).await?;
    one(&app, &principal, &headers, StatusCode::OK, row).await
}

/// `DELETE image-definitions/{id}/`: 204; a definition with builds is a 409.
pub async fn delete(
    State(app): State<App>,
    principal: Principal,
    Path(path): Path<String>,
) -> Reply {
    definitions::delete(ctx(&app, &principal), path_id(&path)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The change a body asks for (the registry checks every rule of the result).
fn patch(fields: &mut Fields) -> DefinitionPatch {
    DefinitionPatch {
        name: fields.text("name"),
        slug: fields.text("slug"),
        description: fields.text("description"),
        enabled: fields.boolean("enabled"),
        builder_type: fields.choice("builder_type"),
        proxmox_endpoint_id: fields.reference("proxmox_endpoint"),
        target_cluster_id: fields.nullable_reference("target_cluster"),
        target_node: fields.text("target_node"),
        source_template_vmid: fields.nullable_integer("source_template_vmid"),
        iso_url: fields.nullable_text("iso_url"),
        iso_checksum: fields.text("iso_checksum"),
        iso_storage: fields.text("iso_storage"),
        default_storage: fields.text("default_storage"),
        default_bridge: fields.text("default_bridge"),
        os_family: fields.choice("os_family"),
        os_release: fields.text("os_release"),
        default_ciuser: fields.text("default_ciuser"),
        provisioner_recipe: fields.choice("provisioner_recipe"),
        default_variables: fields.json("default_variables"),
        allowed_tenant_ids: fields.references("allowed_tenants"),
    }
}
