//! The edge: what is HTTP, written once and serving every door (GraphQL over HTTP and WebSocket,
//! REST, the service's own pages).
//!
//! - [`edge`] wraps the whole router: request ids (tower-http's `SetRequestIdLayer` /
//!   `PropagateRequestIdLayer`, see [`request_id`]), request tracing, whose span carries the id,
//!   and CORS when `--cors-origin` is set ([`cors`]: preflights are answered there, for every
//!   door);
//! - [`door`] wraps the routes of one door: the request timeout (503 `REQUEST_TIMEOUT`), a panic
//!   turned into a 500 `INTERNAL_SERVER_ERROR`, and the rendering of every [`Failure`] through the
//!   door's own [`Render`] function (see [`failure`]);
//! - [`auth`] reads the `Authorization` header once and is the [`crate::auth::Principal`]
//!   extractor; [`body`] checks the JSON media type and the body limit; [`failure::status`] maps
//!   a core error to its status.
//!
//! `http` imports neither `graphql` nor `rest`: the doors build on it, and `routes` assembles
//! them. A concern of every request (load shedding, rate limits, CORS, metrics per route) is one
//! more layer in [`edge`] or [`door`].

pub mod admission;
pub mod auth;
pub mod body;
pub mod cors;
pub mod dashboard;
pub mod failure;
pub mod forwarded;
pub mod graphiql;
pub mod health;
pub mod request_id;
pub mod serve;

use std::{any::Any, time::Duration};

use axum::{
    Router,
    extract::{MatchedPath, Request, State},
    http::Method,
    middleware::{Next, from_fn_with_state, map_request},
    response::{IntoResponse, Response},
};
use tower_http::{
    catch_panic::CatchPanicLayer,
    request_id::{PropagateRequestIdLayer, SetRequestIdLayer},
    trace::TraceLayer,
};

use crate::{
    config::Clients,
    error::Error,
    telemetry::{self, names},
};
pub use auth::Credentials;
pub use failure::{Failure, Render, Rendering, codes};
pub use request_id::RequestId;
pub use serve::serve;

/// Wraps the routes of one door: the timeout, panics, and failures rendered by `render`.
pub fn door(routes: Router, render: Render, request_timeout: Duration) -> Router {
    routes
        .layer(from_fn_with_state(request_timeout, timeout))
        .layer(CatchPanicLayer::custom(panic))
        .layer(from_fn_with_state(render, failure::render_failures))
}

/// Wraps every door: request ids, tracing and CORS (see the module docs).
pub fn edge(router: Router, clients: &Clients) -> Router {
    let trace = TraceLayer::new_for_http()
        .make_span_with(|request: &Request<_>| {
            let span = tracing::info_span!(
                "request",
                method = %request.method(),
                path = request.uri().path(),
                request_id = RequestId::of(request.extensions()).0,
                client = tracing::field::Empty,
            );
            if let Some(client) = admission::client_address(request) {
                span.record("client", tracing::field::display(client));
            }
            span
        })
        // A failure is logged once, by the door that renders it.
        .on_failure(());
    // Inside the request ids and the trace, so that a preflight answered here has both.
    // Innermost: a route's template is known only once the router matched it.
    let router = router.layer(axum::middleware::from_fn(record));
    let router = match cors::layer(clients) {
        Some(cors) => router.layer(cors),
        None => router,
    };
    router
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(trace)
        .layer(SetRequestIdLayer::x_request_id(request_id::Generate))
        .layer(map_request(request_id::drop_unusable))
}

/// Counts a request and its latency by route template (never the raw path: its values are
/// bounded), method and status.
async fn record(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let method = match *request.method() {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    };
    let start = std::time::Instant::now();
    let (response, statements) = telemetry::per_request(next.run(request)).await;
    let status = response.status().as_u16().to_string();
    #[expect(clippy::cast_precision_loss, reason = "a count of statements")]
    metrics::histogram!(names::SQL_PER_REQUEST, "route" => route.clone()).record(statements as f64);
    metrics::histogram!(names::HTTP_DURATION, "route" => route.clone(), "method" => method)
        .record(start.elapsed().as_secs_f64());
    metrics::counter!(names::HTTP_REQUESTS, "route" => route, "method" => method, "status" => status)
        .increment(1);
    response
}

/// Abandons a request still running after the timeout: its future is dropped, and with it any
/// sea-orm transaction it holds, which rolls back. The client gets 503 `REQUEST_TIMEOUT`.
async fn timeout(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => Failure::Timeout(limit).into_response(),
    }
}

/// A panic in a handler: an internal error, its message the detail for the log.
fn panic(panic: Box<dyn Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("a panic without a message");
    Failure::Core(Error::internal(format!(
        "panic while serving a request: {detail}"
    )))
    .into_response()
}
