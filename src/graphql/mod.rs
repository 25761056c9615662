//! The GraphQL adapter: types, inputs, filters, connections, loaders and error codes.
//!
//! The schema knows nothing of HTTP: the `http` module mounts it and attaches a [`RequestCtx`]
//! (the principal and fresh loaders) to every request. Resolvers call one `registry` function or
//! one loader each and hold no rule.

pub mod builds;
pub mod compat;
pub mod connection;
pub mod definitions;
pub mod enums;
pub mod error;
pub mod events;
pub mod limits;
pub mod loaders;
pub mod lookups;
pub mod patch;
pub mod reference;
pub mod settings;
pub mod subscriptions;
pub mod users;

use async_graphql::{Context, MergedObject, Schema};
use sea_orm::DatabaseConnection;

use crate::{
    auth::{Action, Principal},
    config::Limits,
    error::Error,
    events::Events,
    registry::{self, visibility::Scope},
};
use loaders::Loaders;
use subscriptions::Subscription;

/// The schema of the service.
pub type AppSchema = Schema<Query, Mutation, Subscription>;

/// Every query of SPEC §3.1.
#[derive(MergedObject, Default)]
pub struct Query(
    definitions::DefinitionQuery,
    builds::BuildQuery,
    events::EventQuery,
    settings::SettingsQuery,
    reference::ReferenceQuery,
);

/// Every mutation of SPEC §3.2.
#[derive(MergedObject, Default)]
pub struct Mutation(
    definitions::DefinitionMutation,
    builds::BuildMutation,
    settings::SettingsMutation,
    reference::ReferenceMutation,
    users::UserMutation,
);

/// Builds the schema over `db` for authenticated principals, with the complexity limit of
/// `limits` (the other limits are checked before execution, see [`limits`]); mutations tell
/// `events` of every commit that wrote build events, and subscriptions are fed by it.
pub fn schema(db: DatabaseConnection, events: Events, limits: &Limits) -> AppSchema {
    builder()
        .data(db)
        .data(events)
        .limit_complexity(limits.max_complexity)
        .finish()
}

/// The schema for anonymous principals (`--anonymous-read`): the same, without introspection and
/// without "did you mean" suggestions in validation messages (SPEC §5). The HTTP layer refuses
/// introspection with `INTROSPECTION_DISABLED` before this schema could answer it with null.
pub fn anonymous_schema(db: DatabaseConnection, events: Events, limits: &Limits) -> AppSchema {
    builder()
        .data(db)
        .data(events)
        .limit_complexity(limits.max_complexity)
        .disable_introspection()
        .disable_suggestions()
        .finish()
}

/// The schema in SDL, as committed in `schema.graphql`.
pub fn sdl() -> String {
    builder().finish().sdl()
}

fn builder() -> async_graphql::SchemaBuilder<Query, Mutation, Subscription> {
    Schema::build(Query::default(), Mutation::default(), Subscription)
        .extension(error::RequestErrorCodes)
        .extension(error::NullableFieldErrors)
}

/// What the HTTP layer attaches to each request.
pub struct RequestCtx {
    /// Who is calling.
    pub principal: Principal,
    /// What the principal may read.
    pub scope: Scope,
    /// Per-request loaders, holding that scope.
    pub loaders: Loaders,
}

impl RequestCtx {
    /// The context of one request of `principal`.
    pub fn new(db: &DatabaseConnection, principal: Principal) -> Self {
        let scope = principal.scope();
        let loaders = Loaders::new(db, &scope);
        RequestCtx {
            principal,
            scope,
            loaders,
        }
    }
}

/// The request context of a resolver.
pub fn request<'a>(ctx: &Context<'a>) -> &'a RequestCtx {
    ctx.data_unchecked::<RequestCtx>()
}

/// The event hub of a resolver.
pub fn events<'a>(ctx: &Context<'a>) -> &'a Events {
    ctx.data_unchecked::<Events>()
}

/// The database of a resolver.
pub fn db<'a>(ctx: &Context<'a>) -> &'a DatabaseConnection {
    ctx.data_unchecked::<DatabaseConnection>()
}

/// The request context, once the principal may read definitions and builds.
pub fn reader<'a>(ctx: &Context<'a>) -> Result<&'a RequestCtx, Error> {
    let request = request(ctx);
    request.principal.authorize(Action::Read)?;
    Ok(request)
}

/// The request context, once the principal may read everything else: reference data, settings,
/// users, the event log (anonymous readers may not).
pub fn reference_reader<'a>(ctx: &Context<'a>) -> Result<&'a RequestCtx, Error> {
    let request = request(ctx);
    request.principal.authorize(Action::ReadReference)?;
    Ok(request)
}

/// What a mutation hands to the registry: the database, the event wake-up and the principal.
pub fn writer<'a>(ctx: &Context<'a>) -> registry::Ctx<'a> {
    registry::Ctx {
        db: db(ctx),
        events: ctx.data_unchecked::<Events>(),
        principal: &request(ctx).principal,
    }
}
