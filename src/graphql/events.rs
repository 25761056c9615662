//! `BuildEvent`: the history of status changes, and the `buildEvents` query.

use async_graphql::{ComplexObject, Context, Object, Result, SimpleObject};
use entity::{build_event, image_build, user};

use super::{
    builds::{self, ImageBuild},
    connection::{Connection, Node},
    db,
    enums::BuildStatus,
    error::related,
    ids,
    lookups::filter_of,
    projection::{self, Kept},
    reference::User,
    request,
    scalars::DateTime,
};
use crate::{
    error::Error,
    event_filter, graphql_filter,
    registry::{
        events::{self, EventField, LogAlong},
        id::Id,
        page::PageArgs,
    },
};

/// One committed status change of a build; its `id` is the event cursor of `afterEventId`.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct BuildEvent {
    /// The global id (opaque, unique across types): pass it as `afterEventId` to resume after
    /// this event. Events are ordered by it in the order they were committed.
    pub id: ids::GlobalId<build_event::Entity>,
    /// Status before (null when the build was created).
    pub from_status: Option<BuildStatus>,
    /// Status after.
    pub to_status: BuildStatus,
    /// Free text, e.g. the error of a failure.
    pub message: String,
    /// When it was committed.
    pub at: DateTime,
    /// Internal: the `build_id` key, for loaders; not exposed.
    #[graphql(skip)]
    pub build_id: Id<image_build::Entity>,
    /// Internal: the `actor_id` key, for loaders; not exposed.
    #[graphql(skip)]
    pub actor_id: Option<Id<user::Entity>>,
    /// Internal: its build as its page read it along, when with only some columns.
    #[graphql(skip)]
    pub build_along: Kept<image_build::Model>,
}

impl From<build_event::Model> for BuildEvent {
    fn from(m: build_event::Model) -> Self {
        BuildEvent {
            id: Id::of(&m).into(),
            from_status: m.from_status.map(Into::into),
            to_status: m.to_status.into(),
            message: m.message,
            at: m.at.into(),
            build_id: Id::of_row(m.build_id),
            actor_id: m.actor_id.map(Id::of_row),
            build_along: None,
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
        let build = match &self.build_along {
            Some(read) => read.as_deref().cloned(),
            None => {
                let loaders = &request(ctx).loaders;
                loaders.builds().load_one(self.build_id).await?
            }
        };
        Ok(build.ok_or(Error::NotFound)?.into())
    }

    /// Who changed it (null for the service itself, e.g. the timeout reaper).
    async fn actor(&self, ctx: &Context<'_>) -> Option<User> {
        related(
            ctx,
            request(ctx).loaders.users().load_optional(self.actor_id),
        )
        .await
    }
}

event_filter!(
    graphql_filter,
    /// Filters build events; every field set must match.
    BuildEventFilter
);

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
        let filter = filter_of(filter, BuildEventFilter::into_filter)?;
        let args = PageArgs::new(first.map(i64::from), after, None, None)?;
        // The to-one relations the nodes ask for come in the page's own statement: the builds
        // with the columns their fields read (see `projection`), the actors whole (narrow, and
        // often asked for again as the builds' creators), for the users' loader.
        let nodes = projection::nodes(ctx);
        let along = LogAlong {
            builds: projection::columns_below(builds::READS, &projection::field(&nodes, "build")),
            actors: projection::whole(&nodes, "actor"),
        };
        let request = request(ctx);
        let result = events::log_along(db(ctx), &request.scope, &filter, &args, along).await?;
        let loaders = &request.loaders;
        let builds = projection::kept(along.builds, Some(result.builds), Id::of, |b| {
            loaders
                .builds()
                .feed_many(b.into_iter().map(|b| (Id::of(&b), b)))
        });
        loaders
            .users()
            .feed_many(result.actors.into_iter().map(|u| (Id::of(&u), u)));
        Ok(Connection::of(result.page, |row| {
            let mut event = BuildEvent::from(row);
            event.build_along = projection::along(builds.as_ref(), Some(event.build_id));
            event
        }))
    }
}
