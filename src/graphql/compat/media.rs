//! The response media types of GraphQL over HTTP, negotiated from `Accept`:
//! `application/graphql-response+json` when the client names it at the best quality,
//! `application/json` otherwise (also when `Accept` is absent or `*/*`); 406 when neither is
//! acceptable. async-graphql 7.0.19 has no negotiation of its own (its `http` module reads
//! requests only), so this is ours.

use axum::{
    extract::FromRequestParts,
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
};

use crate::http::{Failure, codes};

/// The two response media types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaType {
    /// `application/graphql-response+json`.
    GraphqlResponse,
    /// `application/json`.
    Json,
}

impl MediaType {
    /// The `Content-Type` of a response in this media type.
    pub fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            MediaType::GraphqlResponse => "application/graphql-response+json; charset=utf-8",
            MediaType::Json => "application/json; charset=utf-8",
        })
    }
}

/// The negotiated media type, as an extractor: 406 when neither is acceptable.
#[derive(Clone, Copy, Debug)]
pub struct Negotiated(pub MediaType);

impl<S: Send + Sync> FromRequestParts<S> for Negotiated {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        negotiate(&parts.headers)
            .map(Negotiated)
            .ok_or_else(not_acceptable)
    }
}

/// The 406 refusal.
pub fn not_acceptable() -> Failure {
    Failure::http(
        StatusCode::NOT_ACCEPTABLE,
        codes::BAD_REQUEST,
        "accept application/graphql-response+json or application/json",
    )
}

/// The response media type the headers ask for; `None` when neither is acceptable.
pub fn negotiate(headers: &HeaderMap) -> Option<MediaType> {
    negotiate_accept(headers.get(header::ACCEPT))
}

/// The response media type an `Accept` value asks for (`None`: neither is acceptable).
pub fn negotiate_accept(accept: Option<&HeaderValue>) -> Option<MediaType> {
    let Some(accept) = accept.and_then(|v| v.to_str().ok()) else {
        return Some(MediaType::Json);
    };
    let mut best: Option<(f32, MediaType)> = None;
    for range in accept.split(',') {
        let Ok(mime) = range.trim().parse::<mime::Mime>() else {
            continue;
        };
        let q = mime
            .get_param("q")
            .and_then(|q| q.as_str().parse::<f32>().ok())
            .unwrap_or(1.0);
        if q <= 0.0 {
            continue;
        }
        let media = match mime.essence_str() {
            "application/graphql-response+json" => MediaType::GraphqlResponse,
            "application/json" | "application/*" | "*/*" => MediaType::Json,
            _ => continue,
        };
        let better = best.is_none_or(|(best_q, _)| {
            q > best_q || (q == best_q && media == MediaType::GraphqlResponse)
        });
        if better {
            best = Some((q, media));
        }
    }
    best.map(|(_, media)| media)
}

/// Whether a browser is asking (HTML preferred).
pub fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.split(',').any(|r| r.trim().starts_with("text/html")))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::{MediaType, negotiate_accept};

    fn accept(value: &str) -> Option<MediaType> {
        let value = HeaderValue::from_str(value).unwrap_or(HeaderValue::from_static(""));
        negotiate_accept(Some(&value))
    }

    #[test]
    fn accept_is_negotiated() {
        assert_eq!(negotiate_accept(None), Some(MediaType::Json));
        assert_eq!(accept("*/*"), Some(MediaType::Json));
        assert_eq!(accept("application/json"), Some(MediaType::Json));
        assert_eq!(
            accept("application/graphql-response+json"),
            Some(MediaType::GraphqlResponse)
        );
        assert_eq!(
            accept("application/graphql-response+json, application/json;q=0.9"),
            Some(MediaType::GraphqlResponse)
        );
        assert_eq!(
            accept("application/json, application/graphql-response+json"),
            Some(MediaType::GraphqlResponse)
        );
        assert_eq!(accept("text/plain"), None);
    }
}
