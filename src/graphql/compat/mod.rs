//! The GraphQL door: every piece of transport we run around async-graphql 7.0.19 (pinned), in one
//! place. The schema (`graphql`) knows nothing of it; the edge (`http`) brings what every door
//! shares (request ids, the body limit and media type, credentials, the timeout, panics, the
//! status of a failure).
//!
//! Each workaround names what async-graphql does wrong or not at all, with its upstream issue
//! where one exists, and has tests that assert the bug against a plain `Schema` (they fail once
//! async-graphql is fixed — time to drop ours) and the right behaviour from ours:
//!
//! | module | instead of | why |
//! |---|---|---|
//! | [`handler`], [`media`] | `async-graphql-axum` | GET runs mutations; `text/plain` bodies, no body limit, batching always on, no `Accept` negotiation |
//! | [`params`] | `http::parse_query_string`, `Request`'s `Deserialize` | `operationName` dropped over GET; a missing `query` is the empty document |
//! | [`persisted`] | `extensions::apollo_persisted_queries` | runs after parameter parsing and limits (a hash-only request is refused before it), cache bounded by count only |
//! | [`ws`] | `http::WebSocket` | close codes (1011/1002 for 4401/4400/4403), no 4408/4409, no pings or `ka`, no `error` message, no operation limit |
//! | [`limits`] | `limit_depth`, `limit_recursive_depth`, `limit_directives`, the parser | stack overflow on deep nesting; fragments re-walked at every spread (exponential); introspection refused by depth (#1696); directives counted on fields only |
//! | [`variables`] | (validation's check of argument values) | a missing non-null variable or an ill-formed `DateTime` is a field error after other resolvers ran |
//! | [`nullable`] | (nothing; the resolvers of nullable fields answer through it) | a nullable field's own error nulls its parent (#1272, #1549) |
//!
//! What 7.0.19 does well enough is used as is: parsing (behind our nesting scan), validation,
//! `limit_complexity` (with `graphql::limits::connection_cost`), `disable_introspection` and
//! `disable_suggestions` for anonymous readers, `execute` and `execute_stream`, and
//! `ServerError`'s serialization.

pub mod handler;
pub mod limits;
pub mod media;
pub mod nullable;
pub mod params;
pub mod persisted;
pub mod prepare;
pub mod render;
pub mod variables;
pub mod ws;

use std::sync::{Arc, OnceLock};

use async_graphql::ValidationMode;
use axum::{Router, extract::FromRef, routing::get};

use super::{AppSchema, Readers, schema};
use crate::{app::App, events::logs::LogTails};
use persisted::PersistedQueries;
pub use render::render;
use variables::InputTypes;
use ws::fanout::Fanout;

/// The state of the GraphQL door: its [`Parts`] behind one reference count, like [`App`]'s (axum
/// clones a route's state for every request; cloning five handles apart was ~1% of the server's
/// CPU under issue 14's overload, perf).
#[derive(Clone)]
pub struct Door(Arc<Parts>);

impl std::ops::Deref for Door {
    type Target = Parts;

    fn deref(&self) -> &Parts {
        &self.0
    }
}

/// The app, and what GraphQL adds to it.
pub struct Parts {
    /// The application.
    pub app: App,
    /// The schemas and what was learnt from them.
    pub schemas: Arc<Schemas>,
    /// The documents of automatic persisted queries.
    pub persisted: Arc<PersistedQueries>,
    /// The subscriptions shared by the websockets' subscribers.
    pub fanout: Arc<Fanout>,
    /// Documents already parsed and checked against the limits, by text.
    pub documents: Arc<limits::Documents>,
}

/// The schemas of the door: for authenticated principals and for anonymous ones, each in two
/// validation modes.
///
/// async-graphql's `Strict` validation runs every rule of the specification on every request;
/// `Fast` only those execution depends on (fragment cycles, complexity, depth). A document the
/// strict schema has passed once (`limits::Documents` remembers it) runs on the fast one: the
/// other rules read only the document and the schema, and the values of variables, which one of
/// them also reads, are checked before execution ([`variables`]). The schemas other than the
/// first are built on first use, so that a service holds only those its traffic needs (issue 9:
/// idle memory; one more schema is ~0.9 MB of heap).
pub struct Schemas {
    /// For authenticated principals, validating in full.
    pub schema: AppSchema,
    /// The others: for authenticated principals validating fast, then for anonymous principals
    /// (no introspection, no suggestions) validating in full and fast.
    others: [OnceLock<AppSchema>; 3],
    /// What the schemas are built over, apart from the app.
    tails: LogTails,
    /// The input types, to coerce variables before execution.
    pub input_types: InputTypes,
}

impl Schemas {
    /// The schema for a principal that is `authenticated` or not, for a document the full
    /// validation has `validated` before or not, over `app`.
    pub fn pick(&self, app: &App, authenticated: bool, validated: bool) -> AppSchema {
        let (which, readers, mode) = match (authenticated, validated) {
            (true, false) => return self.schema.clone(),
            (true, true) => (0, Readers::Authenticated, ValidationMode::Fast),
            (false, false) => (1, Readers::Anonymous, ValidationMode::Strict),
            (false, true) => (2, Readers::Anonymous, ValidationMode::Fast),
        };
        self.others[which]
            .get_or_init(|| {
                schema(
                    app.db.clone(),
                    app.events.clone(),
                    app.clock.clone(),
                    app.auth.clone(),
                    self.tails.clone(),
                    app.netbox.clone(),
                    &app.config.limits,
                    readers,
                    mode,
                )
            })
            .clone()
    }
}

impl Door {
    /// Builds the schemas over `app`.
    pub fn new(app: App) -> Door {
        let limits = &app.config.limits;
        let tails = LogTails::new(
            app.db.clone(),
            app.logs.clone(),
            app.events.clone(),
            app.config.logs.log_poll_interval,
        );
        let schema = schema(
            app.db.clone(),
            app.events.clone(),
            app.clock.clone(),
            app.auth.clone(),
            tails.clone(),
            app.netbox.clone(),
            limits,
            Readers::Authenticated,
            ValidationMode::Strict,
        );
        let input_types = InputTypes::from_sdl(&schema.sdl());
        let clients = &app.config.clients;
        let persisted = PersistedQueries::new(clients.apq_max_entries, clients.apq_max_bytes);
        let fanout = Fanout::new(
            app.events.clone(),
            app.config.subscriptions.event_buffer as usize,
        );
        Door(Arc::new(Parts {
            persisted: Arc::new(persisted),
            fanout: Arc::new(fanout),
            documents: Arc::default(),
            app,
            schemas: Arc::new(Schemas {
                schema,
                others: Default::default(),
                tails,
                input_types,
            }),
        }))
    }
}

impl FromRef<Door> for App {
    fn from_ref(door: &Door) -> App {
        door.app.clone()
    }
}

/// `/graphql`: GraphQL over HTTP and WebSocket, and GraphiQL for browsers. Mount it as a door of
/// the edge with [`render()`].
pub fn routes(app: App) -> Router {
    Router::new()
        .route(
            "/graphql",
            get(handler::get)
                .post(handler::post)
                .fallback(handler::method_not_allowed),
        )
        .with_state(Door::new(app))
}
