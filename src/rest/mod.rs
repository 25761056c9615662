//! The REST adapter (SPEC §6): the netbox-packer compatible surface under
//! `/api/plugins/packer/`, a second door onto the same core as GraphQL.
//!
//! Each handler authenticates, parses its input into core types ([`params`] for query strings,
//! [`body`] for JSON bodies), calls one `registry` function, and renders the result with the
//! relations of the whole page loaded in batches ([`refs`]). It holds no rule: roles, tenant
//! visibility, gates and the lifecycle are the core's, so they hold here exactly as over GraphQL.
//! Every failure goes through the one mapping of [`error`].

pub mod body;
pub mod builds;
pub mod definitions;
pub mod error;
mod lookups;
pub mod params;
pub mod reference;
pub mod refs;
pub mod settings;

use std::time::Duration;

use axum::{
    Json, Router,
    extract::{Request, State},
    http::{HeaderMap, StatusCode, header, uri::Authority},
    middleware::{Next, from_fn_with_state},
    response::{IntoResponse, Response},
    routing::{MethodRouter, any, get, post},
};
use serde_json::json;
use tower_http::catch_panic::CatchPanicLayer;

use crate::{
    app::App,
    auth::{self, Action, Principal},
    error::Error,
    registry,
};
use error::{Failure, codes};

/// Where the REST surface is mounted.
pub const PREFIX: &str = "/api/plugins/packer";

/// What a handler returns.
pub type Reply = Result<Response, Failure>;

/// The REST routes, with full paths (each also answers without its trailing slash), a JSON 404
/// for any other path under [`PREFIX`], the request timeout and a REST-shaped 500 on panic.
pub fn routes(app: &App) -> Router<App> {
    let mut router = Router::new();
    let mut endpoints: Vec<(String, MethodRouter<App>)> = vec![
        ("/".into(), get(root)),
        (
            "/image-definitions/".into(),
            get(definitions::list).post(definitions::create),
        ),
        (
            "/image-definitions/{id}/".into(),
            get(definitions::detail)
                .put(definitions::replace)
                .patch(definitions::update)
                .delete(definitions::delete),
        ),
        (
            "/image-builds/".into(),
            get(builds::list).post(builds::queue),
        ),
        (
            "/image-builds/{id}/".into(),
            get(builds::detail).patch(builds::transition),
        ),
        ("/image-builds/{id}/rebuild/".into(), post(builds::rebuild)),
        (
            "/settings/".into(),
            get(settings::detail)
                .put(settings::replace)
                .patch(settings::update),
        ),
    ];
    for kind in reference::KINDS {
        endpoints.push((format!("/{kind}/{{id}}/"), reference::route(kind)));
    }
    for (path, methods) in endpoints {
        let methods = methods.fallback(method_not_allowed);
        router = router.route(&format!("{PREFIX}{path}"), methods.clone());
        if path != "/" {
            router = router.route(&format!("{PREFIX}{}", path.trim_end_matches('/')), methods);
        }
    }
    router
        .route(PREFIX, get(root).fallback(method_not_allowed))
        .route(&format!("{PREFIX}/{{*rest}}"), any(no_route))
        .layer(from_fn_with_state(app.clone(), timeout))
        .layer(CatchPanicLayer::custom(error::panic_response))
}

/// `GET /api/plugins/packer/`: the lists of this surface, as a browsable root.
async fn root(headers: HeaderMap) -> Response {
    let base = Base::of(&headers);
    Json(json!({
        refs::kind::DEFINITIONS: base.list(refs::kind::DEFINITIONS),
        refs::kind::BUILDS: base.list(refs::kind::BUILDS),
        "settings": base.list("settings"),
    }))
    .into_response()
}

async fn no_route() -> Failure {
    Failure::Core(Error::NotFound)
}

async fn method_not_allowed(request: Request) -> Failure {
    Failure::http(
        StatusCode::METHOD_NOT_ALLOWED,
        codes::BAD_REQUEST,
        format!("method {} is not allowed here", request.method()),
    )
}

/// Abandons a request still running after `--request-timeout` (its transaction, dropped, rolls
/// back), as GraphQL does: 503 `REQUEST_TIMEOUT` with a request id.
async fn timeout(State(app): State<App>, request: Request, next: Next) -> Response {
    let limit = Duration::from_secs(app.config.limits.request_timeout);
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            let request_id = crate::http::graphql::request_id();
            tracing::warn!(
                request_id,
                seconds = limit.as_secs(),
                "REST request timed out and was abandoned"
            );
            let body = json!({
                "detail": format!(
                    "the request did not finish within {} s and was abandoned; \
                     nothing it was still writing was committed",
                    limit.as_secs()
                ),
                "code": codes::REQUEST_TIMEOUT,
                "request_id": request_id,
            });
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        }
    }
}

/// The principal of a request (`Authorization: Token <t>` or `Bearer <t>`, as over GraphQL).
pub async fn principal(app: &App, headers: &HeaderMap) -> Result<Principal, Error> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    auth::authenticate(
        &app.db,
        &app.clock,
        authorization,
        app.config.anonymous_read,
    )
    .await
}

/// The principal, once it may read definitions and builds (anonymous readers may, when allowed).
pub async fn reader(app: &App, headers: &HeaderMap) -> Result<Principal, Error> {
    let principal = principal(app, headers).await?;
    principal.authorize(Action::Read)?;
    Ok(principal)
}

/// What a write hands to the registry.
pub fn ctx<'a>(app: &'a App, principal: &'a Principal) -> registry::Ctx<'a> {
    registry::Ctx {
        db: &app.db,
        events: &app.events,
        clock: &app.clock,
        principal,
    }
}

/// A path parameter that must be an id; anything else names nothing (404).
pub fn id(text: &str) -> Result<i64, Error> {
    text.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or(Error::NotFound)
}

/// The origin URLs are made absolute with: `http(s)://<Host>`, or nothing (relative URLs) when
/// the request has no valid `Host`. `X-Forwarded-Proto: https` from a proxy gives `https`.
#[derive(Clone, Debug)]
pub struct Base(String);

impl Base {
    /// The origin of the request.
    pub fn of(headers: &HeaderMap) -> Self {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.parse::<Authority>().ok());
        let Some(host) = host else {
            return Base(String::new());
        };
        let https = headers
            .get("x-forwarded-proto")
            .and_then(|p| p.to_str().ok())
            .and_then(|p| p.split(',').next())
            .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"));
        Base(format!("{}://{host}", if https { "https" } else { "http" }))
    }

    /// The URL of the list `kind` (`image-builds`).
    pub fn list(&self, kind: &str) -> String {
        format!("{}{PREFIX}/{kind}/", self.0)
    }

    /// The URL of object `id` of `kind`.
    pub fn object(&self, kind: &str, id: i64) -> String {
        format!("{}{PREFIX}/{kind}/{id}/", self.0)
    }
}

/// A JSON response with `status`.
pub fn reply(status: StatusCode, body: impl serde::Serialize) -> Reply {
    Ok((status, Json(body)).into_response())
}
