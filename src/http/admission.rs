//! Admission at the edge, for the requests of both doors (`crate::admission` decides): the
//! principal's rate limit first (429 `RATE_LIMITED`, `Retry-After` and the IETF `RateLimit`
//! fields, which admitted responses carry too), then a place among the executing requests (503
//! `SERVER_BUSY` with `Retry-After` when none frees up in time). A refused request costs no SQL
//! statement (its token is authenticated from memory) and is answered at once.
//!
//! The service's own pages (health, metrics, GraphiQL, the dashboard's files) are not admitted
//! here: they must answer while the API is saturated.

use std::{
    convert::Infallible,
    net::{IpAddr, SocketAddr},
};

use axum::{
    Router,
    extract::{ConnectInfo, FromRequestParts, Request, State},
    http::{Extensions, request::Parts},
    middleware::{Next, from_fn_with_state},
    response::{IntoResponse, Response},
};

use super::{Credentials, Failure, failure::rate_limit_fields};
use crate::app::App;

/// Wraps the routes of a door's API with admission control.
pub fn admitted(routes: Router, app: &App) -> Router {
    routes.layer(from_fn_with_state(app.clone(), admit))
}

/// The client's address, when the request came over a socket (`http::serve` records it).
pub fn client_address(request: &Request) -> Option<IpAddr> {
    address_of(request.extensions())
}

fn address_of(extensions: &Extensions) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip())
}

/// The client's address as an extractor (`None` for in-process requests).
#[derive(Clone, Copy, Debug)]
pub struct ClientAddress(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddress(address_of(&parts.extensions)))
    }
}

async fn admit(State(app): State<App>, request: Request, next: Next) -> Response {
    let address = client_address(&request);
    // Authentication is from memory (a token this instance has not seen yet costs its one
    // lookup, here rather than in the door); a request whose credentials fail is refused by its
    // door. Without rate limits nothing is authenticated here.
    let verdict = if app.admission.rate_limited() {
        match Credentials::of(request.headers()).authenticate(&app).await {
            Ok(principal) => app.admission.rate(&principal, address),
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
        Err(busy) => return Failure::Busy(busy).into_response(),
    };
    if let Some(verdict) = verdict {
        rate_limit_fields(response.headers_mut(), &verdict);
    }
    response
}
