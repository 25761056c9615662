//! What a worker reports (SPEC §2.1): start, complete (with the catalog publish of §2.3), fail,
//! and cancel (also an OPERATOR's).

use entity::{enums::BuildStatus, image_build, image_definition};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter,
    Set,
};
use serde_json::Value as Json;

use super::{Mover, check_json, commit, open, refuse_unless_allowed, transition};
use crate::{
    auth::Action,
    error::Error,
    registry::{Ctx, catalog, id::Id, rules, settings},
};

/// A build's id.
type BuildId = Id<image_build::Entity>;

/// Starts a pending build, unless `max_concurrent_builds` builds already run.
pub async fn start(
    ctx: Ctx<'_>,
    id: BuildId,
    backend_build_id: Option<String>,
    netbox_job_id: Option<i32>,
) -> Result<image_build::Model, Error> {
    ctx.principal.authorize(Action::ReportBuild)?;
    if let Some(backend) = &backend_build_id {
        let mut c = rules::Checks::default();
        c.max_len("backend_build_id", backend, 255);
        c.0.into_result()?;
    }
    let (txn, build) = open(ctx, id, BuildStatus::Running).await?;
    let build = start_in(
        &txn,
        &build,
        Mover::of(ctx),
        Started {
            backend_build_id,
            netbox_job_id,
            message: "",
        },
    )
    .await?;
    commit(ctx, txn, build).await
}

/// What a start records beside the status: the backend's ids and the event's message.
pub(super) struct Started<'a> {
    pub(super) backend_build_id: Option<String>,
    pub(super) netbox_job_id: Option<i32>,
    pub(super) message: &'a str,
}

/// Starts `build` in `txn` (a worker's report, or a dispatcher's claim), unless
/// `max_concurrent_builds` builds already run: the one atomic start of SPEC §2.2.
pub(super) async fn start_in(
    txn: &DatabaseTransaction,
    build: &image_build::Model,
    mover: Mover,
    started: Started<'_>,
) -> Result<image_build::Model, Error> {
    refuse_unless_allowed(build.status, BuildStatus::Running)?;
    let settings = settings::current(txn).await?;
    let running = image_build::Entity::find()
        .filter(image_build::Column::Status.eq(BuildStatus::Running))
        .count(txn)
        .await?;
    if running >= settings.image_factory_max_concurrent_builds as u64 {
        return Err(Error::ConcurrencyLimit {
            limit: settings.image_factory_max_concurrent_builds,
        });
    }
    let changes = image_build::ActiveModel {
        started_at: Set(Some(mover.at())),
        timeout_seconds: Set(Some(settings.image_factory_default_job_timeout)),
        backend_build_id: started.backend_build_id.map_or(sea_orm::NotSet, Set),
        netbox_job_id: started
            .netbox_job_id
            .map_or(sea_orm::NotSet, |job| Set(Some(job))),
        ..Default::default()
    };
    transition(
        txn,
        build,
        BuildStatus::Running,
        changes,
        mover,
        started.message,
    )
    .await
}

/// Completes a running build and publishes it to the catalog (SPEC §2.3).
pub async fn complete(
    ctx: Ctx<'_>,
    id: BuildId,
    output_vmid: Option<i32>,
    backend_response: Option<Json>,
) -> Result<image_build::Model, Error> {
    ctx.principal.authorize(Action::ReportBuild)?;
    let mut c = rules::Checks::default();
    if let Some(vmid) = output_vmid {
        c.vmid("output_vmid", vmid);
    }
    check_json(&mut c, "backend_response", backend_response.as_ref());
    c.0.into_result()?;
    let (txn, build) = open(ctx, id, BuildStatus::Completed).await?;
    let build = complete_in(&txn, &build, output_vmid, backend_response, Mover::of(ctx)).await?;
    commit(ctx, txn, build).await
}

/// Completes `build` in `txn` and publishes it to the catalog (a worker's report, or a
/// dispatcher's result).
pub(super) async fn complete_in(
    txn: &DatabaseTransaction,
    build: &image_build::Model,
    output_vmid: Option<i32>,
    backend_response: Option<Json>,
    mover: Mover,
) -> Result<image_build::Model, Error> {
    let changes = image_build::ActiveModel {
        completed_at: Set(Some(mover.at())),
        output_vmid: output_vmid.map_or(sea_orm::NotSet, Set),
        backend_response: backend_response.map_or(sea_orm::NotSet, Set),
        ..Default::default()
    };
    let mut build = transition(txn, build, BuildStatus::Completed, changes, mover, "").await?;
    let definition = image_definition::Entity::find_by_id(build.definition_id)
        .one(txn)
        .await?
        .ok_or_else(|| Error::internal("a build without its definition"))?;
    if let Some(entry) = catalog::publish(txn, mover.at(), &build, &definition).await? {
        let mut active: image_build::ActiveModel = build.into();
        active.cloud_image_template_id = Set(Some(entry));
        build = active.update(txn).await?;
    }
    Ok(build)
}

/// Fails a pending or running build with an error.
pub async fn fail(
    ctx: Ctx<'_>,
    id: BuildId,
    error: String,
    backend_response: Option<Json>,
) -> Result<image_build::Model, Error> {
    ctx.principal.authorize(Action::ReportBuild)?;
    let mut c = rules::Checks::default();
    c.required_text("error", &error, 65_536);
    check_json(&mut c, "backend_response", backend_response.as_ref());
    c.0.into_result()?;
    let (txn, build) = open(ctx, id, BuildStatus::Failed).await?;
    let build = fail_in(&txn, &build, error, backend_response, Mover::of(ctx)).await?;
    commit(ctx, txn, build).await
}

/// Fails `build` in `txn` (a worker's report, or the reaper's timeout).
pub(super) async fn fail_in(
    txn: &DatabaseTransaction,
    build: &image_build::Model,
    error: String,
    backend_response: Option<Json>,
    mover: Mover,
) -> Result<image_build::Model, Error> {
    refuse_unless_allowed(build.status, BuildStatus::Failed)?;
    let changes = image_build::ActiveModel {
        completed_at: Set(Some(mover.at())),
        error: Set(error.clone()),
        backend_response: backend_response.map_or(sea_orm::NotSet, Set),
        ..Default::default()
    };
    transition(txn, build, BuildStatus::Failed, changes, mover, &error).await
}

/// Cancels a pending or running build.
pub async fn cancel(ctx: Ctx<'_>, id: BuildId) -> Result<image_build::Model, Error> {
    ctx.principal.authorize(Action::CancelBuild)?;
    let (txn, build) = open(ctx, id, BuildStatus::Cancelled).await?;
    let mover = Mover::of(ctx);
    let changes = image_build::ActiveModel {
        completed_at: Set(Some(mover.at())),
        ..Default::default()
    };
    let build = transition(&txn, &build, BuildStatus::Cancelled, changes, mover, "").await?;
    commit(ctx, txn, build).await
}
