//! Request bodies, for every door: only `application/json` in UTF-8 (415 otherwise — which is also
//! what keeps a cross-site form or a `fetch` without preflight from changing anything), at most
//! `--body-limit` bytes (413). What the JSON must hold is the door's business.

use axum::{
    body::{Body, Bytes},
    extract::FromRequestParts,
    http::{HeaderMap, StatusCode, header, request::Parts},
};

use super::failure::{Failure, codes};

/// Refuses a request whose body is not declared as UTF-8 JSON (415), as an extractor: put it
/// before the extractors that must not run for such a request (authentication).
#[derive(Clone, Copy, Debug)]
pub struct JsonContent;

impl<S: Send + Sync> FromRequestParts<S> for JsonContent {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        require_json(&parts.headers)?;
        Ok(JsonContent)
    }
}

/// Refuses (415) a body not declared as `application/json`, with no charset or UTF-8.
pub fn require_json(headers: &HeaderMap) -> Result<(), Failure> {
    if is_json(headers) {
        return Ok(());
    }
    Err(Failure::http(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        codes::BAD_REQUEST,
        "send the body as `Content-Type: application/json`",
    ))
}

/// Reads a body of at most `limit` bytes (413 beyond).
pub async fn read(body: Body, limit: usize) -> Result<Bytes, Failure> {
    axum::body::to_bytes(body, limit).await.map_err(|_| {
        Failure::http(
            StatusCode::PAYLOAD_TOO_LARGE,
            codes::REQUEST_TOO_LARGE,
            format!("the request body exceeds {limit} bytes"),
        )
    })
}

/// [`require_json`], then [`read`].
pub async fn read_json(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, Failure> {
    require_json(headers)?;
    read(body, limit).await
}

/// Whether the body is declared as UTF-8 JSON.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(mime) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime::Mime>().ok())
    else {
        return false;
    };
    let utf8 = mime
        .get_param(mime::CHARSET)
        .is_none_or(|charset| charset.as_str().eq_ignore_ascii_case("utf-8"));
    mime.type_() == mime::APPLICATION
        && mime.subtype() == mime::JSON
        && mime.suffix().is_none()
        && utf8
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue, header};

    use super::is_json;

    #[test]
    fn only_utf8_json_is_json() {
        let json = |value: &str| {
            let mut headers = HeaderMap::new();
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.insert(header::CONTENT_TYPE, value);
            }
            is_json(&headers)
        };
        assert!(json("application/json"));
        assert!(json("application/json; charset=utf-8"));
        assert!(json("application/json; charset=UTF-8"));
        assert!(!json("application/json; charset=latin1"));
        assert!(!json("application/graphql-response+json"));
        assert!(!json("text/plain"));
        assert!(!json("multipart/form-data; boundary=x"));
        assert!(!is_json(&HeaderMap::new()));
    }
}
