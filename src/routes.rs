//! The routes of the service: each door mounted once on the edge (`http`), with its renderer.
//!
//! - the GraphQL door: `/graphql` (HTTP and WebSocket), plus the service's own pages (GraphiQL,
//!   health, readiness, metrics), whose failures take GraphQL's shape;
//! - the REST door: everything under `/api/plugins/packer/`.
//!
//! This is the only module that knows both doors; `http` knows neither.

use std::time::Duration;

use axum::{Router, routing::get};
use tokio::net::TcpListener;

use crate::{
    app::App,
    graphql,
    http::{self, dashboard, graphiql, health},
    rest,
};

/// The routes of the service, inside the edge.
pub fn router(app: App) -> Router {
    let timeout = Duration::from_secs(app.config.limits.request_timeout);
    let mut pages = Router::new()
        .route("/graphiql", get(graphiql::page))
        .route("/graphiql/assets/{file}", get(graphiql::asset))
        .route("/healthz", get(health::live))
        .route("/readyz", get(health::ready));
    if !app.config.no_metrics {
        pages = pages.route("/metrics", get(health::metrics));
    }
    let pages = pages.merge(dashboard::routes()).with_state(app.clone());
    let graphql = http::door(
        http::admission::admitted(graphql::compat::routes(app.clone()), &app, "graphql")
            .merge(pages),
        graphql::compat::render,
        timeout,
    );
    let clients = app.config.clients.clone();
    let rest = http::door(
        http::admission::admitted(rest::routes(app.clone()), &app, "rest"),
        rest::error::render,
        timeout,
    );
    http::edge(graphql.merge(rest), &clients)
}

/// Serves the service on `listener` until `signal` completes, then shuts down gracefully (see
/// [`http::serve`]).
pub async fn serve(
    listener: TcpListener,
    app: App,
    signal: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let shutdown = app.shutdown.clone();
    let grace = app.config.subscriptions.shutdown_grace;
    let config = app.config.clone();
    http::serve(
        listener,
        router(app),
        shutdown,
        grace,
        &config.overload,
        signal,
    )
    .await
}
