//! The HTTP surface (SPEC §5): axum routes, the GraphQL-over-HTTP handler, subscriptions over
//! WebSocket, GraphiQL, health and metrics. Only this module knows HTTP.

pub mod graphiql;
pub mod graphql;
pub mod health;
pub mod ws;

use std::collections::HashMap;

use axum::{
    Router,
    extract::{Query, State, WebSocketUpgrade, ws::rejection::WebSocketUpgradeRejection},
    http::HeaderMap,
    response::Response,
    routing::get,
};
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

use crate::app::App;

/// The routes of the service.
pub fn router(app: App) -> Router {
    Router::new()
        .route("/graphql", get(graphql_get).post(graphql::post))
        .route("/graphiql", get(graphiql::page))
        .route("/graphiql/assets/{file}", get(graphiql::asset))
        .route("/healthz", get(health::live))
        .route("/readyz", get(health::ready))
        .route("/metrics", get(health::metrics))
        .layer(TraceLayer::new_for_http())
        .with_state(app)
}

/// `GET /graphql`: a WebSocket upgrade (subscriptions), else GraphiQL or a query.
async fn graphql_get(
    State(app): State<App>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    headers: HeaderMap,
    query: Query<HashMap<String, String>>,
) -> Response {
    match upgrade {
        Ok(upgrade) => ws::upgrade(app, upgrade, &headers),
        Err(_) => graphql::get(State(app), headers, query).await,
    }
}

/// Serves `app` on `listener` until `signal` completes; then stops accepting, closes every
/// websocket with 1001 and waits for them (at most `--shutdown-grace`) — axum's graceful
/// shutdown alone does not wait for upgraded connections.
pub async fn serve(
    listener: TcpListener,
    app: App,
    signal: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let shutdown = app.shutdown.clone();
    let grace = app.config.subscriptions.shutdown_grace;
    let begin = shutdown.clone();
    axum::serve(listener, router(app))
        .with_graceful_shutdown(async move {
            signal.await;
            begin.begin();
        })
        .await?;
    if !shutdown.wait(grace).await {
        tracing::warn!("some websockets did not close within the shutdown grace period");
    }
    Ok(())
}
