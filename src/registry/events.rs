//! Build events: the history of every transition (SPEC §1.5), read in event-id order; the
//! contract every writer of events keeps; and the batched reads that feed subscriptions (the hub,
//! `crate::events`, depends on this module, never the reverse).
//!
//! The writers' contract (the lifecycle is the only writer of events):
//! - every transaction that inserts `build_event` rows calls [`prepare_event_write`] first, inside
//!   the transaction: on PostgreSQL it takes a transaction-scoped advisory lock, so that event ids
//!   are assigned in commit order (a reader that saw id N can never later see a smaller id
//!   commit), and notifies [`CHANNEL`], which PostgreSQL delivers at commit only;
//! - after the transaction commits, the writer tells [`Wake::committed`] (the [`Ctx`]'s
//!   `events`), which wakes this instance's hub (other instances hear the notification).
//!
//! [`Ctx`]: super::Ctx

use std::collections::{BTreeSet, HashMap};

use entity::{
    build_event, enums::BuildStatus, image_build, image_definition, image_definition_tenant, user,
};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, Query},
};

use super::{
    filter::Filter,
    page::{Page, PageArgs, Sort},
    read::{self, Audience, Readable, visible},
    visibility,
};
use crate::{auth::Scope, error::Error, filter_fields, sort_fields};

/// The PostgreSQL channel that announces new events. The payload is the writer's
/// `current_schema()`, so that deployments sharing a database in different schemas do not wake
/// each other.
pub const CHANNEL: &str = "packer_gateway_build_events";

/// An arbitrary constant: the key of the advisory lock that orders event writes.
const EVENT_LOCK: i64 = 0x7061_636b_6572; // "packer"

/// Told after every commit that wrote `build_event` rows (the event hub implements it).
pub trait Wake: Send + Sync {
    /// A transaction that wrote events has committed.
    fn committed(&self);
}

/// Call inside a transaction before inserting `build_event` rows (see the module docs).
pub async fn prepare_event_write(txn: &impl ConnectionTrait) -> Result<(), DbErr> {
    if txn.get_database_backend() == DatabaseBackend::Postgres {
        txn.execute_unprepared(&format!(
            "SELECT 1 FROM pg_advisory_xact_lock({EVENT_LOCK})"
        ))
        .await?;
        txn.execute_unprepared(&format!(
            "SELECT pg_notify('{CHANNEL}', coalesce(current_schema(), ''))"
        ))
        .await?;
    }
    Ok(())
}

/// The filterable fields of a build event, declared once: see `registry::filter`.
#[macro_export]
macro_rules! event_filter {
    ($callback:ident $(, $($extra:tt)*)?) => {
        $callback! {
            ($($($extra)*)?)
            EventField for build_event search [Message] {
                /// Event id.
                Id id: Id(build_event) = column(Id, not_null),
                /// Build id.
                Build build: Id(image_build) = column(BuildId, not_null),
                /// Definition id of the build.
                Definition definition: Id(image_definition) = through(BuildId, image_build, Id, DefinitionId),
                /// Status before.
                FromStatus from_status: Choice(BuildStatus) = column(FromStatus, nullable),
                /// Status after.
                ToStatus to_status: Choice(BuildStatus) = column(ToStatus, not_null),
                /// Id of the user that caused it.
                Actor actor: Id(user) = column(ActorId, nullable),
                /// Commit time.
                At at: Time = column(At, not_null),
            }
        }
    };
}

event_filter!(
    filter_fields,
    /// The filterable fields of a build event; `q` searches the message.
);
sort_fields! {
    (
        /// Events are read in the order they were committed.
    )
    EventSort for build_event {
        /// `id`
        Id = (Id, "id", not_null),
    }
}

impl Readable for build_event::Entity {
    type Field = EventField;
    type Sort = EventSort;
    const AUDIENCE: Audience = Audience::Everyone;

    fn rows(scope: &Scope) -> Option<Expr> {
        visibility::events(scope)
    }

    fn default_sort() -> Vec<Sort<EventSort>> {
        vec![Sort {
            field: EventSort::Id,
            desc: false,
        }]
    }
}

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
/// definition's allowed tenants (for visibility), and the actor.
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
}

/// The event log (`buildEvents`): the events `scope` may see, in the order they were committed.
/// Anonymous readers, who may read the events of a visible build, may not read the log
/// (`UNAUTHENTICATED`).
pub async fn log(
    db: &DatabaseConnection,
    scope: &Scope,
    filter: &Filter<EventField>,
    args: &PageArgs,
) -> Result<Page<build_event::Model>, Error> {
    scope.require_authenticated()?;
    read::list::<build_event::Entity>(db, scope, filter, Vec::new(), args).await
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

/// The [`Change`]s of `events` that `scope` may see, in their order, in at most four statements
/// whatever their number (builds, definitions, allowed tenants, actors). Events whose build or
/// definition no longer exists are skipped. The hub reads them once for every subscriber, as the
/// service, and checks each subscriber's scope in memory ([`Change::visible_to`],
/// [`Change::actor`]).
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
    let mut allowed: HashMap<i32, Vec<i32>> = HashMap::new();
    for link in image_definition_tenant::Entity::find()
        .filter(image_definition_tenant::Column::DefinitionId.is_in(definition_ids))
        .all(db)
        .await?
    {
        allowed
            .entry(link.definition_id)
            .or_default()
            .push(link.tenant_id);
    }
    let actor_ids: BTreeSet<i32> = events.iter().filter_map(|e| e.actor_id).collect();
    let actors: HashMap<i32, user::Model> = if actor_ids.is_empty() {
        HashMap::new()
    } else {
        user::Entity::find()
            .filter(user::Column::Id.is_in(actor_ids))
            .all(db)
            .await?
            .into_iter()
            .map(|u| (u.id, u))
            .collect()
    };
    Ok(events
        .into_iter()
        .filter_map(|event| {
            let build = builds.get(&event.build_id)?.clone();
            let definition = definitions.get(&build.definition_id)?.clone();
            let allowed_tenants = allowed.get(&definition.id).cloned().unwrap_or_default();
            let actor = event.actor_id.and_then(|id| actors.get(&id).cloned());
            Some(Change {
                event,
                build,
                definition,
                allowed_tenants,
                actor,
            })
        })
        .collect())
}
