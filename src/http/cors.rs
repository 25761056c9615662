//! Cross-origin access for browser apps (`--cors-origin`), for every door: one CORS layer in the
//! [`edge`](super::edge) (tower-http's `CorsLayer`), and the websocket's `Origin` check
//! ([`check_websocket_origin`]) against the same list.
//!
//! Off by default: no response carries an `Access-Control-*` header, so a page on another origin
//! cannot read the API, and the websocket accepts any origin (non-browser clients send none).
//! With an allow-list:
//! - a preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) on any path of
//!   either door is answered by the edge itself, before credentials, limits or routing: 200 with
//!   `Access-Control-Allow-Origin` (the origin, when listed), `-Allow-Methods`, `-Allow-Headers`
//!   (what Apollo Client, urql, Relay and graphql-request send), `-Max-Age` and `Vary`; a
//!   preflight from an origin not on the list gets no `Access-Control-Allow-Origin`, which a
//!   browser takes as a refusal;
//! - every other response carries `Access-Control-Allow-Origin` for a listed origin only (errors
//!   included, so that a page can read a 401 or a 429), `Access-Control-Expose-Headers` (the
//!   request id, `WWW-Authenticate`, `Retry-After`, the rate-limit fields) and `Vary: origin, …`;
//! - a websocket upgrade whose `Origin` is neither listed nor the service's own (the dashboard's
//!   and GraphiQL's pages) is refused with 403 before the upgrade: a browser sends `Origin` on
//!   every websocket, and this is how a service keeps pages of other sites off its sockets.
//!
//! Credentials are bearer tokens, never cookies, so `Access-Control-Allow-Credentials` is not
//! sent, and `*` (every origin) is safe to offer.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::{Failure, request_id};
use crate::{config::Clients, error::Error};

/// How long a browser may cache a preflight: two hours, the most Chromium honours.
pub const MAX_AGE: Duration = Duration::from_secs(2 * 60 * 60);

/// The request headers browser clients send: the credentials and the JSON body, and those Apollo
/// Client (`apollographql-client-name`/`-version`, `apollo-require-preflight`,
/// `x-apollo-operation-name`) and others (`x-request-id`) add.
pub const ALLOWED_HEADERS: [&str; 8] = [
    "accept",
    "authorization",
    "content-type",
    "apollographql-client-name",
    "apollographql-client-version",
    "apollo-require-preflight",
    "x-apollo-operation-name",
    request_id::HEADER,
];

/// The response headers a page may read besides the simple ones.
pub const EXPOSED_HEADERS: [&str; 5] = [
    request_id::HEADER,
    "www-authenticate",
    "retry-after",
    "ratelimit",
    "ratelimit-policy",
];

/// The methods of both doors.
pub const METHODS: [Method; 6] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];

/// The CORS layer of the edge, when an allow-list is configured.
pub fn layer(clients: &Clients) -> Option<CorsLayer> {
    let origins = &clients.cors_origins;
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|origin| origin == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origins
                .iter()
                .filter_map(|origin| HeaderValue::from_str(origin).ok()),
        )
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods(METHODS)
            .allow_headers(ALLOWED_HEADERS.map(HeaderName::from_static))
            .expose_headers(EXPOSED_HEADERS.map(HeaderName::from_static))
            .max_age(MAX_AGE),
    )
}

/// Refuses (403 `FORBIDDEN`) a websocket upgrade from a page of an origin that is neither on
/// the allow-list nor the service's own; every upgrade passes when there is no list, and so does
/// one without `Origin` (not a browser).
pub fn check_websocket_origin(clients: &Clients, headers: &HeaderMap) -> Result<(), Failure> {
    let origins = &clients.cors_origins;
    if origins.is_empty() || origins.iter().any(|origin| origin == "*") {
        return Ok(());
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let allowed = origin.to_str().is_ok_and(|origin| {
        origins.iter().any(|listed| listed == origin) || same_origin(origin, headers)
    });
    if allowed {
        return Ok(());
    }
    Err(Failure::Core(Error::forbidden(
        "this origin may not open the websocket: it is not in --cors-origin",
    )))
}

/// Whether `origin` names the host the request was sent to (`Host`, or the `X-Forwarded-Host` of
/// a reverse proxy): the service's own pages. A browser sets both itself on a websocket, so a page
/// of another site cannot pass for it.
fn same_origin(origin: &str, headers: &HeaderMap) -> bool {
    let Some((_, authority)) = origin.split_once("://") else {
        return false;
    };
    let host = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(',').next())
            .map(|value| value.trim().to_ascii_lowercase())
    };
    let forms = |host: String| {
        // `Origin` omits a scheme's default port; `Host` may name it.
        [
            host.clone(),
            host.strip_suffix(":80").unwrap_or(&host).to_owned(),
            host.strip_suffix(":443").unwrap_or(&host).to_owned(),
        ]
    };
    [host("x-forwarded-host"), host(header::HOST.as_str())]
        .into_iter()
        .flatten()
        .any(|host| forms(host).iter().any(|form| form == authority))
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue};

    use super::check_websocket_origin;
    use crate::config::Clients;

    fn clients(origins: &[&str]) -> Clients {
        Clients {
            cors_origins: origins.iter().map(|o| (*o).to_owned()).collect(),
            apq_max_entries: 0,
            apq_max_bytes: 0,
        }
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn the_websocket_admits_listed_and_own_origins_only() {
        let listed = clients(&["https://app.example.net"]);
        let ok =
            |clients: &Clients, pairs| check_websocket_origin(clients, &headers(pairs)).is_ok();
        assert!(ok(&listed, &[("origin", "https://app.example.net")]));
        assert!(ok(&listed, &[]), "no Origin: not a browser");
        assert!(!ok(&listed, &[("origin", "https://evil.example")]));
        assert!(!ok(&listed, &[("origin", "null")]));
        assert!(!ok(
            &listed,
            &[("origin", "https://app.example.net.evil.example")]
        ));
        // The service's own pages.
        assert!(ok(
            &listed,
            &[
                ("origin", "http://127.0.0.1:8000"),
                ("host", "127.0.0.1:8000")
            ]
        ));
        assert!(ok(
            &listed,
            &[("origin", "https://gw.example"), ("host", "gw.example:443")]
        ));
        assert!(ok(
            &listed,
            &[
                ("origin", "https://gw.example"),
                ("host", "10.0.0.5:8000"),
                ("x-forwarded-host", "gw.example")
            ]
        ));
        assert!(!ok(
            &listed,
            &[
                ("origin", "http://127.0.0.1:9999"),
                ("host", "127.0.0.1:8000")
            ]
        ));
        // No list, or every origin: anything goes.
        assert!(ok(&clients(&[]), &[("origin", "https://evil.example")]));
        assert!(ok(&clients(&["*"]), &[("origin", "https://evil.example")]));
    }
}
