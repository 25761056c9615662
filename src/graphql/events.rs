//! `BuildEvent`: the history of status changes, and the `buildEvents` query.

use async_graphql::{ComplexObject, Context, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::build_event;

use super::{
    builds::ImageBuild,
    connection::{Connection, Node},
    db,
    enums::BuildStatus,
    lookups::{ChoiceLookup, DateTimeLookup, IdLookup, filter_of},
    reader,
    reference::User,
    reference_reader,
};
use crate::{
    error::Error,
    filter_input,
    registry::{events::EventField, page::PageArgs, read},
};

/// One committed status change of a build; `id` is the event cursor of `afterEventId`.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct BuildEvent {
    /// Monotonically increasing event id.
    pub id: ID,
    /// Status before (null when the build was created).
    pub from_status: Option<BuildStatus>,
    /// Status after.
    pub to_status: BuildStatus,
    /// Free text, e.g. the error of a failure.
    pub message: String,
    /// When it was committed.
    pub at: DateTime<Utc>,
    /// Internal: the `build_id` key, for loaders; not exposed.
    #[graphql(skip)]
    pub build_id: i64,
    /// Internal: the `actor_id` key, for loaders; not exposed.
    #[graphql(skip)]
    pub actor_id: Option<i64>,
}

impl From<build_event::Model> for BuildEvent {
    fn from(m: build_event::Model) -> Self {
        BuildEvent {
            id: ID::from(m.id.to_string()),
            from_status: m.from_status.map(Into::into),
            to_status: m.to_status.into(),
            message: m.message,
            at: m.at,
            build_id: i64::from(m.build_id),
            actor_id: m.actor_id.map(i64::from),
        }
    }
}

impl Node for BuildEvent {
    const NAME: &'static str = "BuildEvent";
}

#[ComplexObject]
impl BuildEvent {
    /// The build that changed.
    async fn build(&self, ctx: &Context<'_>) -> Result<ImageBuild> {
        let build = reader(ctx)?.loaders.builds.load_one(self.build_id).await?;
        Ok(build.ok_or(Error::NotFound)?.into())
    }

    /// Who changed it (null for the service itself, e.g. the timeout reaper).
    async fn actor(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(id) = self.actor_id else {
            return Ok(None);
        };
        Ok(reference_reader(ctx)?
            .loaders
            .users
            .load_one(id)
            .await?
            .map(Into::into))
    }
}

filter_input! {
    /// Filters build events; every field set must match.
    pub struct BuildEventFilter => EventField {
        /// Event id.
        id: IdLookup => Id,
        /// Build id.
        build: IdLookup => Build,
        /// Definition id of the build.
        definition: IdLookup => Definition,
        /// Status before.
        from_status: ChoiceLookup<BuildStatus> => FromStatus,
        /// Status after.
        to_status: ChoiceLookup<BuildStatus> => ToStatus,
        /// Id of the user that caused it.
        actor: IdLookup => Actor,
        /// Commit time.
        at: DateTimeLookup => At,
    }
}

/// Queries of build events.
#[derive(Default)]
pub struct EventQuery;

#[Object]
impl EventQuery {
    /// Build events in the order they were committed.
    #[graphql(
        complexity = "crate::graphql::limits::connection_cost(__ctx, __variables_definition, __field, child_complexity)"
    )]
    async fn build_events(
        &self,
        ctx: &Context<'_>,
        filter: Option<BuildEventFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<BuildEvent>> {
        let request = reference_reader(ctx)?;
        let filter = filter_of(filter, BuildEventFilter::into_filter)?;
        let args = PageArgs::new(first.map(i64::from), after, None, None)?;
        let page =
            read::list::<build_event::Entity>(db(ctx), &request.scope, &filter, Vec::new(), &args)
                .await?;
        Ok(Connection::of(page, BuildEvent::from))
    }
}
