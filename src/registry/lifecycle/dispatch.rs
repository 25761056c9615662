//! What a dispatcher (SPEC §7.1) asks of the lifecycle: the pending builds oldest first, the
//! claim (the one atomic start of SPEC §2.2, plus a lease, in one transaction), leases renewed,
//! adopted and released, and the results it reports — through the same transitions workers use,
//! as the service itself (the events' actor is null).

use chrono::{DateTime, Utc};
use entity::{build_lease, enums::BuildStatus, image_build, image_definition, proxmox_endpoint};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde_json::Value as Json;

use super::{
    Mover,
    report::{Started, complete_in, fail_in, start_in},
};
use crate::{
    auth::Scope,
    error::Error,
    registry::{events::Wake, id::Id, read, settings, tx::begin_lifecycle},
};

/// A build as a backend needs it: the build, its definition and its endpoint.
#[derive(Clone, Debug)]
pub struct Job {
    /// The build (running).
    pub build: image_build::Model,
    /// Its definition.
    pub definition: image_definition::Model,
    /// The endpoint the build was queued for.
    pub endpoint: proxmox_endpoint::Model,
}

/// Who holds a lease, for which backend, until when.
#[derive(Clone, Copy, Debug)]
pub struct Lease<'a> {
    /// The dispatcher's id.
    pub owner: &'a str,
    /// The backend's name (`proxbox`, `packer`).
    pub backend: &'a str,
    /// The expiry.
    pub until: DateTime<Utc>,
}

/// The ids of up to `limit` pending builds, oldest first (`created`, then `id`).
pub async fn pending(db: &DatabaseConnection, limit: u64) -> Result<Vec<i32>, Error> {
    let builds = read::visible::<image_build::Entity>(&Scope::service())?
        .filter(image_build::Column::Status.eq(BuildStatus::Pending))
        .order_by_asc(image_build::Column::Created)
        .order_by_asc(image_build::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    Ok(builds.into_iter().map(|b| b.id).collect())
}

/// Starts pending build `id` as the service, with `message` on its event, and gives `lease` to
/// it, in one lifecycle transaction. Refused, and the build left pending, when the image factory
/// is off (`FEATURE_DISABLED`), its definition disabled (`DEFINITION_DISABLED`), its endpoint
/// disabled or without `allow_writes` (`ENDPOINT_WRITES_DISABLED`), or when
/// `max_concurrent_builds` builds run (`CONCURRENCY_LIMIT`); `INVALID_STATUS_TRANSITION` when it
/// is no longer pending (another dispatcher or a worker took it, or it was cancelled).
pub async fn claim(
    db: &DatabaseConnection,
    events: &dyn Wake,
    now: DateTime<Utc>,
    id: i32,
    lease: Lease<'_>,
    message: &str,
) -> Result<Job, Error> {
    let txn = begin_lifecycle(db).await?;
    let build = read::get::<image_build::Entity>(&txn, &Scope::service(), Id::of_row(id)).await?;
    if build.status != BuildStatus::Pending {
        return Err(Error::InvalidTransition {
            from: Some(build.status),
            to: BuildStatus::Running,
        });
    }
    if !settings::current(&txn).await?.image_factory_enabled {
        return Err(Error::FeatureDisabled {
            feature: "image_factory",
        });
    }
    let (definition, endpoint) = parts(&txn, &build).await?;
    if !definition.enabled {
        return Err(Error::DefinitionDisabled);
    }
    if !(endpoint.enabled && endpoint.allow_writes) {
        return Err(Error::EndpointWritesDisabled);
    }
    let build = start_in(
        &txn,
        &build,
        Mover::service(now),
        Started {
            backend_build_id: None,
            netbox_job_id: None,
            message,
        },
    )
    .await?;
    build_lease::ActiveModel {
        build_id: Set(build.id),
        owner: Set(lease.owner.to_owned()),
        backend: Set(lease.backend.to_owned()),
        expires: Set(lease.until),
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    events.committed();
    Ok(Job {
        build,
        definition,
        endpoint,
    })
}

/// Moves the expiry of `owner`'s leases on `builds` to `until`.
pub async fn renew(
    db: &DatabaseConnection,
    owner: &str,
    builds: &[i32],
    until: DateTime<Utc>,
) -> Result<(), Error> {
    if builds.is_empty() {
        return Ok(());
    }
    build_lease::Entity::update_many()
        .col_expr(build_lease::Column::Expires, until.into())
        .filter(build_lease::Column::Owner.eq(owner))
        .filter(build_lease::Column::BuildId.is_in(builds.iter().copied()))
        .exec(db)
        .await?;
    Ok(())
}

/// The leases of `backend` that expired before `now` (their owners died), oldest first.
pub async fn expired(
    db: &DatabaseConnection,
    backend: &str,
    now: DateTime<Utc>,
) -> Result<Vec<build_lease::Model>, Error> {
    Ok(build_lease::Entity::find()
        .filter(build_lease::Column::Backend.eq(backend))
        .filter(build_lease::Column::Expires.lt(now))
        .order_by_asc(build_lease::Column::Expires)
        .all(db)
        .await?)
}

/// Takes over `old` (an expired lease) for `owner` until `until`, guarded on its owner and
/// expiry so that of several dispatchers exactly one adopts it. `None` when another one did, or
/// when the build is no longer running (the lease is then released).
pub async fn adopt(
    db: &DatabaseConnection,
    old: &build_lease::Model,
    owner: &str,
    until: DateTime<Utc>,
) -> Result<Option<Job>, Error> {
    let moved = build_lease::Entity::update_many()
        .col_expr(build_lease::Column::Owner, owner.into())
        .col_expr(build_lease::Column::Expires, until.into())
        .filter(build_lease::Column::BuildId.eq(old.build_id))
        .filter(build_lease::Column::Owner.eq(old.owner.as_str()))
        .filter(build_lease::Column::Expires.eq(old.expires))
        .exec(db)
        .await?;
    if moved.rows_affected != 1 {
        return Ok(None);
    }
    let build = build(db, old.build_id).await?;
    if build.status != BuildStatus::Running {
        release(db, build.id, owner).await?;
        return Ok(None);
    }
    let (definition, endpoint) = parts(db, &build).await?;
    Ok(Some(Job {
        build,
        definition,
        endpoint,
    }))
}

/// Removes `owner`'s lease on build `id` (the build ended).
pub async fn release(db: &DatabaseConnection, id: i32, owner: &str) -> Result<(), Error> {
    build_lease::Entity::delete_many()
        .filter(build_lease::Column::BuildId.eq(id))
        .filter(build_lease::Column::Owner.eq(owner))
        .exec(db)
        .await?;
    Ok(())
}

/// Build `id` as it stands.
pub async fn build(db: &DatabaseConnection, id: i32) -> Result<image_build::Model, Error> {
    read::get::<image_build::Entity>(db, &Scope::service(), Id::of_row(id)).await
}

/// Records the backend's id of running build `id` (not a status change: no event).
pub async fn set_backend_build_id(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    id: i32,
    backend_build_id: &str,
) -> Result<(), Error> {
    let backend_build_id: String = backend_build_id.chars().take(255).collect();
    image_build::Entity::update_many()
        .set(image_build::ActiveModel {
            backend_build_id: Set(backend_build_id),
            last_updated: Set(now),
            ..Default::default()
        })
        .filter(image_build::Column::Id.eq(id))
        .filter(image_build::Column::Status.eq(BuildStatus::Running))
        .exec(db)
        .await?;
    Ok(())
}

/// Completes running build `id` as the service (catalog publish included, SPEC §2.3).
pub async fn complete(
    db: &DatabaseConnection,
    events: &dyn Wake,
    now: DateTime<Utc>,
    id: i32,
    output_vmid: Option<i32>,
    backend_response: Option<Json>,
) -> Result<image_build::Model, Error> {
    let txn = begin_lifecycle(db).await?;
    let build = read::get::<image_build::Entity>(&txn, &Scope::service(), Id::of_row(id)).await?;
    let output_vmid = output_vmid.filter(|vmid| (100..=999_999_999).contains(vmid));
    let build = complete_in(
        &txn,
        &build,
        output_vmid,
        backend_response,
        Mover::service(now),
    )
    .await?;
    txn.commit().await?;
    events.committed();
    Ok(build)
}

/// Fails pending or running build `id` as the service with `error`.
pub async fn fail(
    db: &DatabaseConnection,
    events: &dyn Wake,
    now: DateTime<Utc>,
    id: i32,
    error: String,
    backend_response: Option<Json>,
) -> Result<image_build::Model, Error> {
    let txn = begin_lifecycle(db).await?;
    let build = read::get::<image_build::Entity>(&txn, &Scope::service(), Id::of_row(id)).await?;
    let error = if error.trim().is_empty() {
        "the backend failed without a reason".to_owned()
    } else {
        error.chars().take(65_536).collect()
    };
    let build = fail_in(&txn, &build, error, backend_response, Mover::service(now)).await?;
    txn.commit().await?;
    events.committed();
    Ok(build)
}

/// The definition and endpoint of `build`.
async fn parts(
    db: &impl sea_orm::ConnectionTrait,
    build: &image_build::Model,
) -> Result<(image_definition::Model, proxmox_endpoint::Model), Error> {
    let scope = Scope::service();
    let definition =
        read::get::<image_definition::Entity>(db, &scope, Id::of_row(build.definition_id)).await?;
    let endpoint =
        read::get::<proxmox_endpoint::Entity>(db, &scope, Id::of_row(build.proxmox_endpoint_id))
            .await?;
    Ok((definition, endpoint))
}
