//! Request ids, from tower-http's request-id feature: [`edge`](super::edge) gives every request an
//! `x-request-id` (a client's or proxy's own is kept when it is a plain token of at most 64
//! characters; anything else is replaced) and copies it onto the response. The id is what error
//! bodies (`requestId`, `request_id`) and log lines carry; read it with the [`RequestId`]
//! extractor.

use std::convert::Infallible;

use axum::{
    extract::{FromRequestParts, Request},
    http::{Extensions, HeaderValue, request::Parts},
};
use tower_http::request_id::{MakeRequestId, RequestId as HeaderId};

/// The header the id travels in.
pub const HEADER: &str = "x-request-id";

/// The longest id accepted from a client.
const MAX_LEN: usize = 64;

/// The id of the request being served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(pub String);

impl RequestId {
    /// The id the edge gave `parts` (a fresh one outside the edge, as in a unit test).
    pub fn of(parts: &Extensions) -> RequestId {
        match of(parts) {
            "" => RequestId(new()),
            id => RequestId(id.to_owned()),
        }
    }
}

/// The id the edge gave a request, borrowed (empty outside the edge).
pub fn of(extensions: &Extensions) -> &str {
    extensions
        .get::<HeaderId>()
        .and_then(|id| id.header_value().to_str().ok())
        .unwrap_or_default()
}

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(RequestId::of(&parts.extensions))
    }
}

/// A fresh id: 64 random bits in hex. Also for what has no HTTP request of its own (each
/// operation of a websocket).
pub fn new() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// Makes the ids of [`tower_http::request_id::SetRequestIdLayer`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Generate;

impl MakeRequestId for Generate {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<HeaderId> {
        HeaderValue::from_str(&new()).ok().map(HeaderId::new)
    }
}

/// Drops a client's `x-request-id` that is not a plain token (letters, digits, `-`, `_`, `.`) of
/// at most 64 characters, so that what reaches logs and bodies is short and harmless.
pub fn drop_unusable(mut request: Request) -> Request {
    let usable = request
        .headers()
        .get(HEADER)
        .is_none_or(|id| usable(id.as_bytes()));
    if !usable {
        request.headers_mut().remove(HEADER);
    }
    request
}

fn usable(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= MAX_LEN
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::{new, usable};

    #[test]
    fn ids_are_plain_tokens() {
        assert!(usable(new().as_bytes()));
        assert!(usable(b"0f6c2b3a-7d1e-4c55-9a0e-3b2f1d4c5e6f"));
        assert!(!usable(b""));
        assert!(!usable(b"with space"));
        assert!(!usable(b"quote\""));
        assert!(!usable(&[b'a'; 65]));
    }
}
