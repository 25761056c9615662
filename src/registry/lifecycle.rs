//! The build lifecycle (SPEC §2): queue, start, complete, fail, cancel, rebuild, and the timeout
//! reaper.
//!
//! Every transition is one transaction: a status-guarded `UPDATE … WHERE status = <from>`, its
//! `build_event` row and its side effects (catalog publish) commit together or not at all, and
//! subscribers are woken after the commit. Lifecycle transactions serialise on the lifecycle lock
//! (see [`begin_lifecycle`]), which is what makes `max_concurrent_builds` hold under any
//! interleaving, on one instance or many.

use chrono::{DateTime, Duration, Utc};
use entity::{
    build_event,
    enums::{BuildStatus, BuilderType},
    idempotency_key, image_build, image_definition, plugin_settings, proxmox_endpoint,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    EntityTrait, PaginatorTrait, QueryFilter, Set,
};
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

use super::{Ctx, catalog, now, read, rules, settings, tx::begin_lifecycle};
use crate::{
    auth::{Action, Principal},
    error::Error,
    events::{Events, prepare_event_write},
};

/// Whether SPEC §2.1 allows `from → to` (`completed → pending` is a rebuild: a new build).
pub fn allowed(from: BuildStatus, to: BuildStatus) -> bool {
    use BuildStatus::{Cancelled, Completed, Failed, Pending, Running};
    matches!(
        (from, to),
        (Pending, Running | Cancelled | Failed)
            | (Running, Completed | Failed | Cancelled)
            | (Completed, Pending)
    )
}

/// What `queueImageBuild` asks for.
#[derive(Clone, Debug, Default)]
pub struct QueueRequest {
    /// The definition to build.
    pub definition_id: i64,
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
        read::get::<image_definition::Entity>(&txn, &ctx.principal.scope(), request.definition_id)
            .await?;
    let key = match (&request.idempotency_key, ctx.principal.user_id()) {
        (Some(key), Some(user)) => Some((key.clone(), user, fingerprint(&request))),
        _ => None,
    };
    if let Some((key, user, hash)) = &key {
        let mut c = rules::Checks::default();
        c.required_text("idempotency_key", key, 255);
        c.0.into_result()?;
        if let Some(first) = first_result(&txn, *user, key, hash).await? {
            return Ok(first);
        }
    }
    let settings = settings::get(&txn).await?;
    let variables = request
        .variables
        .clone()
        .unwrap_or_else(|| Json::Object(Default::default()));
    check_gates(&txn, &settings, &definition, &variables).await?;
    let stamp = now();
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
        ctx.principal,
    )
    .await?;
    if let Some((key, user, hash)) = key {
        let saved = idempotency_key::ActiveModel {
            user_id: Set(user),
            key: Set(key),
            request_hash: Set(hash),
            build_id: Set(build.id),
            created: Set(stamp),
            ..Default::default()
        }
        .insert(&txn)
        .await;
        if let Err(err) = saved {
            // A concurrent request with the same key won: answer with its result.
            drop(txn);
            return match err.sql_err() {
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
                    Box::pin(queue(ctx, request)).await
                }
                _ => Err(err.into()),
            };
        }
    }
    commit(ctx, txn, build).await
}

/// The build a keyed request already created, or `IDEMPOTENCY_KEY_REUSED` when the key was used
/// with another input.
async fn first_result(
    txn: &DatabaseTransaction,
    user: i32,
    key: &str,
    hash: &str,
) -> Result<Option<image_build::Model>, Error> {
    let Some(found) = idempotency_key::Entity::find()
        .filter(idempotency_key::Column::UserId.eq(user))
        .filter(idempotency_key::Column::Key.eq(key))
        .one(txn)
        .await?
    else {
        return Ok(None);
    };
    if found.request_hash != hash {
        return Err(Error::IdempotencyKeyReused);
    }
    Ok(image_build::Entity::find_by_id(found.build_id)
        .one(txn)
        .await?)
}

/// A stable hash of a queue request's input (object keys sorted).
fn fingerprint(request: &QueueRequest) -> String {
    let canonical = serde_json::json!([
        request.definition_id,
        request.output_vmid,
        request.output_name,
        request.image_version,
        request.variables.as_ref().map(canonical_json),
    ]);
    let digest = Sha256::digest(canonical.to_string().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn canonical_json(value: &Json) -> Json {
    match value {
        Json::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Json::Array(
                entries
                    .into_iter()
                    .map(|(k, v)| Json::Array(vec![Json::String(k.clone()), canonical_json(v)]))
                    .collect(),
            )
        }
        Json::Array(items) => Json::Array(items.iter().map(canonical_json).collect()),
        other => other.clone(),
    }
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

/// Starts a pending build, unless `max_concurrent_builds` builds already run.
pub async fn start(
    ctx: Ctx<'_>,
    id: i64,
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
    let settings = settings::get(&txn).await?;
    let running = image_build::Entity::find()
        .filter(image_build::Column::Status.eq(BuildStatus::Running))
        .count(&txn)
        .await?;
    if running >= settings.image_factory_max_concurrent_builds as u64 {
        return Err(Error::ConcurrencyLimit {
            limit: settings.image_factory_max_concurrent_builds,
        });
    }
    let stamp = now();
    let changes = image_build::ActiveModel {
        started_at: Set(Some(stamp)),
        timeout_seconds: Set(Some(settings.image_factory_default_job_timeout)),
        backend_build_id: backend_build_id.map_or(sea_orm::NotSet, Set),
        netbox_job_id: netbox_job_id.map_or(sea_orm::NotSet, |job| Set(Some(job))),
        ..Default::default()
    };
    let build = transition(
        &txn,
        &build,
        BuildStatus::Running,
        changes,
        ctx.principal.user_id(),
        "",
    )
    .await?;
    commit(ctx, txn, build).await
}

/// Completes a running build and publishes it to the catalog (SPEC §2.3).
pub async fn complete(
    ctx: Ctx<'_>,
    id: i64,
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
    let changes = image_build::ActiveModel {
        completed_at: Set(Some(now())),
        output_vmid: output_vmid.map_or(sea_orm::NotSet, Set),
        backend_response: backend_response.map_or(sea_orm::NotSet, Set),
        ..Default::default()
    };
    let mut build = transition(
        &txn,
        &build,
        BuildStatus::Completed,
        changes,
        ctx.principal.user_id(),
        "",
    )
    .await?;
    let definition = image_definition::Entity::find_by_id(build.definition_id)
        .one(&txn)
        .await?
        .ok_or_else(|| Error::internal("a build without its definition"))?;
    if let Some(entry) = catalog::publish(&txn, &build, &definition).await? {
        let mut active: image_build::ActiveModel = build.into();
        active.cloud_image_template_id = Set(Some(entry));
        build = active.update(&txn).await?;
    }
    commit(ctx, txn, build).await
}

/// Fails a pending or running build with an error.
pub async fn fail(
    ctx: Ctx<'_>,
    id: i64,
    error: String,
    backend_response: Option<Json>,
) -> Result<image_build::Model, Error> {
    ctx.principal.authorize(Action::ReportBuild)?;
    let mut c = rules::Checks::default();
    c.required_text("error", &error, 65_536);
    check_json(&mut c, "backend_response", backend_response.as_ref());
    c.0.into_result()?;
    let (txn, build) = open(ctx, id, BuildStatus::Failed).await?;
    let build = fail_in(
        &txn,
        &build,
        error,
        backend_response,
        ctx.principal.user_id(),
    )
    .await?;
    commit(ctx, txn, build).await
}

async fn fail_in(
    txn: &DatabaseTransaction,
    build: &image_build::Model,
    error: String,
    backend_response: Option<Json>,
    actor: Option<i32>,
) -> Result<image_build::Model, Error> {
    refuse_unless_allowed(build.status, BuildStatus::Failed)?;
    let changes = image_build::ActiveModel {
        completed_at: Set(Some(now())),
        error: Set(error.clone()),
        backend_response: backend_response.map_or(sea_orm::NotSet, Set),
        ..Default::default()
    };
    transition(txn, build, BuildStatus::Failed, changes, actor, &error).await
}

/// Cancels a pending or running build.
pub async fn cancel(ctx: Ctx<'_>, id: i64) -> Result<image_build::Model, Error> {
    ctx.principal.authorize(Action::CancelBuild)?;
    let (txn, build) = open(ctx, id, BuildStatus::Cancelled).await?;
    let changes = image_build::ActiveModel {
        completed_at: Set(Some(now())),
        ..Default::default()
    };
    let build = transition(
        &txn,
        &build,
        BuildStatus::Cancelled,
        changes,
        ctx.principal.user_id(),
        "",
    )
    .await?;
    commit(ctx, txn, build).await
}

/// Queues a new build of a completed build's definition with the same parameters; the completed
/// build keeps its history. The queue gates apply.
pub async fn rebuild(ctx: Ctx<'_>, id: i64) -> Result<image_build::Model, Error> {
    ctx.principal.authorize(Action::QueueBuild)?;
    let (txn, original) = open(ctx, id, BuildStatus::Pending).await?;
    let definition = image_definition::Entity::find_by_id(original.definition_id)
        .one(&txn)
        .await?
        .ok_or_else(|| Error::internal("a build without its definition"))?;
    let settings = settings::get(&txn).await?;
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
        ctx.principal,
    )
    .await?;
    commit(ctx, txn, build).await
}

/// Fails every running build older than its timeout (SPEC §2.4), as the service itself; `now` is
/// the reaper's clock. Returns the ids of the builds it failed.
pub async fn reap(
    db: &DatabaseConnection,
    events: &Events,
    now: DateTime<Utc>,
) -> Result<Vec<i32>, Error> {
    let running = image_build::Entity::find()
        .filter(image_build::Column::Status.eq(BuildStatus::Running))
        .all(db)
        .await?;
    let mut reaped = Vec::new();
    for build in running {
        let (Some(started), Some(timeout)) = (build.started_at, build.timeout_seconds) else {
            continue;
        };
        if started + Duration::seconds(i64::from(timeout)) > now {
            continue;
        }
        let txn = begin_lifecycle(db).await?;
        let error = format!("job timed out after {timeout} s");
        match fail_in(&txn, &build, error, None, None).await {
            Ok(_) => {
                txn.commit().await?;
                events.committed();
                reaped.push(build.id);
            }
            // Reported or cancelled meanwhile: nothing to reap.
            Err(Error::InvalidTransition { .. }) => {}
            Err(err) => return Err(err),
        }
    }
    Ok(reaped)
}

/// Opens the lifecycle transaction for moving build `id` to `to`: the build must be visible to
/// the caller (else `NOT_FOUND`) and allowed to move (else `INVALID_STATUS_TRANSITION`). The
/// caller's role was checked before.
async fn open(
    ctx: Ctx<'_>,
    id: i64,
    to: BuildStatus,
) -> Result<(DatabaseTransaction, image_build::Model), Error> {
    let txn = begin_lifecycle(ctx.db).await?;
    let build = read::get::<image_build::Entity>(&txn, &ctx.principal.scope(), id).await?;
    refuse_unless_allowed(build.status, to)?;
    Ok((txn, build))
}

/// Commits a transition and wakes this instance's subscribers.
async fn commit(
    ctx: Ctx<'_>,
    txn: DatabaseTransaction,
    build: image_build::Model,
) -> Result<image_build::Model, Error> {
    txn.commit().await?;
    ctx.events.committed();
    Ok(build)
}

fn refuse_unless_allowed(from: BuildStatus, to: BuildStatus) -> Result<(), Error> {
    if allowed(from, to) {
        Ok(())
    } else {
        Err(Error::InvalidTransition {
            from: Some(from),
            to,
        })
    }
}

fn check_json(c: &mut rules::Checks, field: &str, value: Option<&Json>) {
    if let Some(value) = value {
        c.check(
            field,
            serde_json::to_vec(value).map_or(0, |b| b.len()) <= rules::MAX_JSON_BYTES,
            "must be at most 64 KiB of JSON",
        );
    }
}

/// Moves `build` to `to` with `changes`, guarded on its current status, and records the event.
async fn transition(
    txn: &DatabaseTransaction,
    build: &image_build::Model,
    to: BuildStatus,
    mut changes: image_build::ActiveModel,
    actor: Option<i32>,
    message: &str,
) -> Result<image_build::Model, Error> {
    let from = build.status;
    refuse_unless_allowed(from, to)?;
    changes.status = Set(to);
    changes.last_updated = Set(now());
    let updated = image_build::Entity::update_many()
        .set(changes)
        .filter(image_build::Column::Id.eq(build.id))
        .filter(image_build::Column::Status.eq(from))
        .exec(txn)
        .await?;
    if updated.rows_affected != 1 {
        let current = image_build::Entity::find_by_id(build.id)
            .one(txn)
            .await?
            .map(|b| b.status);
        return Err(Error::InvalidTransition { from: current, to });
    }
    let build = image_build::Entity::find_by_id(build.id)
        .one(txn)
        .await?
        .ok_or(Error::NotFound)?;
    insert_event(txn, build.id, Some(from), to, actor, message).await?;
    Ok(build)
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
/// and its creation event, created by `principal`.
async fn insert_pending(
    txn: &DatabaseTransaction,
    new: Pending<'_>,
    principal: &Principal,
) -> Result<image_build::Model, Error> {
    let stamp = now();
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
        created_by_id: Set(principal.user_id()),
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
    insert_event(
        txn,
        build.id,
        None,
        BuildStatus::Pending,
        principal.user_id(),
        &message,
    )
    .await?;
    Ok(build)
}

async fn insert_event(
    txn: &impl ConnectionTrait,
    build: i32,
    from: Option<BuildStatus>,
    to: BuildStatus,
    actor: Option<i32>,
    message: &str,
) -> Result<(), Error> {
    prepare_event_write(txn).await?;
    build_event::ActiveModel {
        build_id: Set(build),
        from_status: Set(from),
        to_status: Set(to),
        actor_id: Set(actor),
        message: Set(message.to_owned()),
        at: Set(now()),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use entity::enums::BuildStatus::{self, Cancelled, Completed, Failed, Pending, Running};

    use super::allowed;

    #[test]
    fn the_transition_table_of_the_spec_over_every_pair() {
        let all = [Pending, Running, Failed, Completed, Cancelled];
        let table: [(BuildStatus, BuildStatus); 7] = [
            (Pending, Running),
            (Pending, Cancelled),
            (Pending, Failed),
            (Running, Completed),
            (Running, Failed),
            (Running, Cancelled),
            (Completed, Pending),
        ];
        for from in all {
            for to in all {
                assert_eq!(
                    allowed(from, to),
                    table.contains(&(from, to)),
                    "{from:?} -> {to:?}"
                );
            }
        }
    }
}
