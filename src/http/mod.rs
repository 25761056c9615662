//! The HTTP surface (SPEC §5): axum routes, the GraphQL-over-HTTP handler, subscriptions over
//! WebSocket, GraphiQL, health and metrics; it mounts the REST adapter (`rest`, SPEC §6). Only this
//! module and `rest` know HTTP.

pub mod dashboard;
pub mod graphiql;
pub mod graphql;
pub mod health;
pub mod prepare;
pub mod ws;

use std::{any::Any, collections::HashMap};

use axum::extract::{Query, State, WebSocketUpgrade, ws::rejection::WebSocketUpgradeRejection};
use axum::http::HeaderMap;
use tokio::net::TcpListener;

use axum::{
    Router,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use tower_http::{catch_panic::CatchPanicLayer, trace::TraceLayer};

use crate::{app::App, graphql::error::codes, rest};

/// The routes of the service, with [`middleware`].
pub fn router(app: App) -> Router {
    let routes = Router::new()
        .route(
            "/graphql",
            get(graphql_get)
                .post(graphql::post)
                .fallback(graphql_method_not_allowed),
        )
        .route("/graphiql", get(graphiql::page))
        .route("/graphiql/assets/{file}", get(graphiql::asset))
        .route("/healthz", get(health::live))
        .route("/readyz", get(health::ready))
        .route("/metrics", get(health::metrics))
        .merge(rest::routes(&app))
        .merge(dashboard::routes())
        .with_state(app);
    middleware(routes)
}

/// The layers around every route: request tracing, and a panic turned into a 500 GraphQL error
/// (`INTERNAL_SERVER_ERROR` with a `requestId`, the panic logged once with that id) instead of a
/// dropped connection. Public so that tests can wrap a route that panics in the same layers.
pub fn middleware(routes: Router) -> Router {
    routes
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(TraceLayer::new_for_http())
}

fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let request_id = graphql::request_id();
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("a panic without a message");
    tracing::error!(request_id, detail, "panic while serving a request");
    let body = serde_json::json!({"errors": [{
        "message": "internal server error",
        "extensions": {"code": codes::INTERNAL, "requestId": request_id},
    }]});
    let mut response = (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body.to_string(),
    )
        .into_response();
    if let Ok(id) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", id);
    }
    response
}

/// Any method but GET and POST on `/graphql`: 405 with `Allow`, as a GraphQL error.
async fn graphql_method_not_allowed() -> Response {
    let mut response = graphql::failure(
        graphql::MediaType::Json,
        StatusCode::METHOD_NOT_ALLOWED,
        codes::BAD_REQUEST,
        "/graphql accepts GET (queries) and POST",
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, POST"));
    response
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
