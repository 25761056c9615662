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
//!
//! The batched reads the hub fans out are in `changes.rs`.

mod changes;

pub use self::changes::{Change, ChangeFilter, Related, changes, events_after, latest_event_id};

use entity::{build_event, image_build, user};
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, QueryResult, Select,
    sea_query::Expr,
};

use super::{
    filter::Filter,
    page::{Page, PageArgs, Sort},
    read::{self, Audience, Readable},
    rows::Columns,
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

/// What a page of the event log reads along, in its own statement: which of the rows its events
/// point at, with which columns (see [`Columns`]: some columns make placeholders of the others).
#[derive(Clone, Copy, Debug, Default)]
pub struct LogAlong {
    /// Each event's build (visible with its events), with these columns.
    pub builds: Option<Columns>,
    /// Each event's actor (for a scope that may read users), with these columns.
    pub actors: Option<Columns>,
}

/// A page of the event log and the rows its events point at, read in one statement.
pub struct LogPage {
    /// The page.
    pub page: Page<build_event::Model>,
    /// The builds of its events, when asked for.
    pub builds: Vec<image_build::Model>,
    /// The actors of its events, when asked for and readable.
    pub actors: Vec<user::Model>,
}

/// [`log`], with the to-one relations `along` asks for (and `scope` may read) LEFT JOINed into
/// the page's statement.
pub async fn log_along(
    db: &DatabaseConnection,
    scope: &Scope,
    filter: &Filter<EventField>,
    args: &PageArgs,
    along: LogAlong,
) -> Result<LogPage, Error> {
    const BUILD: &str = "pgw_build";
    const ACTOR: &str = "pgw_actor";
    scope.require_authenticated()?;
    let builds = along.builds;
    let actors = along
        .actors
        .filter(|_| read::may_read::<user::Entity>(scope).is_ok());
    let backend = db.get_database_backend();
    let join = |select: Select<build_event::Entity>| {
        let select = read::join_one::<_, image_build::Entity>(
            select,
            build_event::Column::BuildId,
            image_build::Column::Id,
            (BUILD, builds),
            backend,
        );
        read::join_one::<_, user::Entity>(
            select,
            build_event::Column::ActorId,
            user::Column::Id,
            (ACTOR, actors),
            backend,
        )
    };
    // The joined columns follow the event's (from `at` on), in the order of `join`.
    let also = |row: &QueryResult, build_at: usize| {
        let actor_at = build_at + read::width::<image_build::Model>(builds);
        Ok((
            read::joined_row::<image_build::Entity>(row, build_at, (BUILD, builds))?,
            read::joined_row::<user::Entity>(row, actor_at, (ACTOR, actors))?,
        ))
    };
    let (page, rows) = read::list_also::<build_event::Entity, _>(
        db,
        scope,
        filter,
        Vec::new(),
        args,
        Columns::ALL,
        join,
        also,
    )
    .await?;
    let mut result = LogPage {
        page,
        builds: Vec::new(),
        actors: Vec::new(),
    };
    for (build, actor) in rows {
        result.builds.extend(build);
        result.actors.extend(actor);
    }
    Ok(result)
}
