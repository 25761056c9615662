//! `image-builds/`: list, queue (POST), read, and the status transitions workers report (PATCH),
//! each through one function of `registry::lifecycle`; `image-builds/{id}/rebuild/` rebuilds a
//! completed build.
//!
//! A PATCH carries the new `status` and the fields of that transition: `running` takes
//! `backend_build_id` and `netbox_job_id`, `completed` takes `output_vmid` and
//! `backend_response`, `failed` takes `error` (required) and `backend_response`, `cancelled`
//! takes nothing. A build changes only through its lifecycle, so a PATCH without `status`, or with
//! a field its transition does not take, is a 400.

use axum::{
    body::Body,
    extract::{Path, RawQuery, State},
    http::{HeaderMap, StatusCode},
};
use chrono::{DateTime, Utc};
use entity::{enums::BuildStatus, image_build};
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
    error::Error,
    registry::{
        builds::{BuildField, BuildSort, StatusColor, status_color},
        id::Id,
        lifecycle::{self, QueueRequest},
        read,
    },
};

/// Every field of the representation a client could send back (besides the echoed ones).
const FIELDS: [&str; 18] = [
    "definition",
    "status",
    "backend_build_id",
    "proxmox_endpoint",
    "target_node",
    "output_vmid",
    "output_name",
    "image_version",
    "variables",
    "timeout_seconds",
    "started_at",
    "completed_at",
    "created_by",
    "netbox_job_id",
    "cloud_image_template",
    "backend_response",
    "error",
    "rebuild_of",
];

/// A build as REST renders it.
#[derive(Serialize)]
pub struct Build {
    id: i32,
    url: String,
    display: String,
    definition: Option<Brief>,
    status: Status,
    backend_build_id: String,
    proxmox_endpoint: Option<Brief>,
    target_node: String,
    output_vmid: i32,
    output_name: String,
    image_version: String,
    variables: Json,
    timeout_seconds: Option<i32>,
    started_at: Option<DateTime<Utc>>,
    completed_at: Option<DateTime<Utc>>,
    created_by: Option<Brief>,
    netbox_job_id: Option<i32>,
    cloud_image_template: Option<Brief>,
    backend_response: Json,
    error: String,
    rebuild_of: Option<Brief>,
    created: DateTime<Utc>,
    last_updated: DateTime<Utc>,
}

/// A status as NetBox renders a choice with a colour.
#[derive(Serialize)]
pub struct Status {
    value: String,
    label: &'static str,
    color: &'static str,
}

impl From<BuildStatus> for Status {
    fn from(status: BuildStatus) -> Self {
        let label = match status {
            BuildStatus::Pending => "Pending",
            BuildStatus::Running => "Running",
            BuildStatus::Failed => "Failed",
            BuildStatus::Completed => "Completed",
            BuildStatus::Cancelled => "Cancelled",
        };
        let color = match status_color(status) {
            StatusColor::Green => "green",
            StatusColor::Blue => "blue",
            StatusColor::Red => "red",
            StatusColor::Yellow => "yellow",
            StatusColor::Grey => "grey",
        };
        Status {
            value: status.to_value(),
            label,
            color,
        }
    }
}

fn render(row: image_build::Model, refs: &Refs, base: &Base) -> Build {
    Build {
        url: base.object(kind::BUILDS, row.id.into()),
        display: row.output_name.clone(),
        definition: refs.definition(base, row.definition_id),
        status: row.status.into(),
        proxmox_endpoint: refs.endpoint(base, row.proxmox_endpoint_id),
        created_by: row.created_by_id.and_then(|u| refs.user(base, u)),
        cloud_image_template: row
            .cloud_image_template_id
            .and_then(|t| refs.template(base, t)),
        rebuild_of: row.rebuild_of_id.and_then(|b| refs.build(base, b)),
        id: row.id,
        backend_build_id: row.backend_build_id,
        target_node: row.target_node,
        output_vmid: row.output_vmid,
        output_name: row.output_name,
        image_version: row.image_version,
        variables: row.variables,
        timeout_seconds: row.timeout_seconds,
        started_at: row.started_at,
        completed_at: row.completed_at,
        netbox_job_id: row.netbox_job_id,
        backend_response: row.backend_response,
        error: row.error,
        created: row.created,
        last_updated: row.last_updated,
    }
}

async fn one(
    app: &App,
    principal: &Principal,
    headers: &HeaderMap,
    status: StatusCode,
    row: image_build::Model,
) -> Reply {
    let refs = Refs::of_builds(&app.db, &principal.scope(), std::slice::from_ref(&row)).await?;
    reply(status, render(row, &refs, &Base::of(headers)))
}

/// `GET image-builds/`: the visible builds, newest first unless ordered otherwise.
pub async fn list(
    State(app): State<App>,
    principal: Principal,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Reply {
    let scope = principal.scope();
    let query = params::parse::<BuildField, BuildSort>(query.as_deref())?;
    let page = read::list_offset::<image_build::Entity>(
        &app.db,
        &scope,
        &query.filter,
        query.sort.clone(),
        &query.page,
    )
    .await?;
    let refs = Refs::of_builds(&app.db, &scope, &page.rows).await?;
    let base = Base::of(&headers);
    let results = page
        .rows
        .into_iter()
        .map(|row| render(row, &refs, &base))
        .collect();
    reply(
        StatusCode::OK,
        query.envelope(&base.list(kind::BUILDS), page.count, results),
    )
}

/// `GET image-builds/{id}/`.
pub async fn detail(
    State(app): State<App>,
    principal: Principal,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Reply {
    let row =
        read::get::<image_build::Entity>(&app.db, &principal.scope(), path_id(&path)?).await?;
    one(&app, &principal, &headers, StatusCode::OK, row).await
}

/// `POST image-builds/`: queues a build (the gates of SPEC §2.2; `idempotency_key` makes a
/// repeated request answer with the first build). 201 with the build.
pub async fn queue(
    State(app): State<App>,
    principal: Principal,
    headers: HeaderMap,
    body: Body,
) -> Reply {
    let mut fields = Fields::new(body::object(&app, &headers, body).await?);
    fields.require(&["definition", "output_vmid"]);
    let definition = fields.reference("definition");
    let output_vmid = fields.integer("output_vmid").unwrap_or_default();
    let output_name = fields.text("output_name");
    let image_version = fields.text("image_version");
    let variables = fields.json("variables");
    let idempotency_key = fields.text("idempotency_key");
    fields.refuse(&FIELDS, "is set by the service");
    fields.finish()?;
    let request = QueueRequest {
        definition: Id::of_row(
            definition.ok_or_else(|| Error::bad_input("definition", "is required"))?,
        ),
        output_vmid,
        output_name,
        image_version,
        variables,
        idempotency_key,
    };
    let row = lifecycle::queue(ctx(&app, &principal), request).await?;
    one(&app, &principal, &headers, StatusCode::CREATED, row).await
}

/// `PATCH image-builds/{id}/`: one status transition, with its fields.
pub async fn transition(
    State(app): State<App>,
    principal: Principal,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Reply {
    let id = path_id(&path)?;
    let mut fields = Fields::new(body::object(&app, &headers, body).await?);
    let ctx = ctx(&app, &principal);
    // A build changes only through a status transition: without one, nothing is changed.
    fields.require(&["status"]);
    let Some(status) = fields.choice::<BuildStatus>("status") else {
        fields.refuse(&FIELDS, "changes only with a status transition");
        fields.finish()?;
        return Err(Error::bad_input("status", "is required").into());
    };
    let row = match status {
        BuildStatus::Running => {
            let backend_build_id = fields.text("backend_build_id");
            let netbox_job_id = fields.nullable_integer("netbox_job_id").flatten();
            only(fields, status)?;
            lifecycle::start(ctx, id, backend_build_id, netbox_job_id).await?
        }
        BuildStatus::Completed => {
            let output_vmid = fields.integer("output_vmid");
            let backend_response = fields.json("backend_response");
            only(fields, status)?;
            lifecycle::complete(ctx, id, output_vmid, backend_response).await?
        }
        BuildStatus::Failed => {
            let error = fields.text("error").unwrap_or_default();
            let backend_response = fields.json("backend_response");
            only(fields, status)?;
            lifecycle::fail(ctx, id, error, backend_response).await?
        }
        BuildStatus::Cancelled => {
            only(fields, status)?;
            lifecycle::cancel(ctx, id).await?
        }
        BuildStatus::Pending => {
            return Err(Error::bad_input(
                "status",
                "a build never returns to pending: POST image-builds/{id}/rebuild/ queues a \
                 new build of a completed one",
            )
            .into());
        }
    };
    one(&app, &principal, &headers, StatusCode::OK, row).await
}

/// Refuses the fields the transition to `status` does not take.
fn only(mut fields: Fields, status: BuildStatus) -> Result<(), Error> {
    fields.refuse(
        &FIELDS,
        &format!("is not part of a transition to `{}`", status.to_value()),
    );
    fields.finish()
}

/// `POST image-builds/{id}/rebuild/`: a new pending build of a completed one, with the same
/// parameters (no body is read). 201 with the new build.
pub async fn rebuild(
    State(app): State<App>,
    principal: Principal,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Reply {
    let row = lifecycle::rebuild(ctx(&app, &principal), path_id(&path)?).await?;
    one(&app, &principal, &headers, StatusCode::CREATED, row).await
}
