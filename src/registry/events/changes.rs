//! The batched reads the hub (`crate::events`) fans out: which changes a subscriber asked for
//! ([`ChangeFilter`]), the events after a position, and each batch of events read once, with
//! everything its payloads point at, for every subscriber ([`changes`]); each subscriber's scope
//! is then checked in memory.

use std::collections::{BTreeSet, HashMap};

use entity::{
    build_event, cluster, enums::BuildStatus, image_build, image_definition, proxmox_endpoint,
    tenant, user,
};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, sea_query::Query,
};

use crate::{
    auth::Scope,
    error::Error,
    registry::{
        id::Id,
        read::{self, visible},
        relations::{self, Owner},
    },
};

/// Which status changes a subscriber asked for (`buildStatusChanged(filter: …)`); every field set
/// must match, `statuses` against the new status.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChangeFilter {
    /// Only this build.
    pub build: Option<i32>,
    /// Only builds of this definition.
    pub definition: Option<i32>,
    /// Only changes to one of these statuses (empty: none).
    pub statuses: Option<Vec<BuildStatus>>,
}

impl ChangeFilter {
    /// Whether `change` matches, in memory (the live path).
    pub fn matches(&self, change: &Change) -> bool {
        self.build.is_none_or(|id| id == change.build.id)
            && self
                .definition
                .is_none_or(|id| id == change.build.definition_id)
            && self
                .statuses
                .as_ref()
                .is_none_or(|statuses| statuses.contains(&change.event.to_status))
    }

    /// The same test as a condition on `build_event` rows (the history path).
    fn condition(&self) -> Condition {
        let mut condition = Condition::all();
        if let Some(id) = self.build {
            condition = condition.add(build_event::Column::BuildId.eq(id));
        }
        if let Some(id) = self.definition {
            let builds = Query::select()
                .column(image_build::Column::Id)
                .from(image_build::Entity)
                .and_where(image_build::Column::DefinitionId.eq(id))
                .take();
            condition = condition.add(build_event::Column::BuildId.in_subquery(builds));
        }
        if let Some(statuses) = &self.statuses {
            condition =
                condition.add(build_event::Column::ToStatus.is_in(statuses.iter().copied()));
        }
        condition
    }
}

/// One committed status change with everything a subscriber needs to answer for it without
/// another statement: the build (as read after the change committed), its definition and the
/// definition's allowed tenants (for visibility), the actor, and the to-one relations of the
/// build and its definition (creator, endpoints, target cluster) — read once by the hub for
/// every subscriber, and handed to a subscriber only as its scope may read them
/// ([`Change::actor`], [`Change::related`]).
#[derive(Clone, Debug)]
pub struct Change {
    /// The event row.
    pub event: build_event::Model,
    /// The build, as of when the change was read (it may have moved on since the event).
    pub build: image_build::Model,
    /// The build's definition.
    pub definition: image_definition::Model,
    /// The definition's allowed tenant ids (empty: every tenant).
    pub allowed_tenants: Vec<i32>,
    /// The user that caused the change, if any and if it still exists (read it with
    /// [`Change::actor`], which applies the reader's scope).
    actor: Option<user::Model>,
    /// Reference data and users the payload points at (read it with [`Change::related`]).
    related: Related,
}

/// The reference rows and users a change's payload points at: what `build { createdBy
/// proxmoxEndpoint definition { allowedTenants proxmoxEndpoint targetCluster } }` answers.
#[derive(Clone, Debug, Default)]
pub struct Related {
    /// The definition's allowed tenants, by name (as `allowedTenants` lists them).
    pub allowed_tenants: Vec<tenant::Model>,
    /// The user who queued the build, if any and if it still exists.
    pub created_by: Option<user::Model>,
    /// The build's and the definition's endpoints (one row when they are the same).
    pub endpoints: Vec<proxmox_endpoint::Model>,
    /// The definition's target cluster, if any.
    pub cluster: Option<cluster::Model>,
}

impl Change {
    /// Whether a principal with `scope` may see this change.
    pub fn visible_to(&self, scope: &Scope) -> bool {
        scope.sees(&self.allowed_tenants)
    }

    /// The user that caused the change, as `scope` may read it: users are not for anonymous
    /// readers (`UNAUTHENTICATED`, as `BuildEvent.actor` answers them).
    pub fn actor(&self, scope: &Scope) -> Result<Option<&user::Model>, Error> {
        let Some(actor) = &self.actor else {
            return Ok(None);
        };
        read::may_read::<user::Entity>(scope)?;
        Ok(Some(actor))
    }

    /// The reference rows and users of the payload, when `scope` may read every one of them —
    /// tenants, users, endpoints and clusters are for authenticated readers, all of their rows
    /// (see their [`Readable`]) — and `None` otherwise (an anonymous reader, whose reads of them
    /// answer `UNAUTHENTICATED` without a statement). Only for a change [`visible_to`] `scope`.
    ///
    /// [`visible_to`]: Change::visible_to
    pub fn related(&self, scope: &Scope) -> Option<&Related> {
        let readable = read::may_read::<tenant::Entity>(scope).is_ok()
            && read::may_read::<user::Entity>(scope).is_ok()
            && read::may_read::<proxmox_endpoint::Entity>(scope).is_ok()
            && read::may_read::<cluster::Entity>(scope).is_ok();
        (readable && self.visible_to(scope)).then_some(&self.related)
    }

    /// The owner of the definition's `allowedTenants`, as the tenant-list loader keys it.
    pub fn tenants_owner(&self) -> Owner {
        Owner::Definition(Id::of(&self.definition))
    }
}

/// Up to `limit` events after `after` visible to `scope` and matching `filter`, in id order:
/// one statement.
pub async fn events_after(
    db: &DatabaseConnection,
    scope: &Scope,
    filter: &ChangeFilter,
    after: i64,
    limit: u64,
) -> Result<Vec<build_event::Model>, Error> {
    Ok(visible::<build_event::Entity>(scope)?
        .filter(build_event::Column::Id.gt(after))
        .filter(filter.condition())
        .order_by_asc(build_event::Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}

/// The id of the latest event, 0 when there is none: one statement.
pub async fn latest_event_id(db: &DatabaseConnection) -> Result<i64, DbErr> {
    let latest: Option<Option<i64>> = build_event::Entity::find()
        .select_only()
        .column_as(build_event::Column::Id.max(), "latest")
        .into_tuple()
        .one(db)
        .await?;
    Ok(latest.flatten().unwrap_or(0))
}

/// The [`Change`]s of `events` that `scope` may see, in their order, in at most six statements
/// whatever their number (builds, definitions, allowed tenants, users — actors and creators
/// together —, endpoints, clusters). Events whose build or definition no longer exists are
/// skipped. The hub reads them once for every subscriber, as the service, and checks each
/// subscriber's scope in memory ([`Change::visible_to`], [`Change::actor`],
/// [`Change::related`]).
pub async fn changes(
    db: &DatabaseConnection,
    scope: &Scope,
    events: Vec<build_event::Model>,
) -> Result<Vec<Change>, Error> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let build_ids: BTreeSet<i32> = events.iter().map(|e| e.build_id).collect();
    let builds: HashMap<i32, image_build::Model> = visible::<image_build::Entity>(scope)?
        .filter(image_build::Column::Id.is_in(build_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|b| (b.id, b))
        .collect();
    let definition_ids: BTreeSet<i32> = builds.values().map(|b| b.definition_id).collect();
    let definitions: HashMap<i32, image_definition::Model> = image_definition::Entity::find()
        .filter(image_definition::Column::Id.is_in(definition_ids.iter().copied()))
        .all(db)
        .await?
        .into_iter()
        .map(|d| (d.id, d))
        .collect();
    let owners: Vec<Owner> = definitions
        .values()
        .map(|d| Owner::Definition(Id::of(d)))
        .collect();
    let tenants = if owners.is_empty() {
        HashMap::new()
    } else {
        // The tenants decide visibility, so they are read whoever reads (an anonymous reader's
        // replay too, who may not read tenants themselves): `Change::related` hands them out
        // only to a scope that may read them, as it does the users, endpoints and clusters.
        relations::tenants_of(db, &Scope::service(), &owners).await?
    };
    let user_ids: BTreeSet<i32> = events
        .iter()
        .filter_map(|e| e.actor_id)
        .chain(builds.values().filter_map(|b| b.created_by_id))
        .collect();
    let users: HashMap<i32, user::Model> =
        rows_by_id::<user::Entity, _>(db, user::Column::Id, user_ids, |u: &user::Model| u.id)
            .await?;
    let endpoint_ids: BTreeSet<i32> = builds
        .values()
        .map(|b| b.proxmox_endpoint_id)
        .chain(definitions.values().map(|d| d.proxmox_endpoint_id))
        .collect();
    let endpoints = rows_by_id::<proxmox_endpoint::Entity, _>(
        db,
        proxmox_endpoint::Column::Id,
        endpoint_ids,
        |e: &proxmox_endpoint::Model| e.id,
    )
    .await?;
    let cluster_ids: BTreeSet<i32> = definitions
        .values()
        .filter_map(|d| d.target_cluster_id)
        .collect();
    let clusters = rows_by_id::<cluster::Entity, _>(
        db,
        cluster::Column::Id,
        cluster_ids,
        |c: &cluster::Model| c.id,
    )
    .await?;
    Ok(events
        .into_iter()
        .filter_map(|event| {
            let build = builds.get(&event.build_id)?.clone();
            let definition = definitions.get(&build.definition_id)?.clone();
            let allowed = tenants
                .get(&Owner::Definition(Id::of(&definition)))
                .cloned()
                .unwrap_or_default();
            let actor = event.actor_id.and_then(|id| users.get(&id).cloned());
            let related = Related {
                created_by: build.created_by_id.and_then(|id| users.get(&id).cloned()),
                endpoints: BTreeSet::from([
                    build.proxmox_endpoint_id,
                    definition.proxmox_endpoint_id,
                ])
                .into_iter()
                .filter_map(|id| endpoints.get(&id).cloned())
                .collect(),
                cluster: definition
                    .target_cluster_id
                    .and_then(|id| clusters.get(&id).cloned()),
                allowed_tenants: allowed,
            };
            Some(Change {
                event,
                build,
                definition,
                allowed_tenants: related.allowed_tenants.iter().map(|t| t.id).collect(),
                actor,
                related,
            })
        })
        .collect())
}

/// The rows of `E` with these ids by id, one statement (none for no id). Only for [`changes`],
/// which reads as the service.
async fn rows_by_id<E: EntityTrait, C: ColumnTrait>(
    db: &DatabaseConnection,
    column: C,
    ids: BTreeSet<i32>,
    id: fn(&E::Model) -> i32,
) -> Result<HashMap<i32, E::Model>, Error> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(E::find()
        .filter(column.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|row| (id(&row), row))
        .collect())
}
