//! Queueing a build (SPEC §2.2) and rebuilding a completed one: the gates, then a pending build
//! and its creation event.

use entity::{
    enums::{BuildStatus, BuilderType},
    image_build, image_definition, plugin_settings, proxmox_endpoint,
};
use sea_orm::{ActiveModelTrait, DatabaseTransaction, EntityTrait, Set};
use serde_json::Value as Json;

use super::{Mover, commit, idempotency, insert_event, open};
use crate::{
    auth::Action,
    error::Error,
    registry::{Ctx, id::Id, read, rules, settings, tx::begin_lifecycle},
};

/// What `queueImageBuild` asks for.
#[derive(Clone, Debug)]
pub struct QueueRequest {
    /// The definition to build.
    pub definition: Id<image_definition::Entity>,
    /// VMID of the output template.
    pub output_vmid: i32,
    /// Name of the output template (default `{slug}-{YYYYMMDD}`).
    pub output_name: Option<String>,
    /// Version label (default the queue date).
    pub image_version: Option<String>,
    /// Per-build variable overrides.
    pub variables: Option<Json>,
    /// Makes a repeated request return the first result.
    pub idempotency_key: Option<String>,
}

/// Queues a build, checking the gates of SPEC §2.2 in order; creates nothing when one fails.
pub async fn queue(ctx: Ctx<'_>, request: QueueRequest) -> Result<image_build::Model, Error> {
    ctx.principal.authorize(Action::QueueBuild)?;
    let txn = begin_lifecycle(ctx.db).await?;
    let definition =
        read::get::<image_definition::Entity>(&txn, &ctx.principal.scope(), request.definition)
            .await?;
    let key = idempotency::Key::of(&request, ctx.principal.user_id())?;
    if let Some(key) = &key
        && let Some(first) = key.first_result(&txn).await?
    {
        return Ok(first);
    }
    let settings = settings::current(&txn).await?;
    let variables = request
        .variables
        .clone()
        .unwrap_or_else(|| Json::Object(Default::default()));
    check_gates(&txn, &settings, &definition, &variables).await?;
    let mover = Mover::of(ctx);
    let stamp = mover.at();
    let mut c = rules::Checks::default();
    c.vmid("output_vmid", request.output_vmid);
    let output_name = request
        .output_name
        .clone()
        .unwrap_or_else(|| format!("{}-{}", definition.slug, stamp.format("%Y%m%d")));
    c.required_text("output_name", &output_name, 255);
    let image_version = request
        .image_version
        .clone()
        .unwrap_or_else(|| stamp.format("%Y-%m-%d").to_string());
    c.required_text("image_version", &image_version, 64);
    c.0.into_result()?;
    let build = insert_pending(
        &txn,
        Pending {
            definition: &definition,
            output_vmid: request.output_vmid,
            output_name,
            image_version,
            variables,
            rebuild_of: None,
        },
        mover,
    )
    .await?;
    if let Some(key) = key
        && let Err(err) = key.remember(&txn, build.id, stamp).await
    {
        // A concurrent request with the same key won: answer with its result.
        drop(txn);
        return match err.sql_err() {
            Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
                Box::pin(queue(ctx, request)).await
            }
            _ => Err(err.into()),
        };
    }
    commit(ctx, txn, build).await
}

/// Gates 2 to 6 of SPEC §2.2, in order (gate 1 is the caller's role and visibility, gate 7 the
/// field rules of the request).
async fn check_gates(
    txn: &DatabaseTransaction,
    settings: &plugin_settings::Model,
    definition: &image_definition::Model,
    variables: &Json,
) -> Result<(), Error> {
    if !settings.image_factory_enabled {
        return Err(Error::FeatureDisabled {
            feature: "image_factory",
        });
    }
    if !definition.enabled {
        return Err(Error::DefinitionDisabled);
    }
    let endpoint = proxmox_endpoint::Entity::find_by_id(definition.proxmox_endpoint_id)
        .one(txn)
        .await?;
    if !endpoint.is_some_and(|e| e.enabled && e.allow_writes) {
        return Err(Error::EndpointWritesDisabled);
    }
    if definition.builder_type == BuilderType::ProxmoxIso
        && !settings.image_factory_allow_iso_builds
    {
        return Err(Error::FeatureDisabled {
            feature: "iso_builds",
        });
    }
    let custom = !matches!(variables, Json::Object(map) if map.is_empty());
    if custom {
        if !settings.image_factory_allow_custom_variables {
            return Err(Error::FeatureDisabled {
                feature: "custom_variables",
            });
        }
        let mut c = rules::Checks::default();
        c.variables("variables", variables);
        c.0.into_result()?;
    }
    Ok(())
}

/// Queues a new build of a completed build's definition with the same parameters; the completed
/// build keeps its history. The queue gates apply.
pub async fn rebuild(
    ctx: Ctx<'_>,
    id: Id<image_build::Entity>,
) -> Result<image_build::Model, Error> {
    ctx.principal.authorize(Action::QueueBuild)?;
    let (txn, original) = open(ctx, id, BuildStatus::Pending).await?;
    let definition = image_definition::Entity::find_by_id(original.definition_id)
        .one(&txn)
        .await?
        .ok_or_else(|| Error::internal("a build without its definition"))?;
    let settings = settings::current(&txn).await?;
    check_gates(&txn, &settings, &definition, &original.variables).await?;
    let build = insert_pending(
        &txn,
        Pending {
            definition: &definition,
            output_vmid: original.output_vmid,
            output_name: original.output_name.clone(),
            image_version: original.image_version.clone(),
            variables: original.variables.clone(),
            rebuild_of: Some(original.id),
        },
        Mover::of(ctx),
    )
    .await?;
    commit(ctx, txn, build).await
}

/// A pending build to create: for a queue, or for a rebuild (`rebuild_of`).
struct Pending<'a> {
    definition: &'a image_definition::Model,
    output_vmid: i32,
    output_name: String,
    image_version: String,
    variables: Json,
    rebuild_of: Option<i32>,
}

/// Inserts a pending build of `new.definition` (its endpoint and node copied, as SPEC §1.2 says)
/// and its creation event, created by `mover`.
async fn insert_pending(
    txn: &DatabaseTransaction,
    new: Pending<'_>,
    mover: Mover,
) -> Result<image_build::Model, Error> {
    let stamp = mover.at();
    let build = image_build::ActiveModel {
        definition_id: Set(new.definition.id),
        status: Set(BuildStatus::Pending),
        backend_build_id: Set(String::new()),
        proxmox_endpoint_id: Set(new.definition.proxmox_endpoint_id),
        target_node: Set(new.definition.target_node.clone()),
        output_vmid: Set(new.output_vmid),
        output_name: Set(new.output_name),
        image_version: Set(new.image_version),
        variables: Set(new.variables),
        timeout_seconds: Set(None),
        started_at: Set(None),
        completed_at: Set(None),
        created_by_id: Set(mover.actor),
        netbox_job_id: Set(None),
        cloud_image_template_id: Set(None),
        backend_response: Set(Json::Object(Default::default())),
        error: Set(String::new()),
        rebuild_of_id: Set(new.rebuild_of),
        created: Set(stamp),
        last_updated: Set(stamp),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    let message = new.rebuild_of.map_or_else(String::new, |original| {
        format!("rebuild of build {original}")
    });
    insert_event(txn, build.id, None, BuildStatus::Pending, mover, &message).await?;
    Ok(build)
}
