//! The HTTP surface (SPEC §5): axum routes, the GraphQL-over-HTTP handler, GraphiQL, health and
//! metrics. Only this module knows HTTP.

pub mod graphiql;
pub mod graphql;
pub mod health;

use axum::{Router, routing::get};
use tower_http::trace::TraceLayer;

use crate::app::App;

/// The routes of the service.
pub fn router(app: App) -> Router {
    Router::new()
        .route("/graphql", get(graphql::get).post(graphql::post))
        .route("/graphiql", get(graphiql::page))
        .route("/graphiql/assets/{file}", get(graphiql::asset))
        .route("/healthz", get(health::live))
        .route("/readyz", get(health::ready))
        .route("/metrics", get(health::metrics))
        .layer(TraceLayer::new_for_http())
        .with_state(app)
}
