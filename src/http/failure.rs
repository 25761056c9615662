//! Why a request failed, for every door: one [`Failure`] type (a core [`Error`], a refusal of the
//! transport, or the request timeout), one mapping of the core error to an HTTP status
//! ([`status`]), the codes of the transport's own refusals ([`codes`]), and the rendering that
//! turns a failure into a response ([`render_failure`], run by the door's layer, `http::door`).
//!
//! A handler or an extractor returns a `Failure`; its `IntoResponse` is a placeholder that carries
//! the failure to the layer. The layer logs it once (internal errors at ERROR with their detail,
//! timeouts at WARN, with the request id), sets the status, `WWW-Authenticate` on 401 and keeps
//! the headers the handler set (`Allow`), and asks the door's [`Render`] function for the body
//! shape only: GraphQL's `{"errors": […]}` or REST's `{"detail", "code"}`. So `http` knows no
//! door's shape, and no door decides a status, logs an internal error or writes a header.

use std::time::Duration;

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

use crate::{
    admission::{Busy, Verdict},
    error::Error,
};

/// Codes of the refusals of the transport itself, the same for every door. The codes of core
/// outcomes are [`Error::code`]; those only GraphQL raises are in `graphql::error::codes`.
pub mod codes {
    /// A wrong method, media type or request parameter.
    pub const BAD_REQUEST: &str = "BAD_REQUEST";
    /// A body larger than `--body-limit` (413).
    pub const REQUEST_TOO_LARGE: &str = "REQUEST_TOO_LARGE";
    /// A request still running after `--request-timeout` (503); carries the request id.
    pub const REQUEST_TIMEOUT: &str = "REQUEST_TIMEOUT";
    /// An unexpected failure (500); carries the request id.
    pub const INTERNAL: &str = "INTERNAL_SERVER_ERROR";
    /// Too many requests executing and waiting already (503, with `Retry-After`).
    pub const SERVER_BUSY: &str = "SERVER_BUSY";
    /// The principal's rate limit is spent (429, with `Retry-After` and the `RateLimit` fields).
    pub const RATE_LIMITED: &str = "RATE_LIMITED";
}

/// Why a request failed.
#[derive(Clone, Debug)]
pub enum Failure {
    /// An outcome of the core (authentication included), or of parsing the request into core
    /// types.
    Core(Error),
    /// A refusal of the transport: wrong media type or method, body too large, malformed
    /// parameters, no such route.
    Http {
        /// The status.
        status: StatusCode,
        /// The code, the same in every door.
        code: &'static str,
        /// What to tell the client.
        message: String,
    },
    /// The request was still running after the request timeout and was abandoned.
    Timeout(Duration),
    /// Refused unexecuted: too many requests executing and waiting (load shedding).
    Busy(Busy),
    /// Refused unexecuted: the principal's rate limit is spent.
    RateLimited(Verdict),
}

impl From<Error> for Failure {
    fn from(err: Error) -> Self {
        Failure::Core(err)
    }
}

impl Failure {
    /// A refusal of the transport.
    pub fn http(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Failure::Http {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400 `BAD_REQUEST`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Failure::http(StatusCode::BAD_REQUEST, codes::BAD_REQUEST, message)
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Failure::Core(err) => status(err),
            Failure::Http { status, .. } => *status,
            Failure::Timeout(_) | Failure::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            Failure::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    /// The code (`extensions.code` over GraphQL, `code` over REST).
    pub fn code(&self) -> &'static str {
        match self {
            Failure::Core(err) => err.code(),
            Failure::Http { code, .. } => code,
            Failure::Timeout(_) => codes::REQUEST_TIMEOUT,
            Failure::Busy(_) => codes::SERVER_BUSY,
            Failure::RateLimited(_) => codes::RATE_LIMITED,
        }
    }

    /// What to tell the client (never the detail of an internal error).
    pub fn message(&self) -> String {
        match self {
            Failure::Core(err) => err.message(),
            Failure::Http { message, .. } => message.clone(),
            Failure::Timeout(limit) => format!(
                "the request did not finish within {} s and was abandoned; nothing it was still \
                 writing was committed",
                limit.as_secs()
            ),
            Failure::Busy(busy) => format!(
                "the server is busy and did not execute the request; retry after {} s",
                busy.retry_after
            ),
            Failure::RateLimited(verdict) => format!(
                "rate limit exceeded ({} requests, refilled over {} s); retry after {} s",
                verdict.quota, verdict.window, verdict.retry_after
            ),
        }
    }

    /// Whether the body names the request id: internal errors and timeouts, whose detail is in
    /// the log under that id.
    pub fn shows_request_id(&self) -> bool {
        matches!(
            self,
            Failure::Core(Error::Internal(_) | Error::DatabaseUnavailable(_)) | Failure::Timeout(_)
        )
    }
}

/// The HTTP status of a core error: the one place that decides it, for every door.
pub fn status(err: &Error) -> StatusCode {
    match err {
        Error::Unauthenticated => StatusCode::UNAUTHORIZED,
        Error::Forbidden(_) => StatusCode::FORBIDDEN,
        Error::NotFound => StatusCode::NOT_FOUND,
        Error::BadInput(_) => StatusCode::BAD_REQUEST,
        // The request is well formed, but the state of the service refuses it: a uniqueness or
        // history rule, the lifecycle, a switch of the plugin settings, a disabled definition or
        // endpoint, an idempotency key bound to another input.
        Error::Conflict(_)
        | Error::InvalidTransition { .. }
        | Error::FeatureDisabled { .. }
        | Error::DefinitionDisabled
        | Error::EndpointWritesDisabled
        | Error::IdempotencyKeyReused => StatusCode::CONFLICT,
        Error::ConcurrencyLimit { .. } => StatusCode::TOO_MANY_REQUESTS,
        Error::DatabaseUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The placeholder a failure answers with until [`render_failure`] renders it: its status and
/// the failure itself, no body.
impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let mut response = self.status().into_response();
        response.extensions_mut().insert(Failed(self));
        response
    }
}

/// A failure riding on its placeholder response.
#[derive(Clone)]
struct Failed(Failure);

/// What a door's renderer may know of the request besides the failure.
#[derive(Debug)]
pub struct Rendering<'a> {
    /// The request id (what [`Failure::shows_request_id`] asks to show).
    pub request_id: &'a str,
    /// The request's `Accept` header, for a door that negotiates its media type.
    pub accept: Option<&'a HeaderValue>,
}

/// A door's body shape for a failure: the body and its `Content-Type`. The status and the other
/// headers are the edge's.
pub type Render = fn(&Failure, &Rendering<'_>) -> Response;

/// Renders the failure `response` carries, if any, in the shape of the door's `render` (see the
/// module docs); any other response is returned as it is.
pub fn render_failure(
    render: Render,
    rendering: &Rendering<'_>,
    mut response: Response,
) -> Response {
    let Some(Failed(failure)) = response.extensions_mut().remove::<Failed>() else {
        return response;
    };
    log(&failure, rendering.request_id);
    let rendered = render(&failure, rendering);
    let (mut parts, _) = response.into_parts();
    let (rendered, body) = rendered.into_parts();
    parts.status = failure.status();
    // The placeholder's length was that of its empty body.
    parts.headers.remove(header::CONTENT_LENGTH);
    for (name, value) in &rendered.headers {
        parts.headers.insert(name.clone(), value.clone());
    }
    match &failure {
        Failure::Busy(Busy { retry_after, .. }) => {
            parts
                .headers
                .insert(header::RETRY_AFTER, (*retry_after).into());
        }
        Failure::RateLimited(verdict) => {
            parts
                .headers
                .insert(header::RETRY_AFTER, verdict.retry_after.into());
            rate_limit_fields(&mut parts.headers, verdict);
        }
        _ => {}
    }
    if parts.status == StatusCode::UNAUTHORIZED {
        parts.headers.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"packer-gateway\""),
        );
    }
    Response::from_parts(parts, body)
}

/// The IETF `RateLimit-Policy` and `RateLimit` fields (draft-ietf-httpapi-ratelimit-headers-09)
/// of a bucket's verdict: `"viewer";q=40;w=2` and `"viewer";r=12;t=1`.
pub fn rate_limit_fields(headers: &mut axum::http::HeaderMap, verdict: &Verdict) {
    let policy = format!(
        "\"{}\";q={};w={}",
        verdict.policy, verdict.quota, verdict.window
    );
    let current = format!(
        "\"{}\";r={};t={}",
        verdict.policy, verdict.remaining, verdict.reset
    );
    for (name, value) in [("ratelimit-policy", policy), ("ratelimit", current)] {
        if let Ok(value) = HeaderValue::try_from(value) {
            headers.insert(name, value);
        }
    }
}

/// Logs a failure once, with the request id its response carries: internal errors with their
/// detail, timeouts; everything else is the client's business.
fn log(failure: &Failure, request_id: &str) {
    match failure {
        Failure::Core(Error::Internal(detail)) => {
            tracing::error!(request_id, %detail, "internal error");
        }
        Failure::Core(Error::DatabaseUnavailable(detail)) => {
            tracing::warn!(request_id, %detail, "database unavailable");
        }
        Failure::Timeout(limit) => tracing::warn!(
            request_id,
            seconds = limit.as_secs(),
            "request timed out and was abandoned"
        ),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use entity::enums::BuildStatus;

    use super::status;
    use crate::error::{Error, FieldErrors};

    #[test]
    fn every_core_error_has_its_status() {
        let cases = [
            (Error::Unauthenticated, 401),
            (Error::forbidden("no"), 403),
            (Error::NotFound, 404),
            (Error::bad_input("name", "is required"), 400),
            (Error::Conflict(FieldErrors::one("name", "taken")), 409),
            (
                Error::InvalidTransition {
                    from: Some(BuildStatus::Completed),
                    to: BuildStatus::Running,
                },
                409,
            ),
            (Error::ConcurrencyLimit { limit: 1 }, 429),
            (
                Error::FeatureDisabled {
                    feature: "image_factory",
                },
                409,
            ),
            (Error::DefinitionDisabled, 409),
            (Error::EndpointWritesDisabled, 409),
            (Error::IdempotencyKeyReused, 409),
            (Error::internal("boom"), 500),
        ];
        for (err, expected) in cases {
            assert_eq!(
                status(&err),
                StatusCode::from_u16(expected).ok().unwrap_or_default(),
                "{err:?}"
            );
        }
    }

    #[test]
    fn the_internal_code_is_the_cores() {
        assert_eq!(super::codes::INTERNAL, Error::internal("x").code());
    }
}
