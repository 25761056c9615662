//! Admission at the edge, for the requests of both doors (`crate::admission` decides): the
//! principal's rate limit first (429 `RATE_LIMITED`, `Retry-After` and the IETF `RateLimit`
//! fields, which admitted responses carry too), then a place among the executing requests (503
//! `SERVER_BUSY` with `Retry-After` when none frees up in time). A refused request costs no SQL
//! statement (its token is authenticated from memory) and is answered at once.
//!
//! The service's own pages (health, metrics, GraphiQL, the dashboard's files) are not admitted
//! here: they must answer while the API is saturated.

use std::{convert::Infallible, net::IpAddr, sync::Arc};

use axum::{
    Router,
    extract::{FromRequestParts, Request, State},
    http::{Extensions, request::Parts},
    middleware::{Next, from_fn_with_state},
    response::{IntoResponse, Response},
};
use metrics::Counter;

use super::{Credentials, Failure, auth::Resolved, failure::rate_limit_fields};
use crate::{
    admission::{Shed, role_label},
    app::App,
    telemetry::names,
};

/// Wraps the routes of a door's API with admission control; `door` names it in metrics
/// (`graphql`, `rest`).
pub fn admitted(routes: Router, app: &App, door: &'static str) -> Router {
    let gate = Arc::new(Gate {
        app: app.clone(),
        door,
        shed: Shed::ALL.map(|reason| {
            metrics::counter!(names::REQUESTS_SHED, "door" => door, "reason" => reason.label())
        }),
    });
    routes.layer(from_fn_with_state(gate, admit))
}

/// The layer's state, behind one reference count: the layer clones its state for every request,
/// and cloning and dropping the [`App`] (a reference count per part, the shutdown token's under a
/// lock) took about 8% of the server's CPU under issue 14's overload (perf), nearly all of it
/// for requests that were then refused. The counters of its refusals are made once, by reason
/// (`Shed as usize`): the recorder's lookup builds and hashes a key on every call.
struct Gate {
    app: App,
    door: &'static str,
    shed: [Counter; Shed::ALL.len()],
}

/// The client's address, when the request came over a socket (`http::serve` records it: the
/// peer's, or the one a trusted proxy forwarded, see `http::forwarded`).
pub fn client_address(request: &Request) -> Option<IpAddr> {
    address_of(request.extensions())
}

fn address_of(extensions: &Extensions) -> Option<IpAddr> {
    extensions
        .get::<ClientAddress>()
        .and_then(|client| client.0)
}

/// The client's address as an extractor (`None` for in-process requests); `http::serve` puts it
/// in every request's extensions.
#[derive(Clone, Copy, Debug)]
pub struct ClientAddress(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddress(address_of(&parts.extensions)))
    }
}

async fn admit(State(gate): State<Arc<Gate>>, mut request: Request, next: Next) -> Response {
    let (app, door) = (&gate.app, gate.door);
    let address = client_address(&request);
    // Authentication is from memory (a token this instance has not seen yet costs its one
    // lookup, here rather than in the door); the principal is left in the request for the door
    // (`Resolved`), and a request whose credentials fail is refused by its door. Without rate
    // limits nothing is authenticated here.
    let verdict = if app.admission.rate_limited() {
        match Credentials::of(request.headers()).authenticate(app).await {
            Ok(principal) => {
                let verdict = app.admission.rate(&principal, address);
                if verdict.is_some_and(|v| !v.allowed) {
                    metrics::counter!(names::RATE_LIMITED, "door" => door, "role" => role_label(&principal))
                        .increment(1);
                }
                request.extensions_mut().insert(Resolved(principal));
                verdict
            }
            Err(_) => None,
        }
    } else {
        None
    };
    if let Some(verdict) = verdict.filter(|v| !v.allowed) {
        return Failure::RateLimited(verdict).into_response();
    }
    let mut response = match app.admission.admit().await {
        Ok(_place) => next.run(request).await,
        Err(busy) => {
            gate.shed[busy.reason as usize].increment(1);
            return Failure::Busy(busy).into_response();
        }
    };
    if let Some(verdict) = verdict {
        rate_limit_fields(response.headers_mut(), &verdict);
    }
    response
}
