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
    http::{Method, header},
    middleware::{Next, from_fn_with_state},
    response::{IntoResponse, Response},
};
use futures_util::FutureExt;
use tower::ServiceBuilder;
use tower_http::{
    request_id::{PropagateRequestIdLayer, SetRequestIdLayer},
    trace::TraceLayer,
};

use crate::{config::Clients, error::Error, telemetry};
pub use auth::Credentials;
pub use failure::{Failure, Render, Rendering, codes};
pub use request_id::RequestId;
pub use serve::serve;

/// Wraps the routes of one door: the timeout, panics, and failures rendered by `render` — one
/// layer (see [`guard`]).
pub fn door(routes: Router, render: Render, request_timeout: Duration) -> Router {
    routes.layer(from_fn_with_state(
        Guard {
            render,
            request_timeout,
        },
        guard,
    ))
}

/// Wraps every door: request ids, tracing and CORS (see the module docs).
///
/// A layer of a `Router` wraps each of its routes in one more boxed service, and axum clones a
/// route's whole stack of boxed services for every request: with the edge's five layers and the
/// door's three as router layers, cloning and dropping those stacks was about a sixth of the
/// server's instructions for one build by id (callgrind). So the edge is one service of static
/// types around the router (cloned without allocating), mounted as the fallback of an empty
/// router; only what needs the matched route (`record`) stays a layer of the router.
pub fn edge(router: Router, clients: &Clients) -> Router {
    // The recorder first: `record` keeps the handles it makes.
    telemetry::install();
    let trace = TraceLayer::new_for_http()
        .make_span_with(|request: &Request<_>| {
            tracing::info_span!(
                "request",
                method = %request.method(),
                path = request.uri().path(),
                request_id = request_id::of(request.extensions()),
                client = admission::client_address(request).map(tracing::field::display),
            )
        })
        // A failure is logged once, by the door that renders it.
        .on_failure(());
    // Innermost: a route's template is known only once the router matched it.
    let router = router.layer(axum::middleware::from_fn(record));
    // Outermost first. CORS inside the request ids and the trace, so that a preflight answered
    // there has both.
    let edge = ServiceBuilder::new()
        .map_request(request_id::drop_unusable)
        .layer(SetRequestIdLayer::x_request_id(request_id::Generate))
        .layer(trace)
        .layer(PropagateRequestIdLayer::x_request_id())
        .option_layer(cors::layer(clients))
        .service(router);
    Router::new().fallback_service(edge)
}

/// Counts a request and its latency by route template (never the raw path: its values are
/// bounded), method and status.
async fn record(request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().cloned();
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
    telemetry::record_request(
        route.as_ref().map_or("unmatched", MatchedPath::as_str),
        method,
        response.status().as_u16(),
        statements,
        start.elapsed(),
    );
    response
}

/// The state of a door's [`guard`].
#[derive(Clone, Copy)]
struct Guard {
    render: Render,
    request_timeout: Duration,
}

/// A door's layer: renders the failure a response carries (see [`failure`]), turns a panic into
/// an internal error, and abandons a request still running after the timeout: its future is
/// dropped, and with it any sea-orm transaction it holds, which rolls back; the client gets 503
/// `REQUEST_TIMEOUT`. One layer rather than three (see [`edge`]).
async fn guard(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    let request_id = RequestId::of(request.extensions());
    let accept = request.headers().get(header::ACCEPT).cloned();
    let limit = guard.request_timeout;
    let run = std::panic::AssertUnwindSafe(tokio::time::timeout(limit, next.run(request)));
    let response = match run.catch_unwind().await {
        Ok(Ok(response)) => response,
        Ok(Err(_)) => Failure::Timeout(limit).into_response(),
        Err(payload) => panic(payload),
    };
    failure::render_failure(
        guard.render,
        &Rendering {
            request_id: &request_id.0,
            accept: accept.as_ref(),
        },
        response,
    )
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
