//! The REST adapter (SPEC §6): the netbox-packer compatible surface under
//! `/api/plugins/packer/`, a second door onto the same core as GraphQL.
//!
//! Each handler authenticates, parses its input into core types ([`params`] for query strings,
//! [`body`] for JSON bodies), calls one `registry` function, and renders the result with the
//! relations of the whole page loaded in batches ([`refs`]). It holds no rule: roles, tenant
//! visibility, gates and the lifecycle are the core's, so they hold here exactly as over GraphQL.
//! Every failure is a [`Failure`] of the edge (`http`), which decides its status and logs it;
//! [`error::render`] gives it the REST body shape. The edge also brings the request id, the
//! timeout, panics, credentials and the body checks: `rest` holds none of them.

pub mod body;
pub mod builds;
pub mod definitions;
pub mod error;
pub mod logs;
mod lookups;
pub mod netbox;
pub mod params;
pub mod reference;
pub mod refs;
pub mod settings;

use axum::{
    Json, Router,
    extract::Request,
    http::{HeaderMap, StatusCode, header, uri::Authority},
    response::{IntoResponse, Response},
    routing::{MethodRouter, any, get, post},
};
use serde_json::json;

use crate::{
    app::App,
    auth::Principal,
    error::Error,
    http::{Failure, codes},
    registry,
};

/// Where the REST surface is mounted.
pub const PREFIX: &str = "/api/plugins/packer";

/// What a handler returns.
pub type Reply = Result<Response, Failure>;

/// The REST routes, with full paths (each also answers without its trailing slash) and a JSON 404
/// for any other path under [`PREFIX`]; mount them as a door of the edge with [`error::render`].
pub fn routes(app: App) -> Router {
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
        ("/image-builds/{id}/log/".into(), get(logs::list)),
        ("/netbox-webhook/".into(), post(netbox::webhook)),
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
        .with_state(app)
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

/// What a write hands to the registry.
pub fn ctx<'a>(app: &'a App, principal: &'a Principal) -> registry::Ctx<'a> {
    registry::Ctx {
        db: &app.db,
        events: &app.events,
        clock: &app.clock,
        auth: &app.auth,
        principal,
    }
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
