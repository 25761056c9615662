//! The GraphQL adapter: types, inputs, filters, connections, loaders and error codes.
//!
//! The schema knows nothing of HTTP: the `http` module mounts it and attaches a [`RequestCtx`]
//! (the principal, its scope and fresh loaders) to every request. Resolvers call one `registry`
//! function or one loader each, with the request's scope, and hold no rule: what a principal may
//! read is decided by the registry for every entity, so a resolver has no check to forget. Each
//! aggregate's filter input and order enum are expanded from the registry's declarations
//! ([`filters`]); ids are parsed and rendered in one place ([`ids`]): global ids, with which
//! [`node`] finds any object.

pub mod batch;
pub mod builds;
pub mod compat;
pub mod connection;
pub mod definitions;
pub mod enums;
pub mod error;
pub mod events;
pub mod filters;
pub mod ids;
pub mod limits;
pub mod loaders;
pub mod logs;
pub mod lookups;
pub mod netbox;
pub mod node;
pub mod patch;
pub mod projection;
pub mod reference;
pub mod scalars;
pub mod settings;
pub mod subscriptions;
pub mod users;

use async_graphql::{Context, MergedObject, Schema, ValidationMode};
use sea_orm::DatabaseConnection;

use crate::{
    auth::{Authenticator, Principal, Scope},
    clock::Clock,
    config::Limits,
    events::{Events, logs::LogTails},
    netbox::Syncer,
    registry,
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
    netbox::NetboxQuery,
    node::NodeQuery,
);

/// Every mutation of SPEC §3.2.
#[derive(MergedObject, Default)]
pub struct Mutation(
    definitions::DefinitionMutation,
    builds::BuildMutation,
    logs::LogMutation,
    settings::SettingsMutation,
    reference::ReferenceMutation,
    users::UserMutation,
    netbox::NetboxMutation,
);

/// Builds the schema over `db` for authenticated principals, with the complexity limit of
/// `limits` (the other limits are checked before execution, see [`limits`]) and `validation`
/// (`Fast` only for documents the `Strict` one has passed, see `compat::Schemas::pick`);
/// mutations tell `events` of every commit that wrote build events, and subscriptions are fed by
/// it (and build logs by `logs`); writes read the time from `clock` and refresh `auth` after
/// changing credentials.
///
/// For anonymous principals (`--anonymous-read`, [`Readers::Anonymous`]) the same, without
/// introspection and without "did you mean" suggestions in validation messages (SPEC §5). The
/// HTTP layer refuses introspection with `INTROSPECTION_DISABLED` before that schema could answer
/// it with null.
pub fn schema(
    db: DatabaseConnection,
    events: Events,
    clock: Clock,
    auth: Authenticator,
    logs: LogTails,
    netbox: Option<Syncer>,
    limits: &Limits,
    readers: Readers,
    validation: ValidationMode,
) -> AppSchema {
    let builder = builder()
        .data(logs)
        .data(db)
        .data(events)
        .data(clock)
        .data(auth)
        .data(netbox)
        .limit_complexity(limits.max_complexity)
        .validation_mode(validation);
    match readers {
        Readers::Authenticated => builder.finish(),
        Readers::Anonymous => builder
            .disable_introspection()
            .disable_suggestions()
            .finish(),
    }
}

/// Who reads through a schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readers {
    /// Authenticated principals.
    Authenticated,
    /// Anonymous principals (`--anonymous-read`).
    Anonymous,
}

/// The schema in SDL, as committed in `schema.graphql` (with the `@specifiedBy` URLs of the
/// scalars).
pub fn sdl() -> String {
    builder()
        .finish()
        .sdl_with_options(async_graphql::SDLExportOptions::new().include_specified_by())
}

fn builder() -> async_graphql::SchemaBuilder<Query, Mutation, Subscription> {
    // No extension: any extension sends every field of every request through async-graphql's
    // slow path (a registry lookup, `ResolveInfo` and boxed futures per field). What ours did is
    // done where it arises: `error::nullable` in the resolvers of nullable fields, request
    // errors' codes in `compat::render::sanitize`.
    Schema::build(Query::default(), Mutation::default(), Subscription)
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

/// The guard of `mutex`, poisoned or not: every critical section of this layer's shared state
/// (the loaders' batches, the parsed documents, the shared subscriptions) is a plain move that
/// a panic elsewhere cannot leave half done.
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
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

/// What a mutation hands to the registry: the database, the event wake-up, the clock, the
/// authenticator and the principal.
pub fn writer<'a>(ctx: &Context<'a>) -> registry::Ctx<'a> {
    registry::Ctx {
        db: db(ctx),
        events: ctx.data_unchecked::<Events>(),
        clock: ctx.data_unchecked::<Clock>(),
        auth: ctx.data_unchecked::<Authenticator>(),
        principal: &request(ctx).principal,
    }
}
